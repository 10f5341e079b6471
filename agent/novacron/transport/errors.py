"""The error a DWCP channel raises to its user, whatever broke underneath (socket, TLS, protocol)."""

from __future__ import annotations

from novacron_sdk.errors import NovacronError


class ChannelError(NovacronError):
    """The channel cannot carry on: the peer aborted, a stream died early, or the bytes were corrupt.
    A migration that sees it has lost data in flight and must be retried from the start."""

    status = 502
    title = "DWCP channel failed"
