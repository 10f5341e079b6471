"""open_channel: dial a ChannelServer with N TCP(/TLS) streams and hand back one sending Channel.

The first stream connects alone (the server creates the session on it), the others together; if
any fails, every stream opened so far is dropped and the caller gets one ChannelError.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from novacron.dwcp.amst import AmstSender
from novacron.dwcp.congestion import Congestion, check_congestion
from novacron.dwcp.hde.settings import HdeSettings
from novacron.transport.channel import Channel
from novacron.transport.errors import ChannelError
from novacron_sdk.errors import InvalidInput


async def open_channel(
    host: str,
    port: int,
    *,
    congestion: Congestion,
    streams: int = 4,
    ssl: ssl.SSLContext | None = None,
    sndbuf: int | None = 4 << 20,
    rcvbuf: int | None = 4 << 20,
    hde: HdeSettings | Mapping[str, Any] | None = None,
    server_hostname: str | None = None,
    segment_size: int = 256 << 10,
    window_bytes: int = 64 << 20,
    max_streams: int = 512,
    connect_timeout: float = 15.0,
    notsent_lowat: int | None = None,
    raw_window: int | None = None,
) -> Channel:
    """Connect `streams` TCP (TLS when `ssl` is given) streams to a ChannelServer as one channel.
    `congestion`: see dwcp/congestion.py ("adaptive" is decided per stream once it is connected)."""
    check_congestion(congestion)
    if not 1 <= streams <= max_streams:
        raise InvalidInput(f"must be 1..{max_streams}, not {streams}", field="streams")
    sender = AmstSender(
        streams=streams, segment_size=segment_size, window_bytes=window_bytes, max_streams=max_streams
    )
    ch = Channel(
        host,
        port,
        ssl_ctx=ssl,
        server_hostname=server_hostname,
        congestion=congestion,
        sndbuf=sndbuf,
        rcvbuf=rcvbuf,
        hde=HdeSettings.of(hde),
        sender=sender,
        connect_timeout=connect_timeout,
        notsent_lowat=notsent_lowat,
        raw_window=raw_window,
    )
    try:
        await ch.connect(0)
        await ch.connect_all(list(range(1, streams)))
    except BaseException as exc:
        await ch.discard()
        if isinstance(exc, ChannelError | asyncio.CancelledError):
            raise
        raise ChannelError(f"cannot open channel to {host}:{port}: {exc!r}") from exc
    return ch
