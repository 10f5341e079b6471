"""Copying between an AMST channel and one of QEMU's sockets, shared by both ends of a migration
(the source's return path, the destination's delivery)."""

from __future__ import annotations

import asyncio
import contextlib

from novacron.transport import ChannelReader

COPY_STEP = 1 << 20  # bytes per hand-over from a channel to a QEMU socket (each counts as delivered)


async def copy_out(reader: ChannelReader, writer: asyncio.StreamWriter, first: bytes = b"") -> int:
    """Channel -> socket until the channel ends; half-closes the socket after. Small steps: what
    the reader hands over counts as delivered (CREDIT), so it should be in the socket, not queued
    in the transport."""
    total = 0
    if first:
        writer.write(first)
        total += len(first)
    while data := await reader.read(COPY_STEP):
        writer.write(data)
        await writer.drain()
        total += len(data)
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
    return total


def abort_writer(writer: asyncio.StreamWriter | None) -> None:
    """Reset a QEMU connection at once (QEMU then fails its side of the migration)."""
    if writer is not None and writer.transport is not None:
        writer.transport.abort()
