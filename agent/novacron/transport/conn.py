"""Pieces shared by both ends of the asyncio adapter: HDE settings, a sending connection, and
reading the few control frames that are exchanged outside the AMST receiver."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from novacron.dwcp.amst import Frame, FrameParser
from novacron_sdk.errors import InvalidInput

HEADER = 28


@dataclass(frozen=True)
class HdeSettings:
    """Encoder settings for a channel (see HdeEncoder); the lead maps CompressionConfig onto it."""

    algorithm: str = "zstd"
    level: int = 3
    chunk_size: int = 4096
    dict_capacity: int = 65536
    frame_bytes: int = 1 << 20
    mode: str = "adaptive"
    framing: str = "grid"  # "qemu": cut at QEMU's pre-copy records (chunk_size 4096, see HdeEncoder)

    @classmethod
    def of(cls, value: HdeSettings | Mapping[str, Any] | None) -> HdeSettings | None:
        if value is None or isinstance(value, HdeSettings):
            return value
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidInput(f"unknown keys {sorted(unknown)}", field="hde")
        return cls(**value)


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
