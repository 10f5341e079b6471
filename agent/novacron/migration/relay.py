"""Carrying QEMU's migration connections through DWCP channels, both ways.

Source: QEMU connects to 127.0.0.1:P (once, or once per multifd channel plus the main one); each
connection gets its own DWCP channel to the destination agent. Destination: each channel is
delivered to a new connection to the destination QEMU on 127.0.0.2:P. QEMU's return path (a few
bytes from destination to source, e.g. the final "shut" message the source waits for) comes back
on a second, single-stream channel per connection, opened by the destination agent. Where the plan
says `pipe` (datacenter), TLS pipes carry the connections instead (pipe_relay.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from novacron.dwcp.amst import StreamController
from novacron.migration.compression import FillMeter, LevelController
from novacron.migration.pipe_relay import IncomingPipes, OutgoingPipes
from novacron.migration.plan import (
    DEST_HOST,
    LEVEL_MAX,
    LEVEL_MIN,
    NOTSENT_LOWAT,
    QEMU_SOCKET_BUFFER,
    SOURCE_HOST,
    ChannelPlan,
    window_for,
)
from novacron.migration.progress import TunnelStats
from novacron.migration.qemu_socket import QEMU_BUFFER, cap_peer_buffer
from novacron.migration.wire import ChannelHeader
from novacron.transport import Channel, ChannelError, ChannelReader, open_channel, proxy_into_channel

log = logging.getLogger(__name__)
BACK_WAIT_S = 30.0
QEMU_CONNECT_S = 15.0
FILL_SAMPLE_S = 0.05
COPY_STEP = 1 << 20  # bytes per hand-over from a channel to a QEMU socket (each counts as delivered)


@dataclass(frozen=True)
class PeerEndpoint:
    """Where a peer agent's DWCP listener is and the name its certificate must carry."""

    host: str
    port: int
    server_name: str
    tls: ssl.SSLContext


async def _copy_out(reader: ChannelReader, writer: asyncio.StreamWriter, first: bytes = b"") -> int:
    """Channel -> socket until the channel ends; half-closes the socket after. Small steps: what
    the reader hands over counts as delivered (CREDIT), so it should be in the socket, not queued
    in the transport."""
    total = 0
    if first:
        writer.write(first)
        total += len(first)
    while data := await reader.read(COPY_STEP):
        writer.write(data)
        await writer.drain()
        total += len(data)
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
    return total


def _level_controller(level: int) -> LevelController:
    lo, hi = LEVEL_MIN, LEVEL_MAX
    return LevelController(start=min(hi, max(lo, level)), lowest=lo, highest=hi)


def _abort(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None and writer.transport is not None:
        writer.transport.abort()


class OutgoingRelay:
    """Source side of one migration: the local port QEMU sends to, and the channels behind it."""

    def __init__(
        self, mig_id: str, dest: PeerEndpoint, plan: ChannelPlan, *, on_error: Callable[[str], None]
    ) -> None:
        self.mig_id, self.dest, self.plan = mig_id, dest, plan
        self.port = 0
        self.error: str | None = None
        self.handed_over = False  # libvirt reported the destination running (hand_over)
        self.channels: list[Channel] = []
        self._on_error = on_error
        self._server: asyncio.Server | None = None
        self._backs: dict[int, asyncio.Future[tuple[ChannelReader, bytes]]] = {}
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 0
        self._back_bytes = 0
        self._levels: dict[int, tuple[LevelController, FillMeter]] = {}
        self._sampler: asyncio.Task[None] | None = None
        self._sent: dict[int, int] = {}
        self.pipes: OutgoingPipes | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._lsock: socket.socket | None = None

    async def start(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # a small, fixed receive buffer: QEMU then sees the tunnel's pace, not a loopback's
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, QEMU_SOCKET_BUFFER)
        sock.bind((SOURCE_HOST, 0))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        if self.plan.pipe:
            self._lsock = sock
            self.pipes = OutgoingPipes(
                self.mig_id, self.dest, self.plan.congestion, self._fail, hde=self.plan.hde,
                window=self.plan.raw_window, lowat=self.plan.pipe_lowat,
            )
            self._acceptor = asyncio.create_task(self.pipes.serve(sock), name=f"pipes-{self.mig_id}")
            return self.port
        self._server = await asyncio.start_server(self._on_qemu, sock=sock, limit=1 << 20)
        self._sampler = asyncio.create_task(self._sample_fill())
        return self.port

    def prewarm(self, connections: int) -> None:
        """Open the pipes for QEMU's first `connections` connections now, while libvirt sets the
        migration up (OutgoingPipes.prewarm); AMST channels open when QEMU connects."""
        if self.pipes is not None:
            self.pipes.prewarm(connections)

    def stats(self) -> TunnelStats:
        s = [c.stats() for c in self.channels]
        taken, wire = (self.pipes.sent, self.pipes.wire) if self.pipes else (0, 0)  # wire: plus TLS's ~0.1 %
        return TunnelStats(
            bytes_in=sum(x["bytes_in"] for x in s) + taken,
            bytes_on_wire=sum(x["bytes_on_wire"] for x in s) + wire,
            streams=sum(x["streams"] for x in s) + (len(self.pipes.pipes) if self.pipes else 0),
        )

    def delivery(self) -> tuple[int, int] | None:
        """(undelivered, delivered) bytes summed over the channels whose receiver reports what its
        QEMU has taken (CREDIT, or a pipe's DELIVERED); None while none does."""
        if self.pipes is not None:
            return self.pipes.delivery()
        reporting = [(u, c.delivered) for c in self.channels if (u := c.undelivered) is not None]
        if not reporting:
            return None
        return sum(u for u, _ in reporting), sum(d for _, d in reporting)

    def attach_pipe_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        if self.pipes is None:
            return "this migration does not use pipes"
        return self.pipes.attach_back(conn, back)

    def attach_back(self, conn: int, reader: ChannelReader, first: bytes) -> None:
        fut = self._backs.setdefault(conn, asyncio.get_running_loop().create_future())
        if fut.done():
            reader.abort("a return channel for this connection already exists")
            return
        fut.set_result((reader, first))

    def tune(self, interval_s: float) -> None:
        """Every few seconds: size each channel's send window to its wire rate, and move its
        compression toward what its bottleneck allows."""
        for ch in self.channels:
            if not ch.running:
                continue
            sent = ch.sender.bytes_sent
            ch.sender.window_bytes = window_for((sent - self._sent.get(id(ch), 0)) / max(interval_s, 1e-3))
            self._sent[id(ch)] = sent
            if ch.hde is None:
                continue
            ctl, meter = self._level_entry(ch)
            fill = meter.take()
            level = ctl.on_sample(fill) if fill is not None else None
            if level is None:
                continue
            log.info("migration %s: compression level %d (send window %.0f%% full)", self.mig_id, level, fill * 100)
            change = ch.apply_settings(hde_mode="never") if level == 0 else ch.apply_settings(
                hde_mode="always", compression_level=level)  # fmt: skip
            t = asyncio.ensure_future(change)
            t.add_done_callback(lambda f: f.exception())

    def _level_entry(self, ch: Channel) -> tuple[LevelController, FillMeter]:
        """The channel's zstd level controller and the window-fill meter that feeds it."""
        assert ch.hde is not None
        return self._levels.setdefault(id(ch), (_level_controller(ch.hde.level), FillMeter()))

    async def _sample_fill(self) -> None:
        while True:
            await asyncio.sleep(FILL_SAMPLE_S)
            for ch in self.channels:
                if ch.hde is not None and ch.running:
                    entry = self._level_entry(ch)
                    entry[1].add(ch.sender.total_outstanding, ch.sender.window_bytes)

    def apply_congestion(self, congestion: str) -> None:
        """A DWCP mode switch mid-migration: every stream takes the new congestion control."""
        if self.pipes is not None:
            self.pipes.set_congestion(congestion)
        for ch in self.channels:
            if ch.running:
                t = asyncio.ensure_future(ch.apply_settings(congestion=congestion))
                t.add_done_callback(lambda f: f.exception())

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        if self._server is not None:
            self._server.close()
        if self._acceptor is not None:
            self._acceptor.cancel()
        if self._lsock is not None:
            self._lsock.close()
        if self.pipes is not None:
            self.pipes.abort()
        for w in self._writers:
            _abort(w)
        for ch in self.channels:
            if ch.running:
                with contextlib.suppress(Exception):
                    await ch.abort(self.error or "migration ended")
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for fut in self._backs.values():
            if fut.done() and not fut.cancelled():
                fut.result()[0].abort("migration ended")
            else:
                fut.cancel()

    def hand_over(self) -> None:
        """The destination runs the VM: from now on a connection that breaks is the destination
        tearing its end down (it closes its relay when told to adopt the VM, maybe before its
        QEMU closed every channel), not a failure to report or act on."""
        self.handed_over = True

    def _fail(self, why: str) -> None:
        if self.handed_over:
            log.info("migration %s: tunnel closed after the hand-over: %s", self.mig_id, why)
            return
        if self.error is None:
            self.error = why
            log.warning("migration %s: tunnel failed: %s", self.mig_id, why)
            self._on_error(why)
        for w in self._writers:
            _abort(w)  # QEMU sees its socket break and fails the migration at once
        if self.pipes is not None:
            self.pipes.abort()

    async def _on_qemu(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self._next
        self._next += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        cap = asyncio.create_task(self._cap_qemu_buffer(conn, writer))
        try:
            await self._carry(conn, reader, writer)
        except asyncio.CancelledError:
            _abort(writer)
        except (ChannelError, OSError, TimeoutError) as exc:
            self._fail(f"QEMU connection {conn}: {exc}")
        finally:
            self._tasks.discard(task)
            cap.cancel()

    async def _cap_qemu_buffer(self, conn: int, writer: asyncio.StreamWriter) -> None:
        """QEMU's send buffer, capped (qemu_socket.py): what waits there is downtime no one sees."""
        try:
            granted = await asyncio.to_thread(cap_peer_buffer, writer.get_extra_info("socket"), socket.SO_SNDBUF)
        except OSError as exc:
            log.info("migration %s: QEMU connection %d keeps its send buffer: %s", self.mig_id, conn, exc)
            return
        log.debug("migration %s: QEMU connection %d send buffer capped at %d bytes", self.mig_id, conn, granted)

    async def _carry(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        p, d = self.plan, self.dest
        ch = await open_channel(
            d.host, d.port, streams=p.streams, ssl=d.tls, server_hostname=d.server_name,
            congestion=p.congestion, sndbuf=p.socket_buffer, rcvbuf=p.socket_buffer, hde=p.hde,
            segment_size=p.segment_size, window_bytes=p.window, notsent_lowat=NOTSENT_LOWAT,
            raw_window=p.raw_window,
        )  # fmt: skip
        self.channels.append(ch)
        if p.autotune:
            lo, hi = p.autotune
            ctl = StreamController(min_streams=lo, max_streams=hi, per_stream_window=p.socket_buffer, initial=p.streams)
            ch.start_autotune(ctl, interval=0.5)
        await ch.write(ChannelHeader(self.mig_id, conn).encode())
        back = asyncio.create_task(self._return_path(conn, writer))
        try:
            await proxy_into_channel(reader, ch)
        except BaseException:
            back.cancel()
            raise
        with contextlib.suppress(asyncio.CancelledError):
            await back

    async def _return_path(self, conn: int, writer: asyncio.StreamWriter) -> None:
        fut = self._backs.setdefault(conn, asyncio.get_running_loop().create_future())
        try:
            reader, first = await asyncio.wait_for(asyncio.shield(fut), BACK_WAIT_S)
            self._back_bytes += await _copy_out(reader, writer, first)
        except TimeoutError:
            self._fail(f"no return channel from the destination for connection {conn} in {BACK_WAIT_S:g}s")
        except (ChannelError, OSError) as exc:
            self._fail(f"return channel {conn}: {exc}")


class IncomingRelay:
    """Destination side of one migration: delivers each forward channel to the local QEMU and
    carries QEMU's replies back to the source agent."""

    def __init__(self, mig_id: str, port: int, source: PeerEndpoint, *, small_buffers: bool = False) -> None:
        self.mig_id, self.port, self.source = mig_id, port, source
        # multifd: QEMU's channels each hide a backlog in their kernel buffers (DWCP multifd downtime,
        # datacenter 382-458 ms with the kernel's buffers, 355-381 with the caps; internet 741-770 ->
        # 333-527). One raw channel loses throughput with small buffers on a busy host (~1 s on the
        # datacenter link) and the switchover gate already keeps it near 100 ms.
        self.small_buffers = small_buffers
        self.bytes_out = 0
        self._readers: list[ChannelReader] = []
        self._back: list[Channel] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.error: str | None = None
        self.pipes = IncomingPipes(mig_id, source, self._qemu_socket)

    def accept_pipe(self, header: ChannelHeader, forward: ssl.SSLSocket) -> None:
        self.pipes.accept(header, forward)

    def accept(self, header: ChannelHeader, reader: ChannelReader, first: bytes) -> None:
        self._readers.append(reader)
        self._start(self._serve(header.conn, reader, first))

    async def close(self) -> None:
        self.pipes.abort()
        for r in self._readers:
            if not r.finished:
                r.abort("migration aborted")
        for w in self._writers:
            _abort(w)
        for ch in self._back:
            if ch.running:
                with contextlib.suppress(Exception):
                    await ch.abort("migration aborted")
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def _connect_qemu_sock(self) -> socket.socket:
        """A blocking socket to the destination QEMU (retried while QEMU starts listening); with
        small_buffers a small send buffer on our end (QEMU's end: _cap_qemu_sock)."""
        deadline = time.monotonic() + QEMU_CONNECT_S
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.small_buffers:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, QEMU_BUFFER)
            try:
                sock.connect((DEST_HOST, self.port))
                return sock
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _cap_qemu_sock(self, sock: socket.socket) -> None:
        """Small kernel buffers at QEMU's end (qemu_socket.py): bytes waiting there are downtime
        the source's switchover gate cannot see. Run beside the delivery, not before it: QEMU's
        socket exists only once QEMU accepted, and with multifd QEMU accepts a channel only after
        the one before sent its first bytes."""
        try:
            cap_peer_buffer(sock, socket.SO_RCVBUF)
        except OSError as exc:
            log.info("migration %s: the destination QEMU keeps its receive buffer: %s", self.mig_id, exc)

    async def _qemu_socket(self) -> socket.socket:
        """A connected socket to the destination QEMU, for a pipe or an AMST channel; with
        small_buffers the cap on QEMU's end follows in the background."""
        sock = await asyncio.to_thread(self._connect_qemu_sock)
        if self.small_buffers:
            self._start(asyncio.to_thread(self._cap_qemu_sock, sock))
        return sock

    async def _connect_qemu(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """_qemu_socket for an AMST channel, as asyncio streams."""
        sock = await self._qemu_socket()
        sock.setblocking(False)
        r, w = await asyncio.open_connection(sock=sock, limit=1 << 20)
        if self.small_buffers:
            w.transport.set_write_buffer_limits(high=COPY_STEP)
        return r, w

    def _start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, conn: int, reader: ChannelReader, first: bytes) -> None:
        qemu_w: asyncio.StreamWriter | None = None
        copy: asyncio.Task[int] | None = None
        try:
            qemu_r, qemu_w = await self._connect_qemu()
            self._writers.append(qemu_w)
            # QEMU's bytes flow while the return channel opens (an RTT or two): with multifd the
            # destination QEMU accepts its next channel only once this one has sent its first bytes
            copy = self._start(_copy_out(reader, qemu_w, first))
            s = self.source
            back = await open_channel(
                s.host, s.port, streams=1, ssl=s.tls, server_hostname=s.server_name, congestion="adaptive"
            )
            self._back.append(back)
            await back.write(ChannelHeader(self.mig_id, conn, "back").encode())
            back_task = asyncio.create_task(proxy_into_channel(qemu_r, back))
            self.bytes_out += await copy
            await back_task
        except asyncio.CancelledError:
            _abort(qemu_w)
            if copy is not None:
                copy.cancel()
            raise
        except (ChannelError, OSError, TimeoutError) as exc:
            self.error = self.error or f"connection {conn}: {exc}"
            log.warning("incoming migration %s: %s", self.mig_id, self.error)
            reader.abort(str(exc))
            _abort(qemu_w)
            if copy is not None:
                copy.cancel()
