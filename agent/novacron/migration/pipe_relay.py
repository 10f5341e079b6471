"""Carrying a migration's QEMU connections over TLS pipes (dwcp/tunnel/pipe.py): raw in the
datacenter, HDE frames elsewhere, as plan.channel_plan decides (ChannelPlan.pipe).

Source: every QEMU connection to 127.0.0.1:P gets a forward pipe to the destination agent's DWCP
port, header `pipe` (or `pipe-hde`); the destination connects its QEMU, opens the return pipe to the source's DWCP
port (header `pipe-back`) and the threads run. The blocking steps (TLS handshakes, connecting to
QEMU, capping its buffers) run in worker threads; the event loop only keeps the books.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from novacron.dwcp.hde import HdeDecoder, HdeEncoder
from novacron.dwcp.tunnel import HdeSettings, sockopts
from novacron.dwcp.tunnel.pipe import DestPipe, SourcePipe, abort, connect_pipe
from novacron.dwcp.tunnel.reader import DECODE_STEP
from novacron.migration.qemu_socket import cap_peer_buffer
from novacron.migration.wire import ChannelHeader

if TYPE_CHECKING:
    from novacron.migration.relay import PeerEndpoint

log = logging.getLogger(__name__)
CONNECT_S = 10.0


class OutgoingPipes:
    """The source's pipes of one migration, keyed by QEMU connection index."""

    def __init__(
        self, mig_id: str, dest: PeerEndpoint, congestion: str, on_error: Callable[[str], None], *,
        hde: HdeSettings | None = None, window: int | None = None, lowat: int | None = None,
    ) -> None:  # fmt: skip
        self.mig_id, self.dest, self.congestion, self.hde, self.window = mig_id, dest, congestion, hde, window
        self.lowat = lowat
        self.pipes: dict[int, SourcePipe] = {}
        self._on_error = on_error
        self._early_backs: dict[int, ssl.SSLSocket] = {}
        self._next = 0
        self._tasks: set[asyncio.Task[None]] = set()

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

    async def _open(self, conn: int, qemu: socket.socket) -> None:
        qemu.setblocking(True)
        d = self.dest
        header = ChannelHeader(self.mig_id, conn, "pipe-hde" if self.hde else "pipe").encode()
        try:
            with contextlib.suppress(OSError):  # best effort, as on the AMST path
                await asyncio.to_thread(cap_peer_buffer, qemu, socket.SO_SNDBUF)
            fwd = await asyncio.to_thread(
                connect_pipe, d.host, d.port, d.tls, d.server_name, header, congestion=self.congestion, timeout=CONNECT_S,
                notsent_lowat=self.lowat,
            )  # fmt: skip
        except (OSError, TimeoutError) as exc:
            abort(qemu)
            qemu.close()
            self._on_error(f"QEMU connection {conn}: cannot open a pipe to {d.host}:{d.port}: {exc}")
            return
        loop = asyncio.get_running_loop()
        # the pipe's sender compresses each frame while the encoder builds the next (pipe.py)
        encoder = HdeEncoder(**vars(self.hde), seal_later=True) if self.hde else None
        pipe = SourcePipe(
            f"pipe-{self.mig_id[:8]}-{conn}", qemu, fwd, _in_loop(loop, self._on_error, conn),
            encoder=encoder, window=self.window if encoder else None,
        )  # fmt: skip
        self.pipes[conn] = pipe
        back = self._early_backs.pop(conn, None)
        if back is not None:
            pipe.attach_back(back)

    def attach_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        pipe = self.pipes.get(conn)
        if pipe is None:
            if conn >= self._next or conn in self._early_backs:
                return f"no pipe {conn} waits for a return pipe"
            self._early_backs[conn] = back  # the forward pipe's handshake has not returned yet
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
                sockopts.set_congestion(p.forward, sockopts.choose(congestion, p.forward))

    def abort(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for p in self.pipes.values():
            p.abort()
        for back in self._early_backs.values():
            abort(back)
            back.close()
        self._early_backs.clear()


class IncomingPipes:
    """The destination's pipes of one migration."""

    def __init__(self, mig_id: str, source: PeerEndpoint, connect_qemu: Callable[[], socket.socket]) -> None:
        self.mig_id, self.source = mig_id, source
        self.pipes: list[DestPipe] = []
        self._connect_qemu = connect_qemu
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def accept(self, header: ChannelHeader, forward: ssl.SSLSocket) -> None:
        task = asyncio.create_task(self._serve(header.conn, forward, header.direction == "pipe-hde"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: int, forward: ssl.SSLSocket, hde: bool) -> None:
        s = self.source
        qemu: socket.socket | None = None
        try:
            qemu = await asyncio.to_thread(self._connect_qemu)
            header = ChannelHeader(self.mig_id, conn, "pipe-back").encode()
            back = await asyncio.to_thread(connect_pipe, s.host, s.port, s.tls, s.server_name, header, timeout=CONNECT_S)
        except (OSError, TimeoutError) as exc:
            self._failed(f"connection {conn}: {exc}")
            abort(forward, qemu)
            forward.close()
            if qemu is not None:
                qemu.close()
            return
        name = f"pipe-{self.mig_id[:8]}-{conn}"
        decoder = HdeDecoder(max_output=DECODE_STEP) if hde else None
        pipe = DestPipe(
            name, forward, qemu, back, _in_loop(asyncio.get_running_loop(), self._failed, conn), decoder=decoder
        )
        self.pipes.append(pipe)
        if self._closed:
            pipe.abort()

    def _failed(self, why: str) -> None:
        log.warning("incoming migration %s: %s", self.mig_id, why)

    def abort(self) -> None:
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        for p in self.pipes:
            p.abort()


def _in_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[str], None], conn: int) -> Callable[[str], None]:
    """A pipe thread's error, handed to the event loop (a closed loop: the agent is stopping)."""

    def report(why: str) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, f"pipe {conn}: {why}")

    return report

