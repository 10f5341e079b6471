"""Thin asyncio adapter that runs the HDE and AMST cores over real TCP/TLS sockets.

open_channel() -> Channel (sending end), ChannelServer -> ChannelReader (receiving end),
proxy_into_channel / proxy_from_channel to carry a plain TCP connection, make_tls_contexts for mTLS.
"""

from novacron.dwcp.hde.settings import HdeSettings
from novacron.transport.channel import Channel
from novacron.transport.dial import open_channel
from novacron.transport.errors import ChannelError
from novacron.transport.reader import ChannelReader
from novacron.transport.relay import proxy_from_channel, proxy_into_channel
from novacron.transport.server import ChannelServer
from novacron.transport.tls import TlsContexts, make_tls_contexts

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
