"""The agent's DWCP listener: accepts mutually authenticated channels from peer agents and hands
each to the migration it names (see wire.py). A channel that names no migration this agent knows
is aborted; so is one that does not start with a header within HEADER_TIMEOUT_S of its HELLO.
TLS pipes come in on the same port (tunnel/pipe.py): their handshake and header are read on the
event loop (tunnel/pipe_accept.py), within the port's deadline for unauthenticated connections
and under its caps (tunnel/admission.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

from novacron.dwcp.admission import Limits
from novacron.migration.wire import ChannelHeader, HeaderError, HeaderParser
from novacron.transport import ChannelError, ChannelReader, ChannelServer
from novacron.transport.pipe import abort
from novacron.transport.pipe_accept import accept_pipe

log = logging.getLogger(__name__)
HEADER_TIMEOUT_S = 10.0
Dispatch = Callable[[ChannelHeader, ChannelReader, bytes], str | None]
DispatchPipe = Callable[[ChannelHeader, ssl.SSLSocket, str | None], str | None]


class MigrationListener:
    """`dispatch(header, reader, first_bytes)` returns None when it took the channel, else why not;
    `dispatch_pipe(header, tls_socket, peer)` the same for a pipe (`peer`: its certificate's CN). `limits`: for connections that have
    not authenticated yet (the defaults of tunnel/admission.py)."""

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext, dispatch: Dispatch, dispatch_pipe: DispatchPipe | None = None,
        *, limits: Limits | None = None,
    ) -> None:  # fmt: skip
        # little decoded data queued for QEMU: what waits here at the switch-over is downtime. The
        # kernel sizes the receive buffers (autotuning, up to net.ipv4.tcp_rmem[2]): a fixed
        # SO_RCVBUF is capped by net.core.rmem_max, too small for one pipe on a long fast path
        # (decisions.md: dwcp-port-autotuned-buffers). On HDE channels credit
        # (tunnel/reader.py) bounds the decoded bytes in flight whatever the buffers hold.
        self._server = ChannelServer(
            host, port, ssl=tls, sndbuf=None, rcvbuf=None, output_limit=4 << 20, limits=limits,
            pipe_handler=self._take_pipe if dispatch_pipe else None,
        )
        self._tls = tls
        self._dispatch = dispatch
        self._dispatch_pipe = dispatch_pipe
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self) -> None:
        await self._server.start()
        self._loop_task = asyncio.create_task(self._accept_loop(), name="dwcp-listener")

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for t in list(self._tasks):
            t.cancel()
        await self._server.close()

    async def _accept_loop(self) -> None:
        while True:
            reader = await self._server.accept()
            task = asyncio.create_task(self._route(reader))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _route(self, reader: ChannelReader) -> None:
        parser = HeaderParser()
        first = b""
        try:
            async with asyncio.timeout(HEADER_TIMEOUT_S):
                while parser.header is None:
                    data = await reader.read(4096)
                    if not data:
                        raise HeaderError("channel ended before its header")
                    first = parser.feed(data)
        except (HeaderError, ChannelError, TimeoutError) as exc:
            log.warning("DWCP channel refused: %s", exc or "no header in time")
            reader.abort(f"refused: {exc}")
            return
        assert parser.header is not None
        refused = self._dispatch(parser.header, reader, first)
        if refused:
            log.warning("DWCP channel for migration %s refused: %s", parser.header.migration, refused)
            reader.abort(refused)

    async def _take_pipe(self, sock: socket.socket) -> None:
        """A pipe's handshake and header (the server bounds the time and logs a failure), then the
        migration it names takes it."""
        assert self._dispatch_pipe is not None
        parser = HeaderParser()
        tls, peer = await accept_pipe(sock, self._tls, _until_header(parser))
        header = parser.header
        assert header is not None
        refused = self._dispatch_pipe(header, tls, peer)
        if refused:
            log.warning("DWCP pipe from %s for migration %s refused: %s", peer, header.migration, refused)
            abort(tls)
            tls.close()


def _until_header(parser: HeaderParser) -> Callable[[bytes], bool]:
    """Feeds the pipe's bytes to `parser`; True once the header is complete (raises HeaderError)."""

    def take(byte: bytes) -> bool:
        parser.feed(byte)
        return parser.header is not None

    return take
