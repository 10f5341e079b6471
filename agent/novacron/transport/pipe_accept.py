"""The accept side of a TLS pipe (pipe.py), driven by the event loop: the TLS handshake and the
pipe's first bytes (its header) occupy no thread while the peer is slow or silent, so connections
that stall before they authenticate cannot hold up the pipes that do (the deadline and the caps on
such connections are the server's: server.py, admission.py).

The pipe is then handed over as a blocking `ssl.SSLSocket`, the kind the pipe threads use, with
nothing read past the header: bytes TLS has decrypted but the caller has not taken stay in the
socket (`pending()`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

from novacron.transport import sockopts
from novacron.transport.pipe import abort


async def accept_pipe(
    sock: socket.socket, ctx: ssl.SSLContext, take: Callable[[bytes], bool]
) -> tuple[ssl.SSLSocket, str | None]:
    """TLS handshake as the server on `sock` (its preamble already consumed), then the pipe's bytes
    one at a time to `take` until it returns True. Returns the pipe (blocking) and the common name
    of the peer's certificate. On any error, or if cancelled, the connection is broken and closed
    and the error raised (`take` may raise too)."""
    try:
        sock.setblocking(False)
        sockopts.set_nodelay(sock, True)
        tls = ctx.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=False
        )
    except BaseException:
        sock.close()
        raise
    try:
        await _retry(tls, tls.do_handshake)
        while True:
            byte = await _retry(tls, tls.recv, 1)
            if not byte:
                raise ConnectionError("the pipe ended before its header")
            if take(byte):
                break
    except BaseException:
        abort(tls)
        tls.close()
        raise
    tls.setblocking(True)
    return tls, peer_common_name(tls)


def peer_common_name(tls: ssl.SSLSocket) -> str | None:
    """The subject CN of the verified peer certificate (a node certificate's CN is its node_id)."""
    cert = tls.getpeercert() or {}
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


async def _retry(tls: ssl.SSLSocket, op: Callable[..., Any], *args: Any) -> Any:
    """`op` on the non-blocking socket, retried whenever the socket is ready for what TLS wants."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return op(*args)
        except ssl.SSLWantReadError:
            await _ready(loop, tls.fileno(), write=False)
        except ssl.SSLWantWriteError:
            await _ready(loop, tls.fileno(), write=True)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    ready = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        remove(fd)
