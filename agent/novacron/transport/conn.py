"""Pieces shared by both ends of the asyncio adapter: a sending connection, and reading the few
control frames that are exchanged outside the AMST receiver. (HdeSettings, a plain value, lives
with the encoder it configures: dwcp/hde/settings.py.)"""

from __future__ import annotations

import asyncio
import socket

from novacron.dwcp.amst import Frame, FrameParser
from novacron.dwcp.hde.settings import HdeSettings

__all__ = ["HEADER", "HdeSettings", "StreamConn", "read_frame"]

HEADER = 28


class StreamConn:
    """One TCP(/TLS) connection of a sending channel and the queue its writer task drains."""

    def __init__(self, idx: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.idx, self.reader, self.writer = idx, reader, writer
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.congestion: str | None = None

    @property
    def sock(self) -> socket.socket:
        return self.writer.get_extra_info("socket")


async def read_frame(reader: asyncio.StreamReader, idx: int | None, *, max_payload: int = 4096) -> Frame:
    """One control frame (HELLO, HELLO_ACK, FIN_ACK, ABORT); its declared length is bounded first."""
    parser = FrameParser(idx, max_payload=max_payload)
    head = await reader.readexactly(HEADER)
    length = int.from_bytes(head[20:24], "big")
    frames = parser.feed(head)
    if not frames:
        frames = parser.feed(await reader.readexactly(length))
    return frames[0]
