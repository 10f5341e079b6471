"""What carries one outgoing migration's QEMU connections to the destination agent.

Two carriers stand behind this one interface (plan.channel_plan picks): TLS pipes, one per QEMU
connection and direction (pipe_carrier.py), and AMST channels striped over several streams
(amst_carrier.py). The migration's adapter (outgoing.py) and the DWCP listener's dispatch talk to
`Carrier` only, so neither branches on which one it holds.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from typing import Protocol

from novacron.migration.plan import QEMU_SOCKET_BUFFER, SOURCE_HOST
from novacron.migration.progress import TunnelStats
from novacron.transport import ChannelReader

log = logging.getLogger(__name__)


class Carrier(Protocol):
    """The source's end of a migration's data path: the local port QEMU sends to and what
    carries each of QEMU's connections from there."""

    port: int

    async def start(self) -> int:
        """Listen for QEMU on SOURCE_HOST; the port."""
        ...

    def prewarm(self, connections: int) -> None:
        """Open what QEMU's first `connections` connections will need, before QEMU connects."""
        ...

    def stats(self) -> TunnelStats: ...

    def delivery(self) -> tuple[int, int] | None:
        """(undelivered, delivered) bytes as the destination reports them; None while none does."""
        ...

    def tune(self, interval_s: float) -> None:
        """Called about once a second while QEMU sends: adapt windows and compression."""
        ...

    def apply_congestion(self, congestion: str) -> None:
        """A DWCP mode switch mid-migration: every connection takes the new congestion control."""
        ...

    def hand_over(self) -> None:
        """The destination runs the VM: a connection that breaks from now on is its teardown."""
        ...

    def attach_back(self, conn: int, reader: ChannelReader, first: bytes) -> str | None:
        """A return AMST channel from the destination; None when taken, else why not."""
        ...

    def attach_pipe_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        """A return pipe from the destination; None when taken, else why not."""
        ...

    async def close(self) -> None: ...


class FailureLatch:
    """A carrier's failures, reported once and only before the hand-over.

    After libvirt reported the destination running, a connection that breaks is the destination
    tearing its end down (it closes its relay when told to adopt the VM, maybe before its QEMU
    closed every connection), not a failure to report or act on."""

    def __init__(self, mig_id: str, on_error: Callable[[str], None]) -> None:
        self.mig_id = mig_id
        self.error: str | None = None
        self.handed_over = False
        self._on_error = on_error

    def hand_over(self) -> None:
        self.handed_over = True

    def fail(self, why: str) -> bool:
        """True when the carrier must tear its connections down (QEMU then fails at once)."""
        if self.handed_over:
            log.info("migration %s: tunnel closed after the hand-over: %s", self.mig_id, why)
            return False
        if self.error is None:
            self.error = why
            log.warning("migration %s: tunnel failed: %s", self.mig_id, why)
            self._on_error(why)
        return True


def entrance_socket() -> socket.socket:
    """The listening socket QEMU sends to: a small, fixed receive buffer, so QEMU sees the
    tunnel's pace, not a loopback's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, QEMU_SOCKET_BUFFER)
    sock.bind((SOURCE_HOST, 0))
    sock.listen(64)
    sock.setblocking(False)
    return sock
