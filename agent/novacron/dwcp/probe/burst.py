"""Bandwidth probe frames and the receiver's accounting (sans-I/O).

A bandwidth probe is one short TCP connection: the prober asks, the endpoint accepts (or refuses
when busy or the size is over its limit), the prober sends at most `nbytes` of filler and shuts
its write side, the endpoint answers with how many bytes of the probe's second half it received
and over how long (BurstSink says why the second half). The receiver
times the bytes, not the sender: a sender's clock stops when the data is in its socket buffer,
which on a 4 MiB buffer is most of the probe. Only the prober's own clock is involved in each
measurement, so the two agents' clocks are never compared.

Frame (32 bytes, network order, same shape as the ping frames in wire.py):
    magic "NVBW" | version u8 | kind u8 (1 request, 2 accept, 3 result) | status u16 |
    nbytes u64 | duration_ns u64 | reserved u64
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from novacron_sdk.errors import InvalidInput

MAGIC = b"NVBW"
VERSION = 1
KIND_REQUEST = 1
KIND_ACCEPT = 2
KIND_RESULT = 3
STATUS_OK = 0
STATUS_BUSY = 1
STATUS_TOO_BIG = 2
_FRAME = struct.Struct("!4sBBHQQQ")
# Probe size: slow start reaches a window of one bandwidth-delay product after sending about two
# of them, so a probe of PROBE_BDPS x BDP at PROBE_RATE (1 Gbit/s, the classifier's datacenter
# line) has its second half at up to that rate; never under PROBE_MIN (timing resolution).
PROBE_RATE_BYTES_S = 125e6
PROBE_BDPS = 3
PROBE_MIN = 4 << 20
FRAME_SIZE = _FRAME.size  # 32
_U64 = (1 << 64) - 1


class BurstWireError(InvalidInput):
    """A frame that is not a valid bandwidth-probe frame."""


@dataclass(frozen=True)
class BurstFrame:
    kind: int
    status: int = STATUS_OK
    nbytes: int = 0
    duration_ns: int = 0

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def encode(frame: BurstFrame) -> bytes:
    if frame.kind not in (KIND_REQUEST, KIND_ACCEPT, KIND_RESULT):
        raise BurstWireError(f"unknown burst frame kind {frame.kind}", field="frame.kind")
    if not 0 <= frame.status <= 0xFFFF:
        raise BurstWireError(f"must fit in u16, got {frame.status}", field="frame.status")
    for name in ("nbytes", "duration_ns"):
        if not 0 <= getattr(frame, name) <= _U64:
            raise BurstWireError(f"must fit in u64, got {getattr(frame, name)}", field=f"frame.{name}")
    return _FRAME.pack(MAGIC, VERSION, frame.kind, frame.status, frame.nbytes, frame.duration_ns, 0)


def decode(data: bytes) -> BurstFrame:
    if len(data) != FRAME_SIZE:
        raise BurstWireError(f"burst frame must be {FRAME_SIZE} bytes, got {len(data)}", field="frame")
    magic, version, kind, status, nbytes, duration_ns, _ = _FRAME.unpack(data)
    if magic != MAGIC:
        raise BurstWireError(f"bad magic {magic!r}, expected {MAGIC!r}", field="frame.magic")
    if version != VERSION:
        raise BurstWireError(f"unsupported burst version {version}", field="frame.version")
    if kind not in (KIND_REQUEST, KIND_ACCEPT, KIND_RESULT):
        raise BurstWireError(f"unknown burst frame kind {kind}", field="frame.kind")
    return BurstFrame(kind, status, nbytes, duration_ns)


def probe_size(rtt_ms: float | None, cap: int) -> int:
    """Bytes for the next probe over a path of `rtt_ms`: 4 MiB on short paths, 3 x the 1 Gbit/s
    bandwidth-delay product on long ones (50 ms: ~19 MB), never above `cap` (the operator's limit)."""
    want = PROBE_MIN if rtt_ms is None else max(PROBE_MIN, int(PROBE_BDPS * PROBE_RATE_BYTES_S * rtt_ms / 1000))
    return max(0, min(cap, want))


def throughput_mbps(result: BurstFrame) -> float | None:
    """Mbit/s a result frame reports, None when it measured nothing (refused, or one chunk)."""
    if result.kind != KIND_RESULT or not result.ok or result.duration_ns <= 0 or result.nbytes <= 0:
        return None
    return result.nbytes * 8 / (result.duration_ns / 1e9) / 1e6


class BurstSink:
    """Receiver accounting for one probe: counts bytes until `nbytes` or EOF.

    The reported figure is the rate of the probe's second half: the bytes received after half of
    them had arrived, over the time from that arrival to the last. A probe's start is TCP's slow
    start, whose rate doubles each round trip: over a 50 ms RTT path a 4 MiB probe spends most of
    its time there, and its average cannot tell a fast link from a slow one (decisions.md:
    probe-second-half). The second half is what the window reached; where slow start ends early
    (a short or slow link) it is the link's rate. Arrival times are kept at 1/64 steps of the
    announced size, so the memory is bounded whatever the chunking. The first chunk never counts
    (it travelled before the clock started).
    """

    STEPS = 64

    def __init__(self, nbytes: int) -> None:
        if not isinstance(nbytes, int) or nbytes <= 0:
            raise InvalidInput(f"must be a positive integer, got {nbytes!r}", field="nbytes")
        self.expected = nbytes
        self.received = 0
        self._step = max(1, nbytes // self.STEPS)
        self._marks: list[tuple[int, int]] = []  # (arrival ns, bytes received by then)
        self._last_ns: int | None = None
        self.done = False

    def on_data(self, n: int, now_ns: int) -> int:
        """Account for `n` bytes; returns how many of them belong to the probe (the rest is excess)."""
        if self.done or n <= 0:
            return 0
        take = min(n, self.expected - self.received)
        before = self.received
        self.received += take
        self._last_ns = now_ns
        if not self._marks or self.received // self._step > before // self._step:
            self._marks.append((now_ns, self.received))
        if self.received >= self.expected:
            self.done = True
        return take

    def on_eof(self) -> None:
        self.done = True

    def result(self) -> BurstFrame:
        empty = BurstFrame(KIND_RESULT, STATUS_OK, 0, 0)
        if not self._marks or self._last_ns is None:
            return empty
        half = self.received / 2
        start_ns, start_bytes = next(m for m in self._marks if m[1] >= half)
        if start_ns >= self._last_ns:  # the second half arrived at once: time the whole probe instead
            start_ns, start_bytes = self._marks[0]
        counted, took = self.received - start_bytes, self._last_ns - start_ns
        if counted <= 0 or took <= 0:
            return empty
        return BurstFrame(KIND_RESULT, STATUS_OK, counted, took)
