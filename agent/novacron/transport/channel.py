"""Sending end of a DWCP channel: HDE encoder + AMST sender driven over N asyncio TCP(/TLS) streams.

Each stream has a writer task fed by a queue; the AmstSender decides which queue gets a segment and
holds the window (write() waits while the queues hold `window_bytes`). close() sends FIN and waits
for the receiver's FIN_ACK, so a returned close() means the other agent has every byte.
The receiver reports how many decoded bytes its consumer has taken (CREDIT frames, read by one
control task per stream; see reader.py): `undelivered` is what the far end still has to decode and
deliver. With `raw_window` set, write() also waits while undelivered >= raw_window: the send window
counts compressed bytes, this one counts the far end's backlog.
Live changes (apply_settings) only touch what the next frame or segment uses, or add/retire
streams through the AMST control frames, so nothing in flight is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import time
from typing import Any

from novacron.dwcp.amst import FLAG_CREDIT, AmstSender, FrameType, StreamController, hello
from novacron.dwcp.congestion import Congestion, check_congestion
from novacron.dwcp.hde import HdeEncoder
from novacron.dwcp.hde.settings import HdeSettings
from novacron.transport import sockopts
from novacron.transport.autotune import autotune
from novacron.transport.conn import StreamConn, read_frame
from novacron.transport.errors import ChannelError
from novacron_sdk.errors import InvalidInput


class Channel:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_ctx: ssl.SSLContext | None,
        server_hostname: str | None,
        congestion: Congestion,
        sndbuf: int | None,
        rcvbuf: int | None,
        hde: HdeSettings | None,
        sender: AmstSender,
        connect_timeout: float,
        notsent_lowat: int | None = None,
        raw_window: int | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.raw_window = raw_window
        self.delivered = 0  # decoded bytes the receiver's consumer has taken (CREDIT)
        self._credit_on = False
        self._fin_ack: asyncio.Future[Any] | None = None
        self._fin_ack_idx = -1
        self._controls: list[asyncio.Task[None]] = []
        self.session_id = os.urandom(16)
        self.congestion: Congestion = congestion
        self.hde = HdeEncoder(**vars(hde)) if hde else None
        self.sender = sender
        self.bytes_in = 0
        self._ssl, self._server_hostname = ssl_ctx, server_hostname
        self._bufs = (sndbuf, rcvbuf)
        self._timeout = connect_timeout
        self._lowat = notsent_lowat
        self._streams: dict[int, StreamConn] = {}
        self._retired: list[StreamConn] = []
        self._error: BaseException | None = None
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()  # one write/flush at a time: the encoder is not reentrant
        self._autotune: asyncio.Task[None] | None = None
        self._closed = False

    # -- public --------------------------------------------------------------------------------
    @property
    def streams(self) -> int:
        return len(self.sender.active)

    @property
    def undelivered(self) -> int | None:
        """Bytes written to the channel that the receiver's consumer has not yet taken (None: the
        receiver sends no CREDIT frames). What is in here when QEMU stops the guest is downtime."""
        return self.bytes_in - self.delivered if self._credit_on else None

    @property
    def congestion_in_use(self) -> dict[int, str | None]:
        return {i: s.congestion for i, s in self._streams.items()}

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue `data` on the channel; waits while the send window is full (back-pressure)."""
        self._check()
        async with self._lock:
            while self._credit_on and self.raw_window and self.bytes_in - self.delivered >= self.raw_window:
                self._check()
                await self._changed.wait()
            self.bytes_in += len(data)
            if self.hde is not None:
                # in a worker thread: zstd and crc32 release the GIL, so encoding this write overlaps
                # with the event loop sending the previous one
                frames = await asyncio.to_thread(self._encode, bytes(data))
                if frames:
                    await self._send(frames)
            elif data:
                await self._send(data)

    async def flush(self) -> None:
        """Push out what HDE buffers (call when the source goes idle, or latency suffers)."""
        self._check()
        if self.hde is not None:
            async with self._lock:
                frames = self._encode(None)
                if frames:
                    await self._send(frames)

    def _encode(self, data: bytes | None) -> bytes:
        """encode(data), or flush() for None, timed for the encoder's adaptive compression."""
        assert self.hde is not None
        t0 = time.perf_counter()
        frames = self.hde.flush() if data is None else self.hde.encode(data)
        self.hde.record_elapsed(time.perf_counter() - t0)
        return b"".join(frames)

    async def close(self, timeout: float = 60.0) -> None:
        """Flush, send FIN, wait until the receiver confirms it has everything, close the streams."""
        if self._closed:
            return
        try:
            await self.flush()
        except ChannelError:
            self._closed = True
            await self._teardown(graceful=False)
            raise
        idx, fin = self.sender.close()
        self._closed = True
        if self._credit_on:  # the stream's control task reads its FIN_ACK
            self._fin_ack = asyncio.get_running_loop().create_future()
            self._fin_ack_idx = idx
        self._streams[idx].queue.put_nowait(fin)
        try:
            if self._fin_ack is not None:
                frame = await asyncio.wait_for(asyncio.shield(self._fin_ack), timeout)
            else:
                frame = await asyncio.wait_for(read_frame(self._streams[idx].reader, idx), timeout)
        except Exception as exc:
            await self._teardown(graceful=False)
            raise ChannelError(f"no FIN_ACK from the receiver: {self._error or exc!r}") from exc
        await self._teardown()
        if frame.type != FrameType.FIN_ACK:
            raise ChannelError(f"receiver answered FIN with {frame.type.name}: {frame.payload[:200]!r}")

    async def abort(self, reason: str) -> None:
        """Give up: tell the receiver why (best effort, within a second) and drop the connections."""
        if not self._closed:
            for idx, frame in self.sender.abort(reason):
                if idx in self._streams:
                    self._streams[idx].queue.put_nowait(frame)
            self._closed = True
        await self._teardown(graceful=False, grace=1.0)

    async def discard(self) -> None:
        """Drop every stream at once, without a word to the receiver (a channel that failed to open)."""
        self._closed = True
        await self._teardown(graceful=False)

    async def apply_settings(
        self,
        *,
        streams: int | None = None,
        compression_level: int | None = None,
        compression: str | None = None,
        hde_mode: str | None = None,
        link_rate: float | None = None,
        congestion: Congestion | None = None,
        segment_size: int | None = None,
    ) -> dict[str, Any]:
        """Change the channel while it runs; returns the settings now in force."""
        self._check()
        if congestion is not None:
            self.congestion = check_congestion(congestion)
            for s in self._streams.values():
                self._set_congestion(s)
        if self.hde is not None:
            if compression is not None:
                self.hde.set_algorithm(compression, compression_level)
            elif compression_level is not None:
                self.hde.set_level(compression_level)
            if hde_mode is not None:
                self.hde.set_mode(hde_mode)
            if link_rate is not None:
                self.hde.set_link_rate(link_rate)
        if segment_size is not None:
            self.sender.set_segment_size(segment_size)
        if streams is not None:
            if not 1 <= streams <= self.sender.max_streams:
                raise InvalidInput(f"must be 1..{self.sender.max_streams}, not {streams}", field="streams")
            await self._resize(streams)
        return {
            "streams": self.streams,
            "congestion": self.congestion,
            "segment_size": self.sender.segment_size,
            "compression": self.hde.algorithm if self.hde else "none",
            "compression_level": self.hde.level if self.hde else 0,
        }

    def start_autotune(self, controller: StreamController, *, interval: float = 1.0) -> asyncio.Task[None]:
        """Let `controller` steer this channel's stream count, segment size and HDE link-rate hint
        (see autotune.py); stops by itself when the channel closes or fails."""
        if self._autotune is not None:
            self._autotune.cancel()
        self._autotune = asyncio.create_task(autotune(self, controller, interval), name="dwcp-autotune")
        return self._autotune

    @property
    def running(self) -> bool:
        return not self._closed and self._error is None

    def rtt_samples(self) -> list[float]:
        """Smoothed RTT (s) of each active stream, from TCP_INFO."""
        infos = [sockopts.tcp_info(s.sock) for s in list(self._streams.values())]
        return [i.rtt_us / 1e6 for i in infos if i is not None and i.rtt_us > 0]

    def stats(self) -> dict[str, Any]:
        hs = self.hde.stats if self.hde else None
        return {
            "bytes_in": self.bytes_in,
            "bytes_on_wire": self.sender.bytes_sent,
            "streams": self.streams,
            "compression_ratio": hs.ratio if hs else 1.0,
            "hde": hs,
        }

    # -- internals -----------------------------------------------------------------------------
    def _check(self) -> None:
        if self._error is not None:
            raise ChannelError(f"channel failed: {self._error!r}") from self._error
        if self._closed:
            raise ChannelError("channel is closed")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _send(self, data: bytes | bytearray | memoryview) -> None:
        while not self.sender.can_send:
            self._check()
            await self._changed.wait()
        self._check()
        for idx, frame in self.sender.send(data):
            self._streams[idx].queue.put_nowait(frame)

    async def _writer(self, s: StreamConn) -> None:
        try:
            while (frame := await s.queue.get()) is not None:
                s.writer.write(frame)
                await s.writer.drain()
                self.sender.on_written(s.idx, len(frame))
                self._notify()
        except (OSError, ssl.SSLError) as exc:
            self._error = self._error or exc
            self._notify()
            return
        if s.idx not in self._streams:  # retired: STREAM_CLOSE is out, let the connection go
            s.writer.close()

    async def connect(self, idx: int) -> StreamConn:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sockopts.tune_socket(sock, sndbuf=self._bufs[0], rcvbuf=self._bufs[1])
            if self._lowat:
                sockopts.set_notsent_lowat(sock, self._lowat)
            if self.congestion != "adaptive":  # from the first segment; adaptive needs the connected socket
                sockopts.set_congestion(sock, self.congestion)
            sock.setblocking(False)
            async with asyncio.timeout(self._timeout):
                await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
                reader, writer = await asyncio.open_connection(
                    sock=sock,
                    ssl=self._ssl,
                    limit=1 << 20,
                    server_hostname=(self._server_hostname or self.host) if self._ssl else None,
                )
                sockopts.disable_nodelay(writer.get_extra_info("socket"))
                # always ask for CREDIT: besides bounding raw_window, it tells the source how far the
                # destination QEMU really is (undelivered), which its downtime gate needs
                writer.write(hello(self.session_id, idx, hde=self.hde is not None, credit=True))
                await writer.drain()
                try:
                    answer = await read_frame(reader, idx)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    hint = " (TLS: the server probably rejected our certificate)" if self._ssl else ""
                    raise ChannelError(
                        f"stream {idx}: server closed the connection before HELLO_ACK{hint}"
                    ) from exc
        except BaseException:
            sock.close()
            raise
        if answer.type != FrameType.HELLO_ACK:
            writer.close()
            raise ChannelError(f"stream {idx} refused: {answer.type.name} {answer.payload[:200]!r}")
        s = StreamConn(idx, reader, writer)
        self._set_congestion(s)
        s.task = asyncio.create_task(self._writer(s), name=f"dwcp-stream-{idx}")
        self._streams[idx] = s
        if answer.flags & FLAG_CREDIT:
            self._credit_on = True
            self._controls.append(asyncio.create_task(self._control(s), name=f"dwcp-control-{idx}"))
        return s

    async def _control(self, s: StreamConn) -> None:
        """Frames the receiver writes back on stream `s`: CREDIT any time, FIN_ACK at the end."""
        try:
            while True:
                frame = await read_frame(s.reader, s.idx)
                if frame.type == FrameType.CREDIT:
                    if frame.seq > self.delivered:
                        self.delivered = frame.seq
                        self._notify()
                elif frame.type == FrameType.FIN_ACK or frame.type == FrameType.ABORT:
                    if self._fin_ack is not None and not self._fin_ack.done():
                        self._fin_ack.set_result(frame)
                    if frame.type == FrameType.ABORT:
                        self._error = self._error or ChannelError(f"receiver aborted: {frame.payload[:200]!r}")
                        self._notify()
                    return
                else:
                    raise ChannelError(f"unexpected {frame.type.name} from the receiver on stream {s.idx}")
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ssl.SSLError) as exc:
            if self._fin_ack is not None and not self._fin_ack.done() and self._fin_ack_idx == s.idx:
                self._fin_ack.set_exception(ChannelError(f"stream {s.idx} closed before FIN_ACK: {exc!r}"))
        except Exception as exc:  # a protocol error: the channel cannot be trusted any more
            self._error = self._error or exc
            if self._fin_ack is not None and not self._fin_ack.done():
                self._fin_ack.set_exception(ChannelError(f"control stream {s.idx}: {exc!r}"))
            self._notify()

    def _set_congestion(self, s: StreamConn) -> None:
        sock = s.sock
        s.congestion = sockopts.apply_congestion(sock, self.congestion)

    async def _resize(self, target: int) -> None:
        while len(self.sender.active) > target:
            idx, frame = self.sender.retire_stream()
            s = self._streams.pop(idx)
            s.queue.put_nowait(frame)
            s.queue.put_nowait(None)
            self._retired.append(s)
        grow = target - len(self.sender.active)
        if grow > 0:
            new = [self.sender.add_stream() for _ in range(grow)]
            await self.connect_all(new)
            for i in new:
                self.sender.activate(i)

    async def connect_all(self, indices: list[int]) -> None:
        results = await asyncio.gather(*(self.connect(i) for i in indices), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _teardown(self, *, graceful: bool = True, grace: float = 0.0) -> None:
        """Stop the writer tasks and close the connections; graceful lets queued frames go out,
        otherwise they get `grace` seconds and the transports are then aborted."""
        if self._autotune is not None and self._autotune is not asyncio.current_task():
            self._autotune.cancel()
        for t in self._controls:
            t.cancel()
        everything = list(self._streams.values()) + self._retired
        self._streams.clear()
        self._retired.clear()
        for s in everything:
            s.queue.put_nowait(None)
        tasks = [s.task for s in everything if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=30.0 if graceful else grace)
            for t in pending:
                t.cancel()
        for s in everything:
            if graceful:
                s.writer.close()
            else:
                s.writer.transport.abort()
        for s in everything:
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(s.writer.wait_closed(), 5)
        self._notify()
