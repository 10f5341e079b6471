"""AMST sender/receiver cores: striping, ordered reassembly, back-pressure and protocol errors."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from novacron.dwcp.amst import (
    Aborted,
    AmstProtocolError,
    AmstReceiver,
    AmstSender,
    Data,
    EndOfChannel,
    FrameType,
    StreamClosed,
    encode_frame,
)
from novacron.dwcp.amst.receiver import SEGMENT_OVERHEAD
from novacron_sdk.errors import InvalidInput

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = 28


def stripe(data: bytes, streams: int, seg: int, writes: list[int] | None = None) -> dict[int, bytearray]:
    """Run a sender over `data` (cut into the given write sizes) and collect each stream's bytes."""
    sender = AmstSender(streams=streams, segment_size=seg, min_segment=1)
    wires: dict[int, bytearray] = defaultdict(bytearray)
    pos = 0
    for size in writes or [len(data)]:
        for idx, frame in sender.send(data[pos : pos + size]):
            wires[idx] += frame
            sender.on_written(idx, len(frame))
        pos += size
    for idx, frame in sender.send(data[pos:]):
        wires[idx] += frame
    idx, fin = sender.close()
    wires[idx] += fin
    return wires


class Delivery:
    """Feeds a receiver like an adapter that honours should_read(), in a drawn order and split."""

    def __init__(self, receiver: AmstReceiver, wires: dict[int, bytearray]) -> None:
        self.rx = receiver
        self.left = {i: bytes(w) for i, w in wires.items()}
        self.out = bytearray()
        self.ended = False
        self.closed: set[int] = set()
        self.peak = 0

    def step(self, choose: int, size: int) -> bool:
        ready = [i for i, rest in sorted(self.left.items()) if rest and self.rx.should_read(i)]
        if not ready:
            return False
        idx = ready[choose % len(ready)]
        piece, self.left[idx] = self.left[idx][:size], self.left[idx][size:]
        for ev in self.rx.feed(idx, piece):
            if isinstance(ev, Data):
                self.out += ev.data
            elif isinstance(ev, EndOfChannel):
                self.ended = True
            elif isinstance(ev, StreamClosed):
                self.closed.add(ev.stream)
        self.peak = max(self.peak, self.rx.buffered_bytes)
        return True


@PROPS
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 200_000),
    streams=st.integers(1, 9),
    seg=st.integers(1, 40_000),
    max_read=st.integers(1, 70_000),
    limit=st.integers(1, 200_000),
    writes=st.lists(st.integers(1, 50_000), max_size=6),
)
def test_any_interleaving_and_split_reassembles(
    seed: int, size: int, streams: int, seg: int, max_read: int, limit: int, writes: list[int]
) -> None:
    rng = random.Random(seed)  # drives the data, the stream order and the read sizes
    data = rng.randbytes(size)
    seg = max(seg, size // 2000)  # keep the frame count (and the run time) bounded
    max_read = max(max_read, size // 3000)
    wires = stripe(data, streams, seg, writes)
    d = Delivery(AmstReceiver(reorder_limit=limit), wires)
    while d.step(rng.randrange(64), rng.randint(1, max_read)):
        pass
    assert d.ended and bytes(d.out) == data
    assert not any(d.left.values())
    # back-pressure: beyond the limit at most one read (plus one partial frame) per stream piles up
    per_read_frames = max_read // (HEADER + 1) + 2
    slack = streams * (max_read + seg + HEADER + per_read_frames * SEGMENT_OVERHEAD)
    assert d.peak <= limit + slack


def test_back_pressure_pauses_streams_ahead_and_never_the_one_behind() -> None:
    data = random.Random(1).randbytes(64 * 4096)
    wires = stripe(data, 4, 4096)  # round robin: stream 0 carries seq 0, 4, 8...
    rx = AmstReceiver(reorder_limit=5 * 4096)
    for idx in (1, 2, 3):  # stream 0 is slow: nothing from it yet
        while wires[idx] and rx.should_read(idx):
            rx.feed(idx, wires[idx][:1000])
            del wires[idx][:1000]
    assert not any(rx.should_read(i) for i in (1, 2, 3))
    assert rx.should_read(0)
    assert rx.buffered_bytes <= 5 * 4096 + 3 * (4096 + 1000 + SEGMENT_OVERHEAD + HEADER)
    events = rx.feed(0, bytes(wires[0][: HEADER + 4096]))  # seq 0 unblocks seq 1..3
    assert b"".join(e.data for e in events if isinstance(e, Data)) == data[: 4 * 4096]
    assert rx.should_read(1)


def test_least_loaded_stream_gets_the_next_segment() -> None:
    s = AmstSender(streams=3, segment_size=1000, min_segment=1)
    first = s.send(b"x" * 3000)
    assert [i for i, _ in first] == [0, 1, 2]  # equal load: round robin
    s.on_written(1, len(first[1][1]))
    assert [i for i, _ in s.send(b"y" * 10)] == [1]
    assert s.outstanding[1] < s.outstanding[0] == s.outstanding[2]


def test_window_closes_and_reopens() -> None:
    s = AmstSender(streams=2, segment_size=1 << 20, window_bytes=2 << 20)
    frames = s.send(bytes(2 << 20))
    assert not s.can_send
    s.on_written(*(frames[0][0], len(frames[0][1])))
    assert s.can_send


def test_retiring_and_adding_streams_mid_transfer() -> None:
    data = random.Random(2).randbytes(200_000)
    s = AmstSender(streams=4, segment_size=5000, min_segment=1)
    wires: dict[int, bytearray] = defaultdict(bytearray)

    def put(pairs: list[tuple[int, bytes]]) -> None:
        for idx, fr in pairs:
            wires[idx] += fr
            s.on_written(idx, len(fr))

    put(s.send(data[:50_000]))
    put([s.retire_stream()])  # stream 3 goes away
    put(s.send(data[50_000:100_000]))
    new = s.add_stream()
    s.activate(new)
    put(s.send(data[100_000:]))
    put([s.close()])
    assert new == 4 and wires[4]  # indices are never reused within a channel
    d = Delivery(AmstReceiver(), wires)
    rng = random.Random(3)
    while d.step(rng.randrange(8), rng.randrange(1, 9000)):
        pass
    assert d.ended and bytes(d.out) == data and 3 in d.closed


@pytest.mark.parametrize("pos", [0, 2, 3, 8, 12, 16, 20, 24, 30, 500])
def test_any_corrupted_byte_is_an_error(pos: int) -> None:
    frame = bytearray(encode_frame(FrameType.DATA, stream=0, seq=0, payload=bytes(range(256)) * 4))
    frame[pos] ^= 0x40
    rx = AmstReceiver()
    with pytest.raises(AmstProtocolError):
        rx.feed(0, bytes(frame) + bytes(2000))  # trailing bytes complete a frame whose length grew
    with pytest.raises(AmstProtocolError, match="already failed"):
        rx.feed(0, b"")


@given(seed=st.integers(0, 2**16), bit=st.integers(0, 10**6), data=st.data())
@settings(max_examples=150, deadline=None)
def test_bit_flip_never_delivers_wrong_data(seed: int, bit: int, data: st.DataObject) -> None:
    payload = random.Random(seed).randbytes(30_000)
    wires = stripe(payload, 2, 7000)
    idx = data.draw(st.sampled_from(sorted(wires)))
    wires[idx][bit // 8 % len(wires[idx])] ^= 1 << (bit % 8)
    d = Delivery(AmstReceiver(), wires)
    try:
        while d.step(data.draw(st.integers(0, 3)), data.draw(st.integers(1, 20_000))):
            pass
    except AmstProtocolError:
        assert payload.startswith(bytes(d.out))
        return
    assert not d.ended and payload.startswith(bytes(d.out))  # a grown length field: still waiting


def frames(*specs: tuple) -> bytes:
    return b"".join(encode_frame(t, stream=0, seq=q, payload=p, **kw) for t, q, p, kw in specs)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (frames((FrameType.DATA, 0, b"a", {}), (FrameType.DATA, 0, b"b", {})), "not above"),
        (frames((FrameType.DATA, 1, b"", {})), "empty"),
        (frames((FrameType.DATA, 0, b"a", {"channel": 7})), "channel 7"),
        (frames((FrameType.FIN, 1, (5).to_bytes(8, "big"), {}), (FrameType.DATA, 0, b"a", {})), "declares 5"),
        (
            frames((FrameType.FIN, 0, (0).to_bytes(8, "big"), {}), (FrameType.DATA, 0, b"a", {})),
            "after the channel ended",
        ),
        (frames((FrameType.DATA, 5, b"a", {}), (FrameType.FIN, 3, (1).to_bytes(8, "big"), {})), "FIN says 3"),
        (frames((FrameType.STREAM_CLOSE, 0, b"", {}), (FrameType.DATA, 0, b"a", {})), "after STREAM_CLOSE"),
        (frames((FrameType.HELLO, 0, bytes(16), {})), "unexpected HELLO"),
        (encode_frame(FrameType.DATA, stream=3, seq=0, payload=b"a"), "labelled for stream 3"),
        (b"AM\x01\x09" + bytes(24), "unknown frame type 9"),
        (b"AM\x02\x01" + bytes(24), "version 2"),
        (b"XY\x01\x01" + bytes(24), "bad magic"),
        (b"AM\x01\x01" + bytes(16) + (1 << 30).to_bytes(4, "big") + bytes(4), "exceeds limit"),
    ],
)
def test_protocol_violations(wire: bytes, message: str) -> None:
    with pytest.raises(AmstProtocolError, match=message):
        AmstReceiver().feed(0, wire)


def test_abort_and_empty_channel() -> None:
    rx = AmstReceiver()
    assert rx.feed(0, frames((FrameType.FIN, 0, bytes(8), {}))) == [EndOfChannel(0, 0)]
    rx2 = AmstReceiver()
    s = AmstSender(streams=2)
    (i0, a0), (i1, _) = s.abort("disk full")
    assert rx2.feed(i0, a0) == [Aborted("disk full")] and not rx2.should_read(i1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"streams": 0}, "streams"),
        ({"streams": 9, "max_streams": 8}, "streams"),
        ({"window_bytes": 10}, "window_bytes"),
        ({"min_segment": 0}, "min_segment"),
    ],
)
def test_sender_settings_are_validated(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        AmstSender(**kwargs)
    assert err.value.field == field


def test_sender_misuse() -> None:
    s = AmstSender(streams=1)
    with pytest.raises(InvalidInput, match="last stream"):
        s.retire_stream()
    s.close()
    with pytest.raises(RuntimeError, match="after close"):
        s.send(b"x")
