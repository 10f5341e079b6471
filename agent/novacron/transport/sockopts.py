"""Per-socket TCP tuning: congestion control, buffer sizes, Nagle, and RTT/loss from TCP_INFO.

Congestion "adaptive" is deliberately simple: start with cubic (fair, fine on clean low-RTT LANs);
once the connection is up, read TCP_INFO and switch that socket to bbr when the smoothed RTT is at
least ADAPTIVE_RTT_S or any segment was retransmitted, since cubic's loss-driven window collapses on
long or lossy paths where bbr keeps the pipe full. apply_settings() re-evaluates it later.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from typing import Literal

from novacron_sdk.errors import InvalidInput

log = logging.getLogger(__name__)

Congestion = Literal["bbr", "cubic", "adaptive"]
CONGESTION_CHOICES = ("bbr", "cubic", "adaptive")
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)
ADAPTIVE_RTT_S = 0.010
_INFO = struct.Struct("=68xII24xI")  # tcpi_rtt, tcpi_rttvar (us) at 68, tcpi_total_retrans at 100


def check_congestion(value: str) -> str:
    if value not in CONGESTION_CHOICES:
        raise InvalidInput(f"must be one of bbr, cubic, adaptive, not {value!r}", field="congestion")
    return value


def tune_socket(sock: socket.socket, *, sndbuf: int | None, rcvbuf: int | None) -> None:
    """Large buffers (before connect/listen, so window scaling is negotiated for them), Nagle on."""
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    disable_nodelay(sock)


def set_notsent_lowat(sock: socket.socket, nbytes: int) -> None:
    """Keep at most `nbytes` unsent in the kernel (in-flight data is not limited): a sender that
    must react to the link's real pace (a live migration's switch-over) does not hide seconds of
    data in send buffers."""
    sock.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, nbytes)


def set_nodelay(sock: socket.socket, on: bool) -> None:
    """TCP_NODELAY on a TCP socket (no-op for others): on where small messages must not wait."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if on else 0)


def disable_nodelay(sock: socket.socket) -> None:
    """asyncio turns TCP_NODELAY on for every stream; we send large segments, so let Nagle coalesce."""
    set_nodelay(sock, False)


def listening_socket(host: str, port: int, tune: Callable[[socket.socket], None]) -> socket.socket:
    """A non-blocking TCP listener; `tune` sets its options before bind, so accepted sockets
    inherit them (buffer sizes in particular must precede the handshake)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tune(sock)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def tcp_info(sock: socket.socket) -> tuple[float, int] | None:
    """(smoothed RTT in seconds, total retransmits), or None where TCP_INFO is unavailable."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
    except OSError:
        return None
    if len(raw) < _INFO.size:
        return None
    rtt_us, _, retrans = _INFO.unpack_from(raw)
    return rtt_us / 1e6, retrans


def choose(congestion: str, sock: socket.socket) -> str:
    """The concrete algorithm for `congestion` on this (connected) socket."""
    if congestion != "adaptive":
        return congestion
    info = tcp_info(sock)
    if info is not None and (info[0] >= ADAPTIVE_RTT_S or info[1] > 0):
        return "bbr"
    return "cubic"


def set_congestion(sock: socket.socket, algorithm: str) -> str | None:
    """Set TCP_CONGESTION; returns what the kernel reports afterwards (None if it refused)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, algorithm.encode())
        return sock.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).split(b"\0", 1)[0].decode()
    except OSError as exc:  # module not loaded, or not in tcp_allowed_congestion_control for non-root
        log.warning("cannot set TCP congestion control %s: %s", algorithm, exc)
        return None


def apply_congestion(sock: socket.socket, congestion: str) -> str | None:
    """Set `congestion` ("adaptive" chosen for this connected socket); what the kernel reports."""
    return set_congestion(sock, choose(congestion, sock))
