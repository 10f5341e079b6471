"""The pipe carrier: each of QEMU's connections on its own TLS pipe (pipe_relay.OutgoingPipes).

Raw bytes in the datacenter and with QEMU's multifd, HDE frames elsewhere (plan.channel_plan).
The pipes for QEMU's expected connections are dialed once the destination has prepared
(prewarm); the destination dials each return pipe (header `pipe-back`, attach_pipe_back).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

from novacron.migration.carrier import FailureLatch, entrance_socket
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.pipe_relay import OutgoingPipes
from novacron.migration.plan import ChannelPlan
from novacron.migration.progress import TunnelStats
from novacron.transport import ChannelReader


class PipeCarrier:
    """Source side of one migration over TLS pipes (a Carrier)."""

    def __init__(self, mig_id: str, dest: PeerEndpoint, plan: ChannelPlan, *, on_error: Callable[[str], None]) -> None:
        self.mig_id, self.dest, self.plan = mig_id, dest, plan
        self.port = 0
        self._latch = FailureLatch(mig_id, on_error)
        self.pipes = OutgoingPipes(
            mig_id, dest, plan.congestion, self._fail, hde=plan.hde, window=plan.raw_window, lowat=plan.pipe_lowat
        )
        self._lsock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None

    async def start(self) -> int:
        self._lsock = entrance_socket()
        self.port = self._lsock.getsockname()[1]
        self._acceptor = asyncio.create_task(self.pipes.serve(self._lsock), name=f"pipes-{self.mig_id}")
        return self.port

    def prewarm(self, connections: int) -> None:
        self.pipes.prewarm(connections)

    def stats(self) -> TunnelStats:
        # on the wire: the pipes' own count (TLS adds ~0.1 %)
        return TunnelStats(bytes_in=self.pipes.sent, bytes_on_wire=self.pipes.wire, streams=len(self.pipes.pipes))

    def delivery(self) -> tuple[int, int] | None:
        return self.pipes.delivery()

    def attach_back(self, conn: int, reader: ChannelReader, first: bytes) -> str | None:
        return "this migration does not use AMST channels"

    def attach_pipe_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        return self.pipes.attach_back(conn, back)

    def tune(self, interval_s: float) -> None:
        """Nothing to tune: a pipe's kernel buffers and unsent limit pace it (pipe_relay.py)."""

    def apply_congestion(self, congestion: str) -> None:
        self.pipes.set_congestion(congestion)

    def hand_over(self) -> None:
        self._latch.hand_over()

    @property
    def error(self) -> str | None:
        """The first failure before the hand-over, if any."""
        return self._latch.error

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
        if self._lsock is not None:
            self._lsock.close()
        self.pipes.abort()

    def _fail(self, why: str) -> None:
        if self._latch.fail(why):
            self.pipes.abort()
