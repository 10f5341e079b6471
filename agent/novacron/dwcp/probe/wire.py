"""Ping/pong probe frames on the agent-to-agent channel, and the sans-I/O pinger around them.

Frame (32 bytes, network order):
    magic "NVPR" | version u8 | kind u8 (1 ping, 2 pong) | reserved u16 |
    nonce u64 | origin_ns u64 | echo_ns u64
A pong echoes the ping's nonce and origin timestamp and adds the responder's own receive time.
Only the originator's clock is used for RTT (the two clocks are never compared); the nonce lets
a late or duplicated pong be recognised instead of producing a wrong sample.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from novacron_sdk.errors import InvalidInput

MAGIC = b"NVPR"
VERSION = 1
KIND_PING = 1
KIND_PONG = 2
_FRAME = struct.Struct("!4sBBHQQQ")
FRAME_SIZE = _FRAME.size  # 32
_U64 = (1 << 64) - 1


class ProbeWireError(InvalidInput):
    """A frame that is not a valid probe (wrong size, magic, version or kind)."""


@dataclass(frozen=True)
class Ping:
    nonce: int
    origin_ns: int


@dataclass(frozen=True)
class Pong:
    nonce: int
    origin_ns: int
    echo_ns: int


def _check_u64(name: str, value: int) -> None:
    if not 0 <= value <= _U64:
        raise ProbeWireError(f"must fit in an unsigned 64-bit integer, got {value}", field=name)


def encode(frame: Ping | Pong) -> bytes:
    _check_u64("nonce", frame.nonce)
    _check_u64("origin_ns", frame.origin_ns)
    if isinstance(frame, Ping):
        return _FRAME.pack(MAGIC, VERSION, KIND_PING, 0, frame.nonce, frame.origin_ns, 0)
    _check_u64("echo_ns", frame.echo_ns)
    return _FRAME.pack(MAGIC, VERSION, KIND_PONG, 0, frame.nonce, frame.origin_ns, frame.echo_ns)


def decode(data: bytes) -> Ping | Pong:
    if len(data) != FRAME_SIZE:
        raise ProbeWireError(f"probe frame must be {FRAME_SIZE} bytes, got {len(data)}", field="frame")
    magic, version, kind, _reserved, nonce, origin_ns, echo_ns = _FRAME.unpack(data)
    if magic != MAGIC:
        raise ProbeWireError(f"bad magic {magic!r}, expected {MAGIC!r}", field="frame.magic")
    if version != VERSION:
        raise ProbeWireError(f"unsupported probe version {version}", field="frame.version")
    if kind == KIND_PING:
        return Ping(nonce, origin_ns)
    if kind == KIND_PONG:
        return Pong(nonce, origin_ns, echo_ns)
    raise ProbeWireError(f"unknown probe kind {kind}", field="frame.kind")


def answer(data: bytes, now_ns: int) -> bytes:
    """Responder side: the pong for a received ping frame."""
    frame = decode(data)
    if not isinstance(frame, Ping):
        raise ProbeWireError("expected a ping, got a pong", field="frame.kind")
    return encode(Pong(frame.nonce, frame.origin_ns, now_ns))


class Pinger:
    """Originator side: issues pings, matches pongs, turns them into RTT samples in ms.

    The nonce sequence starts at `first_nonce` (pass a random value so restarts do not reuse
    nonces); at most `max_outstanding` pings are remembered, the oldest being counted lost.
    """

    def __init__(self, *, first_nonce: int = 1, max_outstanding: int = 64) -> None:
        _check_u64("first_nonce", first_nonce)
        if max_outstanding < 1:
            raise InvalidInput(f"must be >= 1, got {max_outstanding}", field="max_outstanding")
        self._next = first_nonce
        self._max = max_outstanding
        self._outstanding: dict[int, int] = {}
        self.lost = 0

    def ping(self, now_ns: int) -> bytes:
        nonce = self._next
        self._next = (self._next + 1) & _U64
        if len(self._outstanding) >= self._max:
            del self._outstanding[next(iter(self._outstanding))]
            self.lost += 1
        self._outstanding[nonce] = now_ns
        return encode(Ping(nonce, now_ns))

    def on_pong(self, data: bytes, now_ns: int) -> float | None:
        """RTT in ms, or None for a pong we did not ask for (late after expiry, duplicate, forged)."""
        frame = decode(data)
        if not isinstance(frame, Pong):
            raise ProbeWireError("expected a pong, got a ping", field="frame.kind")
        sent = self._outstanding.get(frame.nonce)
        if sent is None or sent != frame.origin_ns:
            return None
        del self._outstanding[frame.nonce]
        return max(0, now_ns - sent) / 1e6

    def expire(self, now_ns: int, timeout_ns: int) -> int:
        """Give up on pings older than `timeout_ns`; returns how many were declared lost."""
        stale = [n for n, sent in self._outstanding.items() if now_ns - sent > timeout_ns]
        for nonce in stale:
            del self._outstanding[nonce]
        self.lost += len(stale)
        return len(stale)

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)
