"""Carrying a migration's QEMU connections over TLS pipes (transport/pipe.py): raw in the
datacenter and with QEMU's multifd, HDE frames elsewhere, as plan.channel_plan decides
(ChannelPlan.pipe).

Source: the pipes for QEMU's expected connections are dialed once the destination has prepared
(prewarm), each to the destination agent's DWCP port with header `pipe` (or `pipe-hde`); QEMU's
k-th connection to 127.0.0.1:P takes the k-th pipe (or dials one). Destination: each pipe dials
its return pipe to the source's DWCP port (header `pipe-back`) at once, connects its QEMU when
the first bytes arrive, and delivers while the return pipe finishes its handshake. The blocking
steps (TLS handshakes, connecting to QEMU, capping its buffers) run in worker threads; waiting
for a pipe's first bytes runs on the event loop; the event loop only keeps the books.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from novacron.dwcp.hde import HdeDecoder, HdeEncoder
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.qemu_socket import cap_peer_buffer
from novacron.migration.wire import ChannelHeader
from novacron.transport import HdeSettings, sockopts
from novacron.transport.pipe import DestPipe, SourcePipe, abort, connect_pipe
from novacron.transport.reader import DECODE_STEP

log = logging.getLogger(__name__)
CONNECT_S = 10.0
FIRST_READ = 1 << 16


class OutgoingPipes:
    """The source's pipes of one migration, keyed by QEMU connection index.

    `prewarm(n)` dials the first n pipes while libvirt still sets the migration up (between its
    migrate call and QEMU's first connection): QEMU's k-th connection then finds its pipe open
    instead of waiting for a TCP and a TLS handshake (decisions.md: pipe-prewarm)."""

    def __init__(
        self, mig_id: str, dest: PeerEndpoint, congestion: str, on_error: Callable[[str], None], *,
        hde: HdeSettings | None = None, window: int | None = None, lowat: int | None = None,
    ) -> None:  # fmt: skip
        self.mig_id, self.dest, self.congestion, self.hde, self.window = mig_id, dest, congestion, hde, window
        self.lowat = lowat
        self.pipes: dict[int, SourcePipe] = {}
        self._on_error = on_error
        self._early_backs: dict[int, ssl.SSLSocket] = {}
        self._dialed: dict[int, asyncio.Task[ssl.SSLSocket]] = {}  # prewarmed, not yet taken by QEMU
        self._prewarmed = 0
        self._next = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def prewarm(self, count: int) -> None:
        """Dial pipes for QEMU's connections 0..count-1 now (a failed dial is retried when QEMU
        connects, so a prewarm never fails a migration by itself)."""
        for conn in range(self._prewarmed, count):
            task = asyncio.create_task(asyncio.to_thread(self._dial, conn))
            task.add_done_callback(_consume)
            self._dialed[conn] = task
        self._prewarmed = max(self._prewarmed, count)

    def _dial(self, conn: int) -> ssl.SSLSocket:
        d = self.dest
        header = ChannelHeader(self.mig_id, conn, "pipe-hde" if self.hde else "pipe").encode()
        return connect_pipe(
            d.host, d.port, d.tls, d.server_name, header, congestion=self.congestion, timeout=CONNECT_S,
            notsent_lowat=self.lowat,
        )  # fmt: skip

    async def serve(self, lsock: socket.socket) -> None:
        """Accept QEMU's connections on the relay's port until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            qemu, _ = await loop.sock_accept(lsock)
            conn = self._next
            self._next += 1
            task = asyncio.create_task(self._open(conn, qemu))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forward_pipe(self, conn: int) -> ssl.SSLSocket:
        dialed = self._dialed.pop(conn, None)
        if dialed is not None:
            try:
                return await asyncio.shield(dialed)
            except asyncio.CancelledError:
                dialed.add_done_callback(_close_dialed)
                raise
            except (OSError, TimeoutError) as exc:
                log.info("migration %s: prewarmed pipe %d failed (%s): dialing again", self.mig_id, conn, exc)
        return await asyncio.to_thread(self._dial, conn)

    async def _open(self, conn: int, qemu: socket.socket) -> None:
        qemu.setblocking(True)
        d = self.dest
        # QEMU's send buffer is capped while the pipe opens (or is taken prewarmed): best effort
        cap = asyncio.create_task(asyncio.to_thread(cap_peer_buffer, qemu, socket.SO_SNDBUF))
        cap.add_done_callback(_consume)
        try:
            fwd = await self._forward_pipe(conn)
        except (OSError, TimeoutError) as exc:
            cap.cancel()
            abort(qemu)
            qemu.close()
            self._on_error(f"QEMU connection {conn}: cannot open a pipe to {d.host}:{d.port}: {exc}")
            return
        with contextlib.suppress(OSError):
            await cap
        # the pipe's sender compresses each frame while the encoder builds the next (pipe.py)
        encoder = HdeEncoder(**vars(self.hde), seal_later=True) if self.hde else None
        pipe = SourcePipe(
            f"pipe-{self.mig_id[:8]}-{conn}", qemu, fwd, _in_loop(asyncio.get_running_loop(), self._on_error, conn),
            encoder=encoder, window=self.window if encoder else None,
        )  # fmt: skip
        self.pipes[conn] = pipe
        back = self._early_backs.pop(conn, None)
        if back is not None:
            pipe.attach_back(back)

    def attach_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        pipe = self.pipes.get(conn)
        if pipe is None:
            if conn >= max(self._next, self._prewarmed) or conn in self._early_backs:
                return f"no pipe {conn} waits for a return pipe"
            self._early_backs[conn] = back  # QEMU has not connected yet, or the forward pipe is opening
            return None
        if pipe.back is not None:
            return f"pipe {conn} already has a return pipe"
        pipe.attach_back(back)
        return None

    # -- the books -------------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return sum(p.sent for p in self.pipes.values())

    @property
    def wire(self) -> int:
        return sum(p.wire for p in self.pipes.values())

    def delivery(self) -> tuple[int, int] | None:
        """(undelivered, delivered) over the pipes whose return pipe reports; None if none does."""
        pairs = [(p.sent, p.delivered) for p in self.pipes.values() if p.delivered is not None]
        if not pairs:
            return None
        return sum(max(0, s - d) for s, d in pairs), sum(d for _, d in pairs)

    def set_congestion(self, congestion: str) -> None:
        self.congestion = congestion
        for p in self.pipes.values():
            with contextlib.suppress(OSError):
                sockopts.apply_congestion(p.forward, congestion)

    def abort(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for p in self.pipes.values():
            p.abort()
        for dialed in self._dialed.values():  # prewarmed pipes QEMU never took (or still dialing)
            dialed.add_done_callback(_close_dialed)
        self._dialed.clear()
        for back in self._early_backs.values():
            abort(back)
            back.close()
        self._early_backs.clear()


class IncomingPipes:
    """The destination's pipes of one migration."""

    def __init__(
        self, mig_id: str, source: PeerEndpoint, connect_qemu: Callable[[], Awaitable[socket.socket]]
    ) -> None:
        self.mig_id, self.source = mig_id, source
        self.pipes: list[DestPipe] = []
        self._connect_qemu = connect_qemu  # the relay's: it also caps QEMU's buffer, in the background
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def accept(self, header: ChannelHeader, forward: ssl.SSLSocket) -> None:
        self._start(self._serve(header.conn, forward, header.direction == "pipe-hde"))

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: int, forward: ssl.SSLSocket, hde: bool) -> None:
        """The return pipe dials at once; QEMU is connected when the first bytes arrive (a pipe the
        source prewarmed may wait for QEMU, or end unused); QEMU's bytes then flow while the
        return pipe's handshake and the cap on QEMU's buffer finish (DestPipe: multifd channels
        wait for each other)."""
        s = self.source
        header = ChannelHeader(self.mig_id, conn, "pipe-back").encode()
        dial = asyncio.create_task(
            # the return path carries QEMU's few replies and the delivery reports: no bulk to pace
            asyncio.to_thread(connect_pipe, s.host, s.port, s.tls, s.server_name, header, congestion="cubic",
                              timeout=CONNECT_S)  # fmt: skip
        )
        dial.add_done_callback(_consume)
        taken = False
        try:
            taken = await self._deliver(conn, forward, hde, dial)
        finally:
            if not taken:  # failed, cancelled, or unused: the return pipe closes once dialed
                dial.add_done_callback(_close_dialed)

    async def _deliver(self, conn: int, forward: ssl.SSLSocket, hde: bool, dial: asyncio.Task[ssl.SSLSocket]) -> bool:
        """True once the pipe runs with its return pipe attached."""
        qemu: socket.socket | None = None
        try:
            first = await _first_bytes(forward)
            if first:
                qemu = await self._connect_qemu()
        except (OSError, TimeoutError) as exc:
            self._failed(f"connection {conn}: {exc}")
        finally:
            if qemu is None:  # failed, cancelled, or a prewarmed pipe the source did not need
                abort(forward)
                forward.close()
        if qemu is None:
            return False
        name = f"pipe-{self.mig_id[:8]}-{conn}"
        decoder = HdeDecoder(max_output=DECODE_STEP) if hde else None
        pipe = DestPipe(
            name, forward, qemu, None, _in_loop(asyncio.get_running_loop(), self._failed, conn), decoder=decoder,
            first=first,
        )  # fmt: skip
        self.pipes.append(pipe)
        if self._closed:
            pipe.abort()
            return False
        try:
            back = await asyncio.shield(dial)
        except (OSError, TimeoutError) as exc:
            self._failed(f"connection {conn}: no return pipe: {exc}")
            pipe.abort()
            return False
        pipe.attach_back(back)
        return True

    def _failed(self, why: str) -> None:
        log.warning("incoming migration %s: %s", self.mig_id, why)

    def abort(self) -> None:
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        for p in self.pipes:
            p.abort()


async def _first_bytes(tls: ssl.SSLSocket) -> bytes:
    """The pipe's first bytes, waited for on the event loop (a prewarmed pipe may wait as long as
    libvirt takes to set the migration up; a worker thread then only reads what has arrived).
    b"" if the pipe ended first."""
    if not tls.pending():
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = tls.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(fd)
    try:
        return await asyncio.to_thread(tls.recv, FIRST_READ)
    except (ssl.SSLError, ConnectionResetError):  # cut without close_notify (or reset, when the source
        return b""  # closed with our session tickets unread): ended


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve a background step's exception (it is reported, or retried, where it matters)."""
    if not task.cancelled():
        task.exception()


def _close_dialed(task: asyncio.Task[ssl.SSLSocket]) -> None:
    """A prewarmed pipe nobody took: closed once its dial ends (the destination sees it end
    before any byte and leaves its QEMU alone)."""
    if not task.cancelled() and task.exception() is None:
        sock = task.result()
        abort(sock)
        sock.close()


def _in_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[str], None], conn: int) -> Callable[[str], None]:
    """A pipe thread's error, handed to the event loop (a closed loop: the agent is stopping)."""

    def report(why: str) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, f"pipe {conn}: {why}")

    return report

