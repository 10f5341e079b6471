"""Where a peer agent's DWCP listener is, and the name its certificate must carry.

Its own module because both ends of a migration's data path dial peers (the source's carriers,
the destination's return channels and pipes) and neither end should import the other for it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class PeerEndpoint:
    host: str
    port: int
    server_name: str
    tls: ssl.SSLContext
