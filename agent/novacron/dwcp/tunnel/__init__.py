"""Thin asyncio adapter that runs the HDE and AMST cores over real TCP/TLS sockets.

open_channel() -> Channel (sending end), ChannelServer -> ChannelReader (receiving end),
proxy_into_channel / proxy_from_channel to carry a plain TCP connection, make_tls_contexts for mTLS.
"""

from novacron.dwcp.tunnel.channel import Channel, open_channel
from novacron.dwcp.tunnel.conn import HdeSettings
from novacron.dwcp.tunnel.errors import ChannelError
from novacron.dwcp.tunnel.reader import ChannelReader
from novacron.dwcp.tunnel.relay import proxy_from_channel, proxy_into_channel
from novacron.dwcp.tunnel.server import ChannelServer
from novacron.dwcp.tunnel.tls import TlsContexts, make_tls_contexts

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelReader",
    "ChannelServer",
    "HdeSettings",
    "TlsContexts",
    "make_tls_contexts",
    "open_channel",
    "proxy_from_channel",
    "proxy_into_channel",
]
