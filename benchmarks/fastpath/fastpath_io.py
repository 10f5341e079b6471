"""asyncio plumbing shared by both ends of the fast path: errors, per-relay stats, connecting a
tuned TCP socket with a deadline, exact reads, and awaiting a thread-driven SpliceRelay."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass

from novacron.transport import sockopts
from novacron.transport.errors import ChannelError

from .splice_relay import SpliceRelay

MIB = 1 << 20
DEAD_PEER_S = 30
KEEPALIVE = (
    (getattr(socket, "TCP_KEEPIDLE", 4), 10),
    (getattr(socket, "TCP_KEEPINTVL", 5), 5),
    (getattr(socket, "TCP_KEEPCNT", 6), 4),
    (getattr(socket, "TCP_USER_TIMEOUT", 18), DEAD_PEER_S * 1000),
)


class FastpathError(ChannelError):
    """A fast-path relay failed (peer reset, idle timeout, connect failure). `stats` tells how far
    it got. A subclass of ChannelError, so callers that handle channel failures handle this too."""

    title = "DWCP fast path failed"

    def __init__(self, detail: str, stats: RelayStats | None = None) -> None:
        super().__init__(detail)
        self.stats = stats


class FastpathRefused(FastpathError):
    """The destination agent refused the connection (bad token, unknown migration, bad header,
    or it could not reach its QEMU); the message is the destination's reason."""


@dataclass(frozen=True)
class RelayStats:
    """What one relayed QEMU connection moved. forward = towards the destination QEMU, back = QEMU's
    return path. setup_s: connect + header exchange; relay_s: the splice phase. error: None if clean."""

    migration_id: str
    channel: int
    bytes_forward: int
    bytes_back: int
    setup_s: float
    relay_s: float
    error: str | None = None
    congestion: str | None = None

    @property
    def forward_mib_s(self) -> float:
        return self.bytes_forward / MIB / self.relay_s if self.relay_s > 0 else 0.0


def relay_stats(
    relay: SpliceRelay, migration_id: str, channel: int, setup_s: float, congestion: str | None
) -> RelayStats:
    return RelayStats(
        migration_id, channel, relay.bytes_forward, relay.bytes_back, setup_s, relay.seconds,
        relay.error, congestion,
    )  # fmt: skip


def tune(sock: socket.socket, sndbuf: int | None, rcvbuf: int | None) -> None:
    """Buffers (None: kernel autotuning), then TCP_NODELAY back on: splice writes are large anyway,
    and QEMU's small messages (return path, postcopy page requests) must not wait for Nagle.
    Keepalive + TCP_USER_TIMEOUT: a dead peer is an error within DEAD_PEER_S even while the
    relay is legitimately idle (a paused migration) or stuck with unacknowledged data."""
    sockopts.tune_socket(sock, sndbuf=sndbuf, rcvbuf=rcvbuf)
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sockopts.set_nodelay(sock, True)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in KEEPALIVE:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, opt, value)


async def connect(
    addr: tuple[str, int], timeout: float, *, sndbuf: int | None = None, rcvbuf: int | None = None
) -> socket.socket:
    """A connected non-blocking TCP socket, buffers set before connect (so window scaling covers
    them); raises OSError/TimeoutError, never leaks the socket."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        infos = await loop.getaddrinfo(addr[0], addr[1], type=socket.SOCK_STREAM)
        family, _, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM, proto)
        try:
            sock.setblocking(False)
            tune(sock, sndbuf, rcvbuf)
            await loop.sock_connect(sock, sockaddr)
        except BaseException:
            sock.close()
            raise
    return sock


async def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes (never more: what follows belongs to QEMU). EOF first -> ConnectionError."""
    loop = asyncio.get_running_loop()
    buf = bytearray()
    while len(buf) < n:
        data = await loop.sock_recv(sock, n - len(buf))
        if not data:
            raise ConnectionResetError(f"peer closed after {len(buf)} of {n} bytes")
        buf += data
    return bytes(buf)


def reset(sock: socket.socket) -> None:
    """Close with RST, so the other end (QEMU, or the peer agent) fails at once instead of waiting."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def run_relay(relay: SpliceRelay) -> None:
    """Start the relay's threads and wait for them; cancelling aborts the relay (its sockets are
    reset) and still waits, up to a few ticks, for both threads to finish."""
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    def on_done() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits
            loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    relay.on_done = on_done
    relay.start()
    try:
        await asyncio.shield(finished)
    except asyncio.CancelledError:
        relay.abort("relay cancelled")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(finished), 5)
        raise
    finally:
        relay.join(1.0)  # on_done is the threads' last act: this returns at once, and none outlives us
