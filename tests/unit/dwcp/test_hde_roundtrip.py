"""HDE must reproduce any stream bit-exact, whatever the splits and live setting changes."""

from __future__ import annotations

import os
import random

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from novacron.dwcp.hde import HdeDecoder, HdeEncoder
from novacron.dwcp.hde.encoder import UnsealedFrame
from novacron_sdk.errors import InvalidInput
from tests.unit.dwcp.hde_strategies import (
    PAGE,
    cut,
    decode_all,
    encode_all,
    page_stream,
    splits,
    synthetic_migration,
)

CODECS = st.sampled_from(
    [("zstd", 1), ("zstd", 3), ("zstd", 19), ("lz4", 1), ("lz4", 9), ("none", 0), ("zstd", 0)]
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=st.binary(max_size=20000), codec=CODECS, enc_cuts=st.data(), dec_cuts=st.data())
def test_random_bytes_round_trip(
    data: bytes, codec: tuple[str, int], enc_cuts: st.DataObject, dec_cuts: st.DataObject
) -> None:
    enc = HdeEncoder(algorithm=codec[0], level=codec[1], chunk_size=PAGE, frame_bytes=4 * PAGE, mode="always")
    encoded = encode_all(enc, cut(data, enc_cuts.draw(splits(len(data)))))
    decoded = decode_all(HdeDecoder(), cut(encoded, dec_cuts.draw(splits(len(encoded)))))
    assert decoded == data
    assert enc.stats.bytes_in == len(data)
    assert enc.stats.bytes_out == len(encoded)


@FAST
@given(
    seed=st.integers(0, 2**32),
    pages=st.integers(0, 80),
    capacity=st.integers(1, 40),
    codec=CODECS,
    frame_pages=st.integers(1, 16),
    enc_cuts=st.data(),
    dec_cuts=st.data(),
)
def test_page_streams_round_trip_with_eviction(
    seed: int,
    pages: int,
    capacity: int,
    codec: tuple[str, int],
    frame_pages: int,
    enc_cuts: st.DataObject,
    dec_cuts: st.DataObject,
) -> None:
    data = page_stream(seed, pages)
    enc = HdeEncoder(
        algorithm=codec[0],
        level=codec[1],
        chunk_size=PAGE,
        dict_capacity=capacity,
        frame_bytes=frame_pages * PAGE,
    )
    encoded = encode_all(enc, cut(data, enc_cuts.draw(splits(len(data)))))
    assert decode_all(HdeDecoder(), cut(encoded, dec_cuts.draw(splits(len(encoded))))) == data
    s = enc.stats
    assert s.chunks == s.literal_chunks + s.dedup_hits + s.zero_chunks + s.delta_chunks


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("data"), st.integers(0, 2**32), st.integers(0, 12)),
        st.tuples(st.just("level"), st.integers(0, 22)),
        st.tuples(st.just("algorithm"), st.sampled_from(["zstd", "lz4", "none"])),
        st.tuples(st.just("mode"), st.sampled_from(["adaptive", "always", "never"])),
        st.tuples(st.just("flush")),
    ),
    max_size=25,
)


@FAST
@given(ops=OPS, dec_cuts=st.data())
def test_live_setting_changes_mid_stream(ops: list[tuple], dec_cuts: st.DataObject) -> None:
    enc = HdeEncoder(chunk_size=PAGE, frame_bytes=3 * PAGE, dict_capacity=16)
    plain, frames = bytearray(), []
    for op in ops:
        if op[0] == "data":
            piece = page_stream(op[1], op[2])
            plain += piece
            frames += enc.encode(piece)
        elif op[0] == "level":
            enc.set_level(op[1])
        elif op[0] == "algorithm":
            enc.set_algorithm(op[1])
        elif op[0] == "mode":
            enc.set_mode(op[1])
        else:
            frames += enc.flush()
    frames += enc.flush()
    encoded = b"".join(frames)
    assert decode_all(HdeDecoder(), cut(encoded, dec_cuts.draw(splits(len(encoded))))) == bytes(plain)


def test_every_record_kind_is_used_and_pays_on_mutated_pages() -> None:
    rnd = random.Random(7)
    # 1024 pages = 4 MiB per round: a page's previous version lies beyond zstd's window, as in a
    # real pre-copy where iterations are GiBs apart
    pages = [rnd.randbytes(4096) for _ in range(1024)]
    rounds = []
    for _ in range(3):  # three "pre-copy iterations": same pages, a few bytes dirtied, some zeroed
        for i, pg in enumerate(pages):
            m = bytearray(pg)
            for _ in range(4):
                m[rnd.randrange(4096)] = rnd.randrange(256)
            pages[i] = bytes(m) if i % 4 else pg
        rounds.append(b"".join(pages) + bytes(4096 * 8))
    data = b"".join(rounds)
    enc = HdeEncoder(algorithm="zstd", level=3, mode="always")
    encoded = encode_all(enc, [data])
    assert decode_all(HdeDecoder(), [encoded]) == data
    s = enc.stats
    assert s.zero_chunks >= 24 and s.dedup_hits > 0 and s.delta_chunks > 0 and s.literal_chunks > 0
    baseline = len(zstandard.ZstdCompressor(level=3).compress(data))
    assert len(encoded) * 2 < baseline  # delta on random pages pays where plain zstd cannot


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), framing=st.sampled_from(["grid", "qemu"]), codec=CODECS, cuts=st.data())
def test_frames_sealed_later_are_the_frames_sealed_at_once(
    seed: int, framing: str, codec: tuple[str, int], cuts: st.DataObject
) -> None:
    """seal_later=True only moves compression to whoever calls seal(): same bytes, same order."""
    data, _ = synthetic_migration(seed, 96, passes=2)
    pieces = cut(data, cuts.draw(splits(len(data))))
    algo, level = codec
    now = HdeEncoder(algorithm=algo, level=level, mode="always", framing=framing, frame_bytes=64 << 10)
    later = HdeEncoder(algorithm=algo, level=level, mode="always", framing=framing, frame_bytes=64 << 10,
                       seal_later=True)  # fmt: skip
    expected = encode_all(now, pieces)
    frames: list = []
    for piece in pieces:
        frames += later.encode(piece)
    frames += later.flush()
    assert any(isinstance(f, UnsealedFrame) for f in frames)
    got = b"".join(f if isinstance(f, bytes) else f.seal() for f in frames)
    assert got == expected
    assert decode_all(HdeDecoder(), [got]) == data


def test_chunk_grid_stays_aligned_after_mid_chunk_flush() -> None:
    page = os.urandom(4096)
    enc = HdeEncoder(mode="never")
    frames = enc.encode(page[:1000]) + enc.flush() + enc.encode(page[1000:] + page) + enc.flush()
    # the second copy of the page starts on the grid again, so it dedups against the first
    assert enc.stats.dedup_hits == 0 and enc.stats.chunks == 3
    frames += enc.encode(page) + enc.flush()
    assert enc.stats.dedup_hits == 1
    assert decode_all(HdeDecoder(), frames) == page * 3


def test_adaptive_mode_skips_compression_when_link_outruns_encoder() -> None:
    data = page_stream(3, 400, page=4096)
    enc = HdeEncoder(frame_bytes=64 << 10)
    enc.set_link_rate(10e9)
    out = []
    for piece in cut(data, list(range(0, len(data), 64 << 10))):
        out += enc.encode(piece)
        enc.record_elapsed(0.01)  # 64 KiB in 10 ms = 6.5 MB/s, far below a 10 GB/s link
    out += enc.flush()
    assert enc.stats.raw_frames > enc.stats.compressed_frames > 0  # compressed ones are the probes
    assert decode_all(HdeDecoder(), out) == data
    enc.set_link_rate(1e3)  # a slow link: compress again
    before = enc.stats.compressed_frames
    out2 = enc.encode(data[: 256 << 10]) + enc.flush()
    assert enc.stats.compressed_frames - before >= 3
    assert decode_all(HdeDecoder(), out + out2) == data + data[: 256 << 10]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"algorithm": "brotli"}, "algorithm"),
        ({"level": 23}, "level"),
        ({"level": -1}, "level"),
        ({"chunk_size": 1000}, "chunk_size"),
        ({"dict_capacity": 0}, "dict_capacity"),
        ({"frame_bytes": 64 << 20}, "frame_bytes"),
        ({"mode": "sometimes"}, "mode"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        HdeEncoder(**kwargs)
    assert err.value.field == field


def test_live_setter_rejects_bad_values_and_keeps_old() -> None:
    enc = HdeEncoder(level=5)
    with pytest.raises(InvalidInput, match="level"):
        enc.set_level(99)
    with pytest.raises(InvalidInput, match="link_rate"):
        enc.set_link_rate(-1)
    assert enc.level == 5
