"""A minimal HTTP/1.1 GET for the agent's own readiness checks.

The boot's last phase asks its own API and metrics endpoints over the network, as a load
balancer would. A full HTTP client costs a noticeable share of boot time to import; a status line
is all these checks need.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit


async def http_status(url: str, *, cafile: str | None = None, timeout: float = 5.0) -> int:
    """Status code of `GET url`; raises OSError/TimeoutError/ValueError on failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"cannot check {url!r}: need an http(s) URL with a host")
    context = None
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        if cafile is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    port = parts.port or (443 if context else 80)
    path = parts.path or "/"
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
        try:
            host = parts.netloc.rsplit("@", 1)[-1]
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
    fields = status_line.decode("latin-1").split()
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ValueError(f"{url}: not an HTTP answer: {status_line[:80]!r}")
    return int(fields[1])
