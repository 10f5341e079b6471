"""Carry a plain TCP connection (QEMU's migration socket) through a DWCP channel and out again.

Source agent: QEMU connects to a local port, proxy_into_channel copies its bytes into the channel.
Destination agent: proxy_from_channel copies the channel's bytes into the local QEMU's incoming
socket. HDE batches into frames, so when the source pauses for `idle_flush` seconds the channel is
flushed: a migration's last bytes must not sit in a buffer while QEMU waits for the switch-over.
"""

from __future__ import annotations

import asyncio
import contextlib

from novacron.transport.channel import Channel
from novacron.transport.errors import ChannelError
from novacron.transport.reader import ChannelReader


async def proxy_into_channel(
    reader: asyncio.StreamReader,
    channel: Channel,
    *,
    read_size: int = 1 << 20,
    idle_flush: float = 0.005,
    close: bool = True,
) -> int:
    """Copy `reader` until EOF into `channel`; returns the byte count. close=True ends the channel
    (FIN + wait for the receiver's confirmation) after EOF; if the source fails, the channel is
    aborted so the receiving agent stops waiting."""
    try:
        total = await _copy_in(reader, channel, read_size, idle_flush)
    except ChannelError:
        raise
    except BaseException as exc:  # the source broke (or we were cancelled): tell the receiver
        await channel.abort(f"source connection failed: {exc!r}")
        raise
    if close:
        await channel.close()
    else:
        await channel.flush()
    return total


async def _copy_in(reader: asyncio.StreamReader, channel: Channel, read_size: int, idle_flush: float) -> int:
    total = 0
    flushed = True
    while True:
        if flushed:
            data = await reader.read(read_size)
        else:
            try:
                async with asyncio.timeout(idle_flush):
                    data = await reader.read(read_size)
            except TimeoutError:
                await channel.flush()
                flushed = True
                continue
        if not data:
            break
        await channel.write(data)
        total += len(data)
        flushed = False
    return total


async def proxy_from_channel(
    channel: ChannelReader, writer: asyncio.StreamWriter, *, close: bool = True
) -> int:
    """Copy the channel's bytes into `writer` until the channel ends complete; returns the count."""
    total = 0
    try:
        async for data in channel:
            writer.write(data)
            await writer.drain()
            total += len(data)
        if close and writer.can_write_eof():
            writer.write_eof()
    finally:
        if close:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return total
