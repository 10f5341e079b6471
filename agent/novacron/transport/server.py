"""ChannelServer: accepts TCP(/TLS) connections, groups them into channels by the session id of
their HELLO, and hands out one ChannelReader per channel (see reader.py for the receiving logic).

A client without a valid certificate fails the TLS handshake inside asyncio and never reaches the
HELLO step. Before it authenticates, a connection is bounded (admission.py): one deadline from the
accept to its HELLO (to its header, for a pipe), and caps on how many such connections may be
open at once, in all and per source address; a connection over a cap is reset at once. Every
handshake runs on the event loop, so stalled connections cost a socket each, never a thread.

With a `pipe_handler`, the same port also takes TLS pipes (pipe.py): a connection whose first
bytes are the pipe PREAMBLE (an AMST stream starts with a TLS ClientHello instead) is handed,
preamble consumed, TLS not yet started, to the handler as a plain socket. The handler is awaited
within the deadline and owns the socket from then on (pipe_accept.py does its handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

from novacron.dwcp.admission import Admission, Limits, Throttle, source_of
from novacron.dwcp.amst import AmstProtocolError, FrameParser, FrameType
from novacron.dwcp.amst.frames import FLAG_CREDIT, FLAG_HDE, HEADER, SESSION_ID_LEN, encode_frame
from novacron.dwcp.pipe_wire import PREAMBLE
from novacron.transport import sockopts
from novacron.transport.reader import ChannelReader

log = logging.getLogger(__name__)
HELLO_MAX = 4096
# accept() out of descriptors or buffers: what it waits before trying again (the error repeats
# at once otherwise, and the loop would spin)
ACCEPT_RETRY_S = 0.1
PipeHandler = Callable[[socket.socket], Awaitable[None]]


class StreamProtocol(asyncio.Protocol):
    """One incoming connection: parses the HELLO, then passes every byte to its ChannelReader.
    `settled` is done once the HELLO was taken or refused, or the connection was lost."""

    def __init__(self, server: ChannelServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.channel: ChannelReader | None = None
        self.idx = -1
        self._hello = bytearray()
        self.settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._conns.add(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # this end only writes small control frames (HELLO_ACK, CREDIT, FIN_ACK): no Nagle, or a
            # CREDIT waits for the ACK of the previous one and the sender stalls on its raw window
            sockopts.set_nodelay(sock, True)

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
        self._settle()
        if rest:
            channel.on_data(self.idx, rest)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle()
        if self.transport is not None:
            self.server._conns.discard(self.transport)
        if self.channel is not None:
            self.channel.on_lost(self.idx, exc)
            self.server._forget(self.channel)

    def _settle(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)

    def _refuse(self, why: str) -> None:
        log.warning("DWCP connection refused: %s", why)
        self._settle()
        if self.transport is not None:
            idx = max(self.idx, 0)
            self.transport.write(encode_frame(FrameType.ABORT, stream=idx, payload=why.encode()[:HELLO_MAX]))
            self.transport.close()


class ChannelServer:
    """Listens for DWCP channels. Use `async with ChannelServer(...) as srv:` then `await srv.accept()`.
    `limits` bound the connections that have not authenticated yet (admission.py)."""

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
        limits: Limits | None = None,
        pipe_handler: PipeHandler | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._ssl = ssl
        self._bufs = (sndbuf, rcvbuf)
        self._limits = (reorder_limit, output_limit, max_streams)
        self.admission = Admission(limits or Limits())
        self._throttle = Throttle(self.admission.limits.log_interval_s)
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
        self._listen = sock
        self._acceptor = asyncio.create_task(self._accept_loop(sock), name="dwcp-accept")

    async def accept(self) -> ChannelReader:
        return await self._accepted.get()

    async def _accept_loop(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(lsock)
            except OSError as exc:  # the listener itself stays: nothing here may end the loop
                self._warn(("accept", exc.errno), "DWCP accept failed: %s", exc)
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            source = source_of(addr)
            why = self.admission.admit(source)
            if why is not None:
                _reset(conn)
                self._warn((source, "cap"), "DWCP connection from %s reset: %s", addr, why)
                continue
            task = asyncio.create_task(self._sort(conn, addr, source))
            self._sorting.add(task)
            task.add_done_callback(self._sorting.discard)

    async def _sort(self, conn: socket.socket, addr: object, source: str) -> None:
        """Pipe or AMST stream, by the first bytes (peeked, so TLS still sees its ClientHello),
        then its handshake, all within the one deadline and holding one of the source's slots."""
        owned = True  # until the socket goes to the pipe handler or to an asyncio transport
        try:
            async with asyncio.timeout(self.admission.limits.deadline_s):
                if self._pipe_handler is not None and await _peek(conn, len(PREAMBLE)) == PREAMBLE:
                    conn.recv(len(PREAMBLE))
                    owned = False
                    await self._pipe_handler(conn)
                    return
                owned = False
                await self._stream(conn)
        except TimeoutError:
            self._warn(
                (source, "deadline"), "DWCP connection from %s closed: not authenticated within %.1f s",
                addr, self.admission.limits.deadline_s,
            )  # fmt: skip
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; a pipe's bad header a ValueError
            self._warn((source, "failed"), "DWCP connection from %s failed before it authenticated: %r", addr, exc)
        finally:
            self.admission.release(source)
            if owned:
                conn.close()

    async def _stream(self, conn: socket.socket) -> None:
        """An AMST stream: TLS in asyncio, then its HELLO (the transport owns the socket)."""
        proto = StreamProtocol(self)
        transport, _ = await asyncio.get_running_loop().connect_accepted_socket(lambda: proto, conn, ssl=self._ssl)
        try:
            await proto.settled
        except BaseException:  # the deadline
            transport.abort()
            raise

    def _warn(self, key: object, msg: str, *args: object) -> None:
        """A warning, at most one per key and interval; the line counts those it stands for."""
        count = self._throttle.note(key, asyncio.get_running_loop().time())
        if count is not None:
            log.warning(msg + (f" [{count} such since the last such line]" if count > 1 else ""), *args)

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            for t in list(self._sorting):
                t.cancel()
            if self._listen is not None:
                self._listen.close()
            self._acceptor = None
        for t in list(self._conns):
            t.abort()

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


def _reset(conn: socket.socket) -> None:
    """Close with a reset: no TIME_WAIT here for a connection refused at once."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
