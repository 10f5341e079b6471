"""AMST framing, identical on every TCP stream of a channel.

Header (28 bytes, network byte order):
    magic  2s  b"AM"
    ver    u8  1
    type   u8  DATA, FIN, ABORT, HELLO, HELLO_ACK, STREAM_CLOSE, FIN_ACK, CREDIT
    flags  u8  HELLO: bit 0 = the channel carries HDE frames, bit 1 = the sender wants CREDIT
               frames; HELLO_ACK: bit 1 = the receiver will send them
    rsvd   u8  0
    stream u16 index of the TCP stream the frame was written to (a misrouted frame is an error)
    chan   u32 logical channel id
    seq    u64 DATA: segment number (global over all streams); FIN: number of segments sent;
               CREDIT: bytes of the channel's (decoded) stream the receiver's consumer has taken
    length u32 payload bytes that follow (at most MAX_PAYLOAD)
    crc    u32 crc32 over the first 24 header bytes and the payload

Payloads: DATA the segment; FIN the total byte count (u64); ABORT a UTF-8 reason; HELLO the 16-byte
session id; HELLO_ACK, STREAM_CLOSE, FIN_ACK nothing. A new TCP connection that says HELLO with a
known session id adds a stream. CREDIT goes the other way, receiver to sender on any stream: it
lets the sender bound the DECODED bytes between its writer and the receiver's consumer (compressed
frames can expand 30x, so the transport's own byte limits say little about that). STREAM_CLOSE is the last frame the sender writes to a stream it
retires, so the receiver knows that stream is done without waiting for the socket to close.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from novacron.dwcp.amst.errors import AmstProtocolError

HEADER = struct.Struct(">2sBBBBHIQII")
MAGIC: Final = b"AM"
VERSION: Final = 1
MAX_PAYLOAD: Final = 16 << 20
SESSION_ID_LEN: Final = 16
FLAG_HDE: Final = 0x01
FLAG_CREDIT: Final = 0x02


class FrameType(IntEnum):
    DATA = 1
    FIN = 2
    ABORT = 3
    HELLO = 4
    HELLO_ACK = 5
    STREAM_CLOSE = 6
    FIN_ACK = 7
    CREDIT = 8


@dataclass(frozen=True, slots=True)
class Frame:
    type: FrameType
    stream: int
    channel: int
    seq: int
    payload: bytes
    flags: int = 0


def encode_frame(
    ftype: FrameType,
    *,
    stream: int,
    channel: int = 0,
    seq: int = 0,
    payload: bytes | memoryview = b"",
    flags: int = 0,
) -> bytes:
    head = HEADER.pack(MAGIC, VERSION, ftype, flags, 0, stream, channel, seq, len(payload), 0)[:24]
    crc = zlib.crc32(payload, zlib.crc32(head))
    return b"".join((head, crc.to_bytes(4, "big"), payload))  # the payload is copied exactly once


def hello(session_id: bytes, stream: int, *, channel: int = 0, hde: bool = False, credit: bool = False) -> bytes:
    if len(session_id) != SESSION_ID_LEN:
        raise ValueError(f"session_id must be {SESSION_ID_LEN} bytes, not {len(session_id)}")
    flags = (FLAG_HDE if hde else 0) | (FLAG_CREDIT if credit else 0)
    return encode_frame(FrameType.HELLO, stream=stream, channel=channel, payload=session_id, flags=flags)


def credit(stream: int, consumed: int, *, channel: int = 0) -> bytes:
    """Receiver -> sender: the consumer has taken `consumed` decoded bytes of the channel so far."""
    return encode_frame(FrameType.CREDIT, stream=stream, channel=channel, seq=consumed)


class FrameParser:
    """Incremental parser for one TCP stream: feed any split of bytes, get whole, verified frames.

    The header is checked as soon as its 28 bytes are in, so garbage fails before we wait for a
    bogus length; a frame is buffered at most once (MAX_PAYLOAD bounds it). stream=None accepts
    any stream label (used to read the HELLO that tells a new connection's index).
    """

    def __init__(self, stream: int | None, *, max_payload: int = MAX_PAYLOAD) -> None:
        self.stream = stream
        self.max_payload = max_payload
        self._parts: list[bytes] = []  # received bytes not yet parsed, joined only when a frame is whole
        self._size = 0
        self._need = HEADER.size  # bytes required before parsing can progress
        self._head: tuple[int, int, int, int, int, int, bytes] | None = None

    @property
    def buffered(self) -> int:
        return self._size

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if data:
            self._parts.append(bytes(data))
            self._size += len(data)
        if self._size < self._need:
            return []
        buf = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        view = memoryview(buf)
        frames: list[Frame] = []
        pos, end = 0, len(buf)
        while True:
            if self._head is None:
                if end - pos < HEADER.size:
                    self._need = HEADER.size
                    break
                self._head = self._check_header(bytes(view[pos : pos + HEADER.size]))
                pos += HEADER.size
            ftype, flags, stream, channel, seq, length, raw = self._head
            if end - pos < length:
                self._need = length
                break
            payload = buf[pos : pos + length] if (pos or length != end) else buf
            pos += length
            self._head = None
            if zlib.crc32(payload, zlib.crc32(raw[:24])) != int.from_bytes(raw[24:], "big"):
                raise AmstProtocolError(
                    f"stream {self.stream}: crc mismatch in {FrameType(ftype).name} seq {seq}"
                )
            frames.append(Frame(FrameType(ftype), stream, channel, seq, payload, flags))
        rest = buf[pos:] if pos < end else b""
        self._parts = [rest] if rest else []
        self._size = len(rest)
        return frames

    def _check_header(self, raw: bytes) -> tuple[int, int, int, int, int, int, bytes]:
        magic, version, ftype, flags, rsvd, stream, channel, seq, length, _ = HEADER.unpack(raw)
        where = f"stream {self.stream}"
        if magic != MAGIC:
            raise AmstProtocolError(f"{where}: bad magic {magic!r} (not AMST or out of sync)")
        if version != VERSION:
            raise AmstProtocolError(f"{where}: unsupported version {version}, this is {VERSION}")
        if ftype not in FrameType._value2member_map_:
            raise AmstProtocolError(f"{where}: unknown frame type {ftype}")
        if rsvd:
            raise AmstProtocolError(f"{where}: reserved header byte is {rsvd}, must be 0")
        if self.stream is not None and stream != self.stream:
            raise AmstProtocolError(f"{where}: frame is labelled for stream {stream}")
        if length > self.max_payload:
            raise AmstProtocolError(f"{where}: payload length {length} exceeds limit {self.max_payload}")
        return ftype, flags, stream, channel, seq, length, raw
