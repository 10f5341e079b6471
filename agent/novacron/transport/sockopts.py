"""Per-socket TCP tuning: congestion control, buffer sizes, Nagle, and reading TCP_INFO.

The choice of congestion control is dwcp/congestion.py's; this module only asks the kernel for the
facts it needs (the connected socket's RTT and retransmissions) and sets the answer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from novacron.dwcp.congestion import Algorithm, Congestion, resolve_congestion
from novacron.dwcp.probe.tcpinfo import TCP_INFO_LEN, TcpInfo, parse_tcp_info
from novacron_sdk.errors import InvalidInput

log = logging.getLogger(__name__)

TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)


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


def tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's TCP_INFO of a TCP socket (asyncio's transport sockets too), or None where there
    is none: not Linux, not a TCP socket, closed."""
    try:
        return parse_tcp_info(sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, TCP_INFO_LEN))
    except (OSError, InvalidInput):
        return None


def choose(congestion: Congestion, sock: socket.socket) -> Algorithm:
    """The algorithm for `congestion` on this connected socket (dwcp/congestion.py decides)."""
    info = tcp_info(sock)
    if info is None:
        return resolve_congestion(congestion)
    return resolve_congestion(congestion, rtt_ms=info.rtt_ms, retransmits=info.total_retrans)


def set_congestion(sock: socket.socket, algorithm: str) -> str | None:
    """Set TCP_CONGESTION; returns what the kernel reports afterwards (None if it refused)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, algorithm.encode())
        return sock.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).split(b"\0", 1)[0].decode()
    except OSError as exc:  # module not loaded, or not in tcp_allowed_congestion_control for non-root
        log.warning("cannot set TCP congestion control %s: %s", algorithm, exc)
        return None


def apply_congestion(sock: socket.socket, congestion: Congestion) -> str | None:
    """Set `congestion` on this connected socket; what the kernel reports."""
    return set_congestion(sock, choose(congestion, sock))
