"""Receiving end: ChannelServer accepts TCP(/TLS) connections, groups them into channels by the
session id of their HELLO, and hands out one ChannelReader per channel.

Each stream of a channel has a task that reads only while AmstReceiver.should_read() allows and
the reader's output queue has room, so a slow consumer or a stalled stream pushes back through TCP
to the sender instead of growing memory. A client without a valid certificate fails the TLS
handshake inside asyncio and never reaches the HELLO step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import deque
from typing import Any

from novacron.dwcp.amst import (
    Aborted,
    AmstProtocolError,
    AmstReceiver,
    Data,
    EndOfChannel,
    FrameType,
    StreamClosed,
)
from novacron.dwcp.amst.frames import FLAG_HDE, SESSION_ID_LEN, encode_frame
from novacron.dwcp.hde import HdeDecoder, HdeProtocolError
from novacron.dwcp.tunnel import sockopts
from novacron.dwcp.tunnel.conn import read_frame
from novacron.dwcp.tunnel.errors import ChannelError

log = logging.getLogger(__name__)
READ_SIZE = 256 << 10


class ChannelReader:
    """The byte stream of one incoming channel: `await read()` until it returns b"" (complete)."""

    def __init__(
        self, session_id: bytes, *, hde: bool, reorder_limit: int, max_streams: int, output_limit: int
    ) -> None:
        self.session_id = session_id
        self.hde = hde
        self.rx = AmstReceiver(reorder_limit=reorder_limit, max_streams=max_streams)
        self.bytes_out = 0
        self._decoder = HdeDecoder() if hde else None
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._out_limit = output_limit
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self.streams_seen: set[int] = set()  # every stream index that ever joined (for stats/tests)
        self._error: ChannelError | None = None
        self._ended = False
        self._changed = asyncio.Event()
        self._decode_lock = asyncio.Lock()

    @property
    def streams(self) -> int:
        return len(self._writers)

    @property
    def finished(self) -> bool:
        return self._ended

    def __aiter__(self) -> ChannelReader:
        return self

    async def __anext__(self) -> bytes:
        data = await self.read()
        if not data:
            raise StopAsyncIteration
        return data

    async def read(self, max_bytes: int = 4 << 20) -> bytes:
        """Next decoded bytes, in order; b"" once the channel ended complete. Raises ChannelError."""
        while True:
            if self._error is not None:
                raise self._error
            if not self._out:
                if self._ended:
                    self._finish_decoder()
                    return b""
                await self._changed.wait()
                continue
            parts, size = [], 0
            while self._out and size < max_bytes:
                part = self._out.popleft()
                parts.append(part)
                size += len(part)
            self._out_bytes -= size
            self._notify()
            data = b"".join(parts)
            if self._decoder is not None:
                async with self._decode_lock:  # the decoder is not reentrant; decode off the loop
                    try:
                        data = await asyncio.to_thread(self._decode, data)
                    except HdeProtocolError as exc:
                        self._fail(ChannelError(f"HDE stream corrupt: {exc}"))
                        raise self._error from exc  # type: ignore[misc]
            if data:
                self.bytes_out += len(data)
                return data

    def abort(self, reason: str) -> None:
        """Fail the channel locally and drop its connections."""
        self._fail(ChannelError(reason))

    # -- internals -----------------------------------------------------------------------------
    def _decode(self, data: bytes) -> bytes:
        """Runs in a worker thread: touches only the decoder."""
        assert self._decoder is not None
        out = self._decoder.feed(data)
        while self._decoder.has_backlog:
            out += self._decoder.feed(b"")
        return out

    def _finish_decoder(self) -> None:
        if self._decoder is not None:
            try:
                self._decoder.close()
            except HdeProtocolError as exc:
                self._fail(ChannelError(f"HDE stream incomplete: {exc}"))
                raise self._error from exc  # type: ignore[misc]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _fail(self, error: ChannelError) -> None:
        if self._error is None:
            self._error = error
            for w in self._writers.values():
                w.transport.abort()
        self._notify()

    def _may_read(self, idx: int) -> bool:
        return self.rx.should_read(idx) and self._out_bytes < self._out_limit

    async def run_stream(self, idx: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers[idx] = writer
        self.streams_seen.add(idx)
        self._notify()
        try:
            while self._error is None:
                while not self._may_read(idx):
                    if (
                        self._error is not None
                        or self._ended
                        or self.rx.aborted is not None
                        or self.rx.is_closed(idx)
                    ):
                        return
                    await self._changed.wait()
                data = await reader.read(READ_SIZE)
                if not data:
                    if not self._ended:
                        self._fail(ChannelError(f"stream {idx} closed before the end of the channel"))
                    return
                self._handle(idx, self.rx.feed(idx, data))
        except AmstProtocolError as exc:
            self._fail(ChannelError(f"protocol error: {exc}"))
        except (OSError, ssl.SSLError) as exc:
            if not self._ended:
                self._fail(ChannelError(f"stream {idx} failed: {exc!r}"))
        finally:
            self._writers.pop(idx, None)
            writer.close()

    def _handle(self, idx: int, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, Data):
                self._out.append(ev.data)
                self._out_bytes += len(ev.data)
            elif isinstance(ev, EndOfChannel):
                self._ended = True
                w = self._writers.get(ev.fin_stream)
                if w is not None:
                    w.write(self.rx.fin_ack(ev.fin_stream))
            elif isinstance(ev, Aborted):
                self._fail(ChannelError(f"sender aborted the channel: {ev.reason}"))
            elif isinstance(ev, StreamClosed):
                log.debug("stream %d retired by the sender", ev.stream)
        self._notify()


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
    ) -> None:
        self.host, self.port = host, port
        self._ssl = ssl
        self._bufs = (sndbuf, rcvbuf)
        self._limits = (reorder_limit, output_limit, max_streams)
        self._hello_timeout = hello_timeout
        self._server: asyncio.Server | None = None
        self._sessions: dict[bytes, ChannelReader] = {}
        self._accepted: asyncio.Queue[ChannelReader] = asyncio.Queue()
        self._conns: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> ChannelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sockopts.tune_socket(sock, sndbuf=self._bufs[0], rcvbuf=self._bufs[1])  # inherited on accept
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(
            self._on_connection,
            sock=sock,
            ssl=self._ssl,
            limit=1 << 20,
            ssl_handshake_timeout=self._hello_timeout if self._ssl else None,
        )

    async def accept(self) -> ChannelReader:
        return await self._accepted.get()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            sockopts.disable_nodelay(writer.get_extra_info("socket"))
            try:
                frame = await asyncio.wait_for(read_frame(reader, None), self._hello_timeout)
            except (
                AmstProtocolError,
                asyncio.IncompleteReadError,
                TimeoutError,
                OSError,
                ssl.SSLError,
            ) as exc:
                log.warning(
                    "DWCP connection from %s dropped before HELLO: %r", writer.get_extra_info("peername"), exc
                )
                return
            idx = frame.stream
            if frame.type != FrameType.HELLO or len(frame.payload) != SESSION_ID_LEN:
                writer.write(encode_frame(FrameType.ABORT, stream=idx, payload=b"expected HELLO"))
                return
            chan = self._sessions.get(frame.payload)
            hde = bool(frame.flags & FLAG_HDE)
            if chan is None:
                reorder, output, max_streams = self._limits
                chan = ChannelReader(
                    frame.payload,
                    hde=hde,
                    reorder_limit=reorder,
                    max_streams=max_streams,
                    output_limit=output,
                )
                self._sessions[frame.payload] = chan
                self._accepted.put_nowait(chan)
            elif chan.finished or chan._error is not None or chan.hde != hde or idx in chan._writers:
                writer.write(
                    encode_frame(FrameType.ABORT, stream=idx, payload=b"session closed or stream in use")
                )
                return
            writer.write(encode_frame(FrameType.HELLO_ACK, stream=idx))
            await chan.run_stream(idx, reader, writer)
            if (chan.finished or chan._error is not None) and not chan._writers:
                self._sessions.pop(chan.session_id, None)
        finally:
            self._conns.discard(writer)
            writer.close()
