"""The API's listening socket: accepted connections must get TCP_NODELAY from asyncio."""

from __future__ import annotations

import asyncio
import socket

import pytest

from novacron.runtime.server import _bind
from tests.tooling.wait import until_async


def test_listening_socket_is_tcp_proto() -> None:
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_accepted_connections_have_nodelay() -> None:
    """Without TCP_NODELAY every keep-alive response waits for the client's delayed ACK (~40 ms)."""
    seen: list[int] = []

    async def main() -> None:
        sock = _bind("127.0.0.1", 0)

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handler, sock=sock)
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await until_async("the server's handler", lambda: seen, timeout=5)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_busy_port_names_the_field() -> None:
    first = _bind("127.0.0.1", 0)
    try:
        with pytest.raises(RuntimeError, match="api.port"):
            _bind("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
