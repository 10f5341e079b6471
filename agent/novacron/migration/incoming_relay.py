"""The destination's end of one migration's data path: each forward channel or pipe delivered to
the local QEMU, and QEMU's replies carried back to the source agent.

AMST channels: each forward channel (header `fwd`) gets a new connection to the destination QEMU
on 127.0.0.2:P and a single-stream return channel to the source (header `back`). TLS pipes are
served by pipe_relay.IncomingPipes, with the same QEMU connection step (_qemu_socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Coroutine
from typing import Any

from novacron.dwcp.congestion import Congestion
from novacron.migration.channel_io import COPY_STEP, abort_writer, copy_out
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.pipe_relay import IncomingPipes
from novacron.migration.plan import DEST_HOST
from novacron.migration.qemu_socket import QEMU_BUFFER, cap_peer_buffer
from novacron.migration.wire import ChannelHeader
from novacron.transport import Channel, ChannelError, ChannelReader, open_channel, proxy_into_channel

log = logging.getLogger(__name__)
QEMU_CONNECT_S = 15.0


class IncomingRelay:
    """Destination side of one migration: delivers each forward channel to the local QEMU and
    carries QEMU's replies back to the source agent."""

    def __init__(
        self, mig_id: str, port: int, source: PeerEndpoint, *, small_buffers: bool = False,
        congestion: Congestion = "adaptive",
    ) -> None:  # fmt: skip
        self.mig_id, self.port, self.source, self.congestion = mig_id, port, source, congestion
        # multifd: QEMU's channels each hide a backlog in their kernel buffers. One raw channel loses
        # throughput with small buffers on a busy host, and the switchover gate already keeps its
        # downtime low (decisions.md: destination-caps-multifd-only).
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
            abort_writer(w)
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
            copy = self._start(copy_out(reader, qemu_w, first))
            s = self.source
            back = await open_channel(
                s.host, s.port, streams=1, ssl=s.tls, server_hostname=s.server_name, congestion=self.congestion
            )
            self._back.append(back)
            await back.write(ChannelHeader(self.mig_id, conn, "back").encode())
            back_task = asyncio.create_task(proxy_into_channel(qemu_r, back))
            self.bytes_out += await copy
            await back_task
        except asyncio.CancelledError:
            abort_writer(qemu_w)
            if copy is not None:
                copy.cancel()
            raise
        except (ChannelError, OSError, TimeoutError) as exc:
            self.error = self.error or f"connection {conn}: {exc}"
            log.warning("incoming migration %s: %s", self.mig_id, self.error)
            reader.abort(str(exc))
            abort_writer(qemu_w)
            if copy is not None:
                copy.cancel()
