"""HDE with framing="qemu": bit-exact on any input and any splits, deltas against the same guest page,
and a decoder that still refuses what does not belong in a stream."""

from __future__ import annotations

import random
import zlib

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from novacron.dwcp.hde import HdeDecoder, HdeEncoder, HdeProtocolError
from novacron.dwcp.hde import format as fmt
from novacron.transport import HdeSettings
from novacron_sdk.errors import InvalidInput
from tests.unit.dwcp.hde_strategies import (
    QPAGE,
    QemuStream,
    cut,
    decode_all,
    encode_all,
    splits,
    synthetic_migration,
)

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODECS = st.sampled_from([("zstd", 1), ("zstd", 3), ("lz4", 1), ("none", 0)])
RAM = b"pc.ram"


def qemu_encoder(**kw: object) -> HdeEncoder:
    return HdeEncoder(**{"framing": "qemu", "mode": "always", "level": 1, **kw})  # type: ignore[arg-type]


@FAST
@given(
    seed=st.integers(0, 2**32),
    pages=st.integers(1, 40),
    capacity=st.integers(1, 64),
    frame_pages=st.integers(1, 12),
    codec=CODECS,
    flushes=st.lists(st.integers(0, 40), max_size=3),
    enc_cuts=st.data(),
    dec_cuts=st.data(),
)
def test_qemu_streams_round_trip_in_any_splits(
    seed: int,
    pages: int,
    capacity: int,
    frame_pages: int,
    codec: tuple[str, int],
    flushes: list[int],
    enc_cuts: st.DataObject,
    dec_cuts: st.DataObject,
) -> None:
    data, _ = synthetic_migration(seed, pages, passes=2, dirty_share=0.6)
    enc = qemu_encoder(
        algorithm=codec[0], level=codec[1], dict_capacity=capacity, frame_bytes=frame_pages * QPAGE
    )
    frames: list[bytes] = []
    for i, piece in enumerate(cut(data, enc_cuts.draw(splits(len(data), max_pieces=30)))):
        frames += enc.encode(piece)
        if i in flushes:
            frames += enc.flush()
    encoded = b"".join(frames + enc.flush())
    assert decode_all(HdeDecoder(), cut(encoded, dec_cuts.draw(splits(len(encoded))))) == data
    s = enc.stats
    assert s.chunks == s.literal_chunks + s.dedup_hits + s.zero_chunks + s.delta_chunks
    assert s.bytes_in == len(data) and s.bytes_out == len(encoded)


@FAST
@given(
    seed=st.integers(0, 2**16),
    junk=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=300)), max_size=4),
    chop=st.floats(0, 1),
    cuts=st.data(),
)
def test_malformed_streams_still_round_trip(
    seed: int, junk: list[tuple[float, bytes]], chop: float, cuts: st.DataObject
) -> None:
    data, _ = synthetic_migration(seed, 12, passes=1, dirty_share=1.0)
    mangled = bytearray(data)
    for where, blob in junk:  # garbage spliced in, records cut short, headers overwritten
        at = int(where * len(mangled))
        mangled[at : at + len(blob) // 2] = blob
    stream = bytes(mangled[: max(1, int(chop * len(mangled)))])
    enc = qemu_encoder(dict_capacity=8, frame_bytes=2 * QPAGE)
    encoded = encode_all(enc, cut(stream, cuts.draw(splits(len(stream)))))
    assert decode_all(HdeDecoder(), [encoded]) == stream


@FAST
@given(blob=st.binary(max_size=20000), cuts=st.data())
def test_random_bytes_round_trip(blob: bytes, cuts: st.DataObject) -> None:
    enc = qemu_encoder(frame_bytes=QPAGE)
    encoded = encode_all(enc, cut(blob, cuts.draw(splits(len(blob)))))
    assert decode_all(HdeDecoder(), [encoded]) == blob
    assert enc.stats.raw_bytes == len(blob)  # no ram section: nothing is taken for a page


def test_rewritten_page_goes_out_as_a_small_delta_against_the_same_address() -> None:
    rnd = random.Random(5)
    pool = rnd.randbytes(1 << 20)  # incompressible: a literal page would cost the full 4 KiB
    pages = {i * QPAGE: pool[i * QPAGE : (i + 1) * QPAGE] for i in range(200)}
    qs = QemuStream({RAM: 200 * QPAGE}).start()
    qs.section([(RAM, off, body) for off, body in pages.items()])
    enc = qemu_encoder(dict_capacity=1024)
    wire = encode_all(enc, [bytes(qs.out)])
    first_len, first_out = len(qs.out), enc.stats.bytes_out
    # rewrite page 37 as wss.c does in 7 of 8 cases: a 64-byte copy and an 8-byte counter
    new = bytearray(pages[37 * QPAGE])
    new[1000:1064] = rnd.randbytes(64)
    new[2048:2056] = (1).to_bytes(8, "little")
    new = bytes(new)
    qs.section([(RAM, 37 * QPAGE, new)])
    wire += b"".join(enc.encode(bytes(qs.out[first_len:])) + enc.flush())
    assert enc.stats.delta_chunks == 1 and enc.stats.literal_chunks == 200
    cost = enc.stats.bytes_out - first_out
    assert cost < 250, f"a 72-byte rewrite cost {cost} bytes on the wire"  # vs ~4 KiB as a literal
    assert decode_all(HdeDecoder(), [wire]) == bytes(qs.out)


def test_delta_base_is_the_same_address_not_a_lookalike() -> None:
    rnd = random.Random(9)
    a, b = rnd.randbytes(QPAGE), rnd.randbytes(QPAGE)
    b = a[:2048] + b[2048:]  # b shares a's middle bytes: resemblance would pick a for both
    qs = QemuStream({RAM: 8 * QPAGE}).start()
    qs.section([(RAM, 0, a), (RAM, QPAGE, b)])
    b2 = b[:100] + bytes(8) + b[108:]
    qs.section([(RAM, QPAGE, b2)])
    enc = qemu_encoder()
    wire = encode_all(enc, [bytes(qs.out)])
    assert enc.stats.delta_chunks == 1  # b2 against b (same address), never against a
    assert decode_all(HdeDecoder(), [wire]) == bytes(qs.out)


def test_dictionary_capacity_bounds_what_a_delta_can_reach() -> None:
    data, qs = synthetic_migration(3, 64, zero_share=0.0, passes=1, dirty_share=1.0)
    small, big = qemu_encoder(dict_capacity=16), qemu_encoder(dict_capacity=256)
    for enc in (small, big):
        assert decode_all(HdeDecoder(), [encode_all(enc, [data])]) == data
    # with room for every page's previous version the rewrite pass is all deltas (7 in 8)
    assert big.stats.delta_chunks > 40 and small.stats.delta_chunks < big.stats.delta_chunks


def test_grid_streams_keep_version_1_and_qemu_streams_use_version_2() -> None:
    grid = encode_all(HdeEncoder(), [b"x" * 10000])
    qemu = encode_all(qemu_encoder(), [b"x" * 10000])
    assert grid[4] == fmt.VERSION_GRID and qemu[4] == fmt.VERSION_RAW
    assert decode_all(HdeDecoder(), [grid]) == decode_all(HdeDecoder(), [qemu]) == b"x" * 10000


def frame(payload: bytes, out_len: int, version: int, seq: int = 0) -> bytes:
    head = fmt.FRAME.pack(fmt.FRAME_MAGIC, version, fmt.CODEC_RAW, seq, len(payload), len(payload), out_len, 0)
    return head[:20] + zlib.crc32(payload, zlib.crc32(head[:20])).to_bytes(4, "little") + payload


def test_raw_record_is_refused_in_a_version_1_stream() -> None:
    raw = fmt.LEN.pack(fmt.TAG_RAW, 3) + b"abc"
    with pytest.raises(HdeProtocolError, match="unknown record tag 0x05"):
        HdeDecoder().feed(fmt.preamble(4, 8) + frame(raw, 3, fmt.VERSION_GRID))
    assert HdeDecoder().feed(fmt.preamble(4, 8, fmt.VERSION_RAW) + frame(raw, 3, fmt.VERSION_RAW)) == b"abc"


@pytest.mark.parametrize(
    ("payload", "out_len", "match"),
    [
        (fmt.LEN.pack(fmt.TAG_RAW, 4) + b"abc", 4, "runs past the frame"),
        (fmt.LEN.pack(fmt.TAG_RAW, 0), 1, "empty"),
        (fmt.LEN.pack(fmt.TAG_RAW, 3) + b"abc", 2, "expand past"),
        (fmt.LEN.pack(fmt.TAG_RAW, 3)[:3], 3, "truncated"),
    ],
)
def test_bad_raw_records_are_refused(payload: bytes, out_len: int, match: str) -> None:
    with pytest.raises(HdeProtocolError, match=match):
        HdeDecoder().feed(fmt.preamble(4, 8, fmt.VERSION_RAW) + frame(payload, out_len, fmt.VERSION_RAW))


def test_frame_version_must_match_the_preamble() -> None:
    raw = fmt.LEN.pack(fmt.TAG_RAW, 3) + b"abc"
    with pytest.raises(HdeProtocolError, match="version 1 in a version 2 stream"):
        HdeDecoder().feed(fmt.preamble(4, 8, fmt.VERSION_RAW) + frame(raw, 3, fmt.VERSION_GRID))


@FAST
@given(seed=st.integers(0, 2**16), data=st.data())
def test_bit_flips_in_qemu_framed_streams_are_detected(seed: int, data: st.DataObject) -> None:
    plain, _ = synthetic_migration(seed, 6, passes=1, dirty_share=1.0)
    stream = encode_all(qemu_encoder(dict_capacity=8, frame_bytes=2 * QPAGE), [plain])
    bit = data.draw(st.integers(0, len(stream) * 8 - 1))
    mutated = bytearray(stream)
    mutated[bit // 8] ^= 1 << (bit % 8)
    dec = HdeDecoder()
    with pytest.raises(HdeProtocolError):
        decode_all(dec, [bytes(mutated)])
        dec.close()


def test_large_dictionary_needs_the_decoder_to_allow_it() -> None:
    pre = fmt.preamble(4, 1 << 20, fmt.VERSION_RAW)  # 4 GiB of pages: over the 1 GiB default
    with pytest.raises(HdeProtocolError, match="dictionary"):
        HdeDecoder().feed(pre)
    assert HdeDecoder(max_dict_bytes=4 << 30).feed(pre) == b""


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"framing": "pages"}, "framing"), ({"framing": "qemu", "chunk_size": 8192}, "chunk_size")]
)
def test_bad_framing_settings_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        HdeEncoder(**kwargs)
    assert err.value.field == field


def test_channel_settings_carry_the_framing() -> None:
    settings_ = HdeSettings.of({"framing": "qemu", "dict_capacity": 70000})
    assert settings_ is not None
    enc = HdeEncoder(**vars(settings_))
    assert enc.framing == "qemu" and enc.dict_capacity == 70000


def test_wss_rewrite_pass_costs_a_fraction_of_the_page() -> None:
    rnd = random.Random(2)
    pool = bytes(rnd.randrange(256) if i % 3 else i & 0xFF for i in range(1 << 20))
    data, qs = synthetic_migration(4, 256, zero_share=0.0, passes=1, dirty_share=1.0, pool=pool)
    enc = qemu_encoder(dict_capacity=1024)
    wire = encode_all(enc, [data[: qs.first_pass_end]])
    first_out = enc.stats.bytes_out
    wire += encode_all(enc, [data[qs.first_pass_end :]])
    rewritten = len(qs.page_spans) - qs.first_pass_pages
    per_page = (enc.stats.bytes_out - first_out) / rewritten
    # 7 in 8 rewrites are deltas of ~72 changed bytes (~100 B each); 1 in 8 is a new page
    assert enc.stats.delta_chunks >= rewritten * 3 // 4
    plain = len(zstandard.ZstdCompressor(level=1).compress(data[qs.first_pass_end :])) / rewritten
    assert per_page * 4 < plain, (per_page, plain)
    assert decode_all(HdeDecoder(), [wire]) == data
