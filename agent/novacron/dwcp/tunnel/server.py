"""ChannelServer: accepts TCP(/TLS) connections, groups them into channels by the session id of
their HELLO, and hands out one ChannelReader per channel (see reader.py for the receiving logic).

A client without a valid certificate fails the TLS handshake inside asyncio and never reaches the
HELLO step; a connection that does not say HELLO within `hello_timeout` is dropped.

With a `pipe_handler`, the same port also takes TLS pipes (pipe.py): a connection whose first
bytes are the pipe PREAMBLE (an AMST stream starts with a TLS ClientHello instead) is handed,
preamble consumed, TLS not yet started, to the handler as a plain socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

from novacron.dwcp.amst import AmstProtocolError, FrameParser, FrameType
from novacron.dwcp.amst.frames import FLAG_CREDIT, FLAG_HDE, HEADER, SESSION_ID_LEN, encode_frame
from novacron.dwcp.tunnel import sockopts
from novacron.dwcp.tunnel.pipe_wire import PREAMBLE
from novacron.dwcp.tunnel.reader import ChannelReader

log = logging.getLogger(__name__)
HELLO_MAX = 4096


class StreamProtocol(asyncio.Protocol):
    """One incoming connection: parses the HELLO, then passes every byte to its ChannelReader."""

    def __init__(self, server: ChannelServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.channel: ChannelReader | None = None
        self.idx = -1
        self._hello = bytearray()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._conns.add(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # this end only writes small control frames (HELLO_ACK, CREDIT, FIN_ACK): no Nagle, or a
            # CREDIT waits for the ACK of the previous one and the sender stalls on its raw window
            sockopts.set_nodelay(sock, True)
        self._timer = asyncio.get_running_loop().call_later(self.server.hello_timeout, self._no_hello)

    def data_received(self, data: bytes) -> None:
        if self.channel is not None:
            self.channel.on_data(self.idx, data)
            return
        self._hello += data
        if len(self._hello) < HEADER.size:
            return
        length = int.from_bytes(self._hello[20:24], "big")
        if length > HELLO_MAX:
            return self._refuse(f"HELLO of {length} bytes")
        if len(self._hello) < HEADER.size + length:
            return
        raw, rest = bytes(self._hello[: HEADER.size + length]), bytes(self._hello[HEADER.size + length :])
        self._hello.clear()
        try:
            frame = FrameParser(None, max_payload=HELLO_MAX).feed(raw)[0]
        except AmstProtocolError as exc:
            return self._refuse(str(exc))
        if frame.type != FrameType.HELLO or len(frame.payload) != SESSION_ID_LEN:
            return self._refuse(f"expected HELLO, got {frame.type.name}")
        if self._timer is not None:
            self._timer.cancel()
        self.idx = frame.stream
        channel, why = self.server._join(
            frame.payload, frame.stream, bool(frame.flags & FLAG_HDE), self.transport
        )
        if channel is None:
            return self._refuse(why or "refused")
        assert self.transport is not None
        credit = bool(frame.flags & FLAG_CREDIT)
        if credit:
            channel.enable_credit()
        self.transport.write(encode_frame(FrameType.HELLO_ACK, stream=self.idx, flags=FLAG_CREDIT if credit else 0))
        self.channel = channel
        if rest:
            channel.on_data(self.idx, rest)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.server._conns.discard(self.transport)
        if self.channel is not None:
            self.channel.on_lost(self.idx, exc)
            self.server._forget(self.channel)

    def _no_hello(self) -> None:
        if self.channel is None and self.transport is not None:
            log.warning(
                "DWCP connection from %s sent no HELLO in time", self.transport.get_extra_info("peername")
            )
            self.transport.abort()

    def _refuse(self, why: str) -> None:
        log.warning("DWCP connection refused: %s", why)
        if self.transport is not None:
            idx = max(self.idx, 0)
            self.transport.write(encode_frame(FrameType.ABORT, stream=idx, payload=why.encode()[:HELLO_MAX]))
            self.transport.close()


class ChannelServer:
    """Listens for DWCP channels. Use `async with ChannelServer(...) as srv:` then `await srv.accept()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl: ssl.SSLContext | None = None,
        sndbuf: int | None = 4 << 20,
        rcvbuf: int | None = 4 << 20,
        reorder_limit: int = 64 << 20,
        output_limit: int = 32 << 20,
        max_streams: int = 512,
        hello_timeout: float = 15.0,
        pipe_handler: Callable[[socket.socket], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._ssl = ssl
        self._bufs = (sndbuf, rcvbuf)
        self._limits = (reorder_limit, output_limit, max_streams)
        self.hello_timeout = hello_timeout
        self._server: asyncio.Server | None = None
        self._sessions: dict[bytes, ChannelReader] = {}
        self._accepted: asyncio.Queue[ChannelReader] = asyncio.Queue()
        self._conns: set[asyncio.Transport] = set()
        self._pipe_handler = pipe_handler
        self._listen: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._sorting: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ChannelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        sndbuf, rcvbuf = self._bufs
        sock = sockopts.listening_socket(
            self.host, self.port, lambda s: sockopts.tune_socket(s, sndbuf=sndbuf, rcvbuf=rcvbuf)
        )
        self.port = sock.getsockname()[1]
        if self._pipe_handler is not None:
            self._listen = sock
            self._acceptor = asyncio.create_task(self._accept_loop(sock), name="dwcp-accept")
            return
        self._server = await asyncio.get_running_loop().create_server(
            lambda: StreamProtocol(self),
            sock=sock,
            ssl=self._ssl,
            ssl_handshake_timeout=self.hello_timeout if self._ssl else None,
        )

    async def accept(self) -> ChannelReader:
        return await self._accepted.get()

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(lsock)
            task = asyncio.create_task(self._sort(conn))
            self._sorting.add(task)
            task.add_done_callback(self._sorting.discard)

    async def _sort(self, conn: socket.socket) -> None:
        """Pipe or AMST stream, by the first bytes (peeked, so TLS still sees its ClientHello)."""
        try:
            async with asyncio.timeout(self.hello_timeout):
                head = await _peek(conn, len(PREAMBLE))
        except (OSError, TimeoutError):
            conn.close()
            return
        except asyncio.CancelledError:  # the server is closing
            conn.close()
            raise
        assert self._pipe_handler is not None
        if head == PREAMBLE:
            conn.recv(len(PREAMBLE))
            self._pipe_handler(conn)
            return
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: StreamProtocol(self), conn, ssl=self._ssl,
                ssl_handshake_timeout=self.hello_timeout if self._ssl else None,
            )  # fmt: skip
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.warning("DWCP connection failed before its HELLO: %r", exc)
            conn.close()

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            for t in list(self._sorting):
                t.cancel()
            if self._listen is not None:
                self._listen.close()
            self._acceptor = None
        if self._server is not None:
            self._server.close()
        for t in list(self._conns):
            t.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    def _join(
        self, session: bytes, idx: int, hde: bool, transport: asyncio.Transport | None
    ) -> tuple[ChannelReader | None, str | None]:
        assert transport is not None
        chan = self._sessions.get(session)
        if chan is None:
            reorder, output, max_streams = self._limits
            chan = ChannelReader(
                session, hde=hde, reorder_limit=reorder, max_streams=max_streams, output_limit=output
            )
            self._sessions[session] = chan
            self._accepted.put_nowait(chan)
        elif chan.hde != hde:
            return None, "HDE flag differs from the channel's first stream"
        why = chan.attach(idx, transport)
        return (None, why) if why else (chan, None)

    def _forget(self, chan: ChannelReader) -> None:
        if (chan.finished or chan.failed) and not chan.streams:
            self._sessions.pop(chan.session_id, None)


async def _peek(conn: socket.socket, n: int) -> bytes:
    """The first n bytes, left in the socket; fewer only when they already rule the preamble out
    (a TLS record starts with 0x16) or the peer closed."""
    loop = asyncio.get_running_loop()
    while True:
        ready = loop.create_future()
        loop.add_reader(conn.fileno(), _settle, ready)
        try:
            await ready
        finally:
            loop.remove_reader(conn.fileno())
        head = conn.recv(n, socket.MSG_PEEK)
        if len(head) >= n or not head or not PREAMBLE.startswith(head):
            return head
        await asyncio.sleep(0.005)  # a preamble split across segments: wait for the rest


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
