"""Bandwidth probe frames and the receiver's accounting (sans-I/O).

A bandwidth probe is one short TCP connection: the prober asks, the endpoint accepts (or refuses
when busy or the size is over its limit), the prober sends at most `nbytes` of filler and shuts
its write side, the endpoint answers with what it received and over how long. The receiver
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

from novacron.errors import InvalidInput

MAGIC = b"NVBW"
VERSION = 1
KIND_REQUEST = 1
KIND_ACCEPT = 2
KIND_RESULT = 3
STATUS_OK = 0
STATUS_BUSY = 1
STATUS_TOO_BIG = 2
_FRAME = struct.Struct("!4sBBHQQQ")
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


def throughput_mbps(result: BurstFrame) -> float | None:
    """Mbit/s a result frame reports, None when it measured nothing (refused, or one chunk)."""
    if result.kind != KIND_RESULT or not result.ok or result.duration_ns <= 0 or result.nbytes <= 0:
        return None
    return result.nbytes * 8 / (result.duration_ns / 1e9) / 1e6


class BurstSink:
    """Receiver accounting for one probe: counts bytes until `nbytes` or EOF.

    The clock starts when the first chunk arrives, so that chunk's bytes are not counted (they
    travelled before the clock started); the reported figure is bytes after the first chunk over
    the time from the first to the last chunk.
    """

    def __init__(self, nbytes: int) -> None:
        if not isinstance(nbytes, int) or nbytes <= 0:
            raise InvalidInput(f"must be a positive integer, got {nbytes!r}", field="nbytes")
        self.expected = nbytes
        self.received = 0
        self._first_ns: int | None = None
        self._first_len = 0
        self._last_ns: int | None = None
        self.done = False

    def on_data(self, n: int, now_ns: int) -> int:
        """Account for `n` bytes; returns how many of them belong to the probe (the rest is excess)."""
        if self.done or n <= 0:
            return 0
        take = min(n, self.expected - self.received)
        if self._first_ns is None:
            self._first_ns, self._first_len = now_ns, take
        self._last_ns = now_ns
        self.received += take
        if self.received >= self.expected:
            self.done = True
        return take

    def on_eof(self) -> None:
        self.done = True

    def result(self) -> BurstFrame:
        counted = self.received - self._first_len
        if self._first_ns is None or self._last_ns is None or counted <= 0:
            return BurstFrame(KIND_RESULT, STATUS_OK, 0, 0)
        return BurstFrame(KIND_RESULT, STATUS_OK, counted, self._last_ns - self._first_ns)
