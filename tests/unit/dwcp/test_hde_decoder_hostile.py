"""The HDE decoder faces the network: garbage must end in HdeProtocolError, never another exception,
a hang or unbounded memory; and a failed decoder stays failed."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from novacron.dwcp.hde import HdeDecoder, HdeEncoder, HdeProtocolError
from novacron.dwcp.hde import format as fmt
from tests.unit.dwcp.hde_strategies import PAGE, cut, decode_all, encode_all, page_stream

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PREAMBLE = fmt.preamble(1, 64)


def valid_stream(seed: int, algorithm: str = "zstd") -> tuple[bytes, bytes]:
    data = page_stream(seed, 30)
    enc = HdeEncoder(
        algorithm=algorithm, level=1, chunk_size=PAGE, dict_capacity=8, frame_bytes=4 * PAGE, mode="always"
    )
    return data, encode_all(enc, [data])


def frame(payload: bytes, out_len: int, *, seq: int = 0, codec: int = fmt.CODEC_RAW) -> bytes:
    head = fmt.FRAME.pack(fmt.FRAME_MAGIC, fmt.VERSION, codec, seq, len(payload), len(payload), out_len, 0)
    crc = zlib.crc32(payload, zlib.crc32(head[:20]))
    return head[:20] + crc.to_bytes(4, "little") + payload


def outcome(stream: bytes, pieces: list[int] | None = None) -> bytes | None:
    """Decoded bytes, or None when the decoder rejected the input with HdeProtocolError."""
    dec = HdeDecoder()
    try:
        out = decode_all(dec, cut(stream, pieces or []))
        dec.close()
        return out
    except HdeProtocolError:
        return None


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes(blob: bytes) -> None:
    outcome(blob)
    outcome(PREAMBLE + blob)


@FUZZ
@given(seed=st.integers(0, 2**16), algorithm=st.sampled_from(["zstd", "lz4", "none"]), data=st.data())
def test_bit_flips_are_detected(seed: int, algorithm: str, data: st.DataObject) -> None:
    plain, stream = valid_stream(seed, algorithm)
    bit = data.draw(st.integers(0, len(stream) * 8 - 1))
    mutated = bytearray(stream)
    mutated[bit // 8] ^= 1 << (bit % 8)
    result = outcome(bytes(mutated), data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    # crc32 catches every single-bit error, so a flip can never come out as different data
    assert result is None


@FUZZ
@given(seed=st.integers(0, 2**16), data=st.data())
def test_truncation_yields_a_prefix_then_an_error(seed: int, data: st.DataObject) -> None:
    plain, stream = valid_stream(seed)
    end = data.draw(st.integers(0, len(stream) - 1))
    dec = HdeDecoder()
    got = decode_all(dec, [stream[:end]])
    assert plain.startswith(got)
    if end in frame_boundaries(stream):  # HDE has no end marker: AMST's FIN says where a stream ends
        dec.close()
        return
    with pytest.raises(HdeProtocolError):
        dec.close()


def frame_boundaries(stream: bytes) -> set[int]:
    pos, found = fmt.PREAMBLE.size, {0}
    while pos < len(stream):
        found.add(pos)
        pos += fmt.FRAME.size + fmt.FRAME.unpack_from(stream, pos)[4]
    return found


@FUZZ
@given(seed=st.integers(0, 2**16), data=st.data())
def test_spliced_garbage(seed: int, data: st.DataObject) -> None:
    plain, stream = valid_stream(seed)
    at = data.draw(st.integers(0, len(stream)))
    junk = data.draw(st.binary(min_size=1, max_size=64))
    result = outcome(stream[:at] + junk + stream[at:])
    assert result is None or result == plain[: len(result)]


def test_huge_declared_length_fails_at_once() -> None:
    head = fmt.FRAME.pack(fmt.FRAME_MAGIC, fmt.VERSION, fmt.CODEC_ZSTD, 0, 1 << 30, 1 << 20, 1 << 20, 0)
    dec = HdeDecoder()
    with pytest.raises(HdeProtocolError, match="wire length"):
        dec.feed(PREAMBLE + head)


def test_oversized_dictionary_is_refused() -> None:
    pre = fmt.preamble(64, fmt.MAX_DICT_CAPACITY)
    with pytest.raises(HdeProtocolError, match="dictionary"):
        HdeDecoder(max_dict_bytes=1 << 30).feed(pre)


def test_reference_to_unknown_or_evicted_chunk() -> None:
    lit = fmt.LEN.pack(fmt.TAG_LITERAL, 1024) + bytes(range(256)) * 4
    with pytest.raises(HdeProtocolError, match="unknown or evicted"):
        HdeDecoder().feed(PREAMBLE + frame(fmt.REF.pack(fmt.TAG_REF, 0), 1024))
    # capacity 1: the second literal evicts id 0
    pre = fmt.preamble(1, 1)
    payload = lit + lit + fmt.REF.pack(fmt.TAG_REF, 0)
    with pytest.raises(HdeProtocolError, match="chunk 0"):
        HdeDecoder().feed(pre + frame(payload, 3 * 1024))


def test_declared_output_must_match_records() -> None:
    zero = fmt.LEN.pack(fmt.TAG_ZERO, 1024)
    with pytest.raises(HdeProtocolError, match="expand"):
        HdeDecoder().feed(PREAMBLE + frame(zero * 3, 2048))
    with pytest.raises(HdeProtocolError, match="expand"):
        HdeDecoder().feed(PREAMBLE + frame(zero, 4096))


def test_lost_frame_is_detected_by_sequence() -> None:
    zero = fmt.LEN.pack(fmt.TAG_ZERO, 1024)
    with pytest.raises(HdeProtocolError, match="sequence 1"):
        HdeDecoder().feed(PREAMBLE + frame(zero, 1024, seq=1))


def test_expansion_per_feed_is_bounded() -> None:
    # 4 frames of 16 MiB of zero pages, each ~100 KiB raw: feed() hands out one bounded batch at a time
    zeros = struct.pack("<BI", fmt.TAG_ZERO, 64 << 10) * 256
    pre = fmt.preamble(64, 4)
    stream = pre + b"".join(frame(zeros, 16 << 20, seq=i) for i in range(4))
    dec = HdeDecoder(max_output=16 << 20)
    first = dec.feed(stream)
    assert len(first) == 16 << 20 and dec.has_backlog
    rest = decode_all(dec, [b""])
    assert len(rest) == 48 << 20 and not dec.has_backlog


def test_failed_decoder_refuses_further_input() -> None:
    plain, stream = valid_stream(1)
    dec = HdeDecoder()
    with pytest.raises(HdeProtocolError):
        dec.feed(b"XXXX" + stream)
    with pytest.raises(HdeProtocolError, match="already failed"):
        dec.feed(stream)
