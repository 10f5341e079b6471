"""DWCP fast path: one QEMU migration connection relayed byte-for-byte over one TCP connection to
the peer agent with kernel zero-copy (os.splice), for datacenter links faster than the compressor.

WHY: the full AMST channel (framing, reassembly, HDE, TLS) runs a Python byte loop that tops out
far below a datacenter link; there compression does not pay, and QEMU already stripes over N+1
connections with multifd. So each QEMU connection gets its own peer connection (that *is* the
multi-stream), and the bytes go socket -> pipe -> socket inside the kernel, both directions
(QEMU's return path rides back on the same connection). See splice_relay.py for the pumps.

Security model (be honest): the fast path is PLAINTEXT. Python's ssl cannot hand its keys to
kernel TLS, and splice cannot pass through user-space TLS. A connection is authenticated by a
token, HMAC-SHA256(per-migration secret, migration id + channel), the secret being exchanged over
the mutually-authenticated agent API; each (migration, channel) may connect once. A third party
cannot inject or hijack a migration stream without the secret, but anyone on the path can READ
guest memory. Offer it only on trusted networks (`fastpath_allowed`); where TLS is required
(internet/hybrid) use the TLS Channel. choose_data_path() encodes exactly that.

Wire (all integers big-endian). Source agent -> destination agent, once, then raw QEMU bytes:

    offset  size  field
    0       4     magic        b"NCFP"
    4       1     version      1 (others refused)
    5       1     flags        0 (reserved; non-zero refused)
    6       2     body length  L = 1 + m + 2 + 32  (36..290)
    8       1     m            length of the migration id, 1..255
    9       m     migration id UTF-8
    9+m     2     channel      QEMU connection index: 0 main, 1..N multifd; <= 1023
    11+m    32    token        HMAC-SHA256(secret, b"novacron-fastpath-v1\\0" + m + id + channel)

Destination -> source, once, before any QEMU byte: b"NCFA", status (1 byte: 0 accepted, 1 refused),
reason length R (2 bytes, 0 when accepted, <= 1024), R bytes of UTF-8 reason. The destination
connects to its QEMU before accepting, so "cannot reach QEMU" comes back as a refusal. Parsing is
sans-I/O in fastpath_wire.py (header_missing/parse_header, reply_missing/parse_reply).

Public API:
    choose_data_path(fastpath_allowed=, tls_required=, mode=, ...) -> DataPathChoice
    FastpathHeader.signed(migration_id, channel, secret); new_secret()
    await fastpath_send(qemu_sock, (host, port), header, sndbuf=, congestion=, ...) -> RelayStats
    FastpathServer(host, port, authorize=FastpathAuthorizer() | callable, ...): start/close/stats()
Failures raise FastpathError (a ChannelError) with .stats; refusals raise FastpathRefused.
Socket buffers default to None = kernel autotuning (up to net.ipv4.tcp_rmem/wmem max): in
benchmarks/transport.py --fastpath fixed 4 MiB SO_SNDBUF/SO_RCVBUF were 25-30% slower, since a
fixed size switches autotuning off; pass sizes for long fat links whose BDP exceeds those maxima.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

from novacron.dwcp.congestion import check_congestion
from novacron.transport import sockopts
from novacron_sdk.errors import InvalidInput

from .fastpath_io import (
    FastpathError,
    FastpathRefused,
    RelayStats,
    connect,
    recv_exact,
    relay_stats,
    reset,
    run_relay,
)
from .fastpath_server import FastpathAuthorizer, FastpathServer, FastpathServerStats
from .fastpath_wire import (
    FastpathHeader,
    FastpathHeaderError,
    new_secret,
    parse_reply,
    reply_missing,
)
from .splice_relay import SpliceRelay

__all__ = [
    "DataPathChoice",
    "FastpathAuthorizer",
    "FastpathError",
    "FastpathHeader",
    "FastpathHeaderError",
    "FastpathRefused",
    "FastpathServer",
    "FastpathServerStats",
    "RelayStats",
    "choose_data_path",
    "fastpath_send",
    "new_secret",
]


@dataclass(frozen=True)
class DataPathChoice:
    fastpath: bool
    reason: str


def choose_data_path(
    *,
    fastpath_allowed: bool,
    tls_required: bool,
    mode: str,
    link_bytes_per_s: float | None = None,
    compressor_bytes_per_s: float | None = None,
) -> DataPathChoice:
    """Fast path only where the operator trusts the link and no TLS is required, and compression
    would not pay: datacenter mode, or (if measured) a link at least as fast as the compressor."""
    if not fastpath_allowed:
        return DataPathChoice(False, "fastpath_allowed is off")
    if tls_required:
        return DataPathChoice(False, "TLS is required and the fast path is plaintext")
    if link_bytes_per_s is not None and compressor_bytes_per_s is not None:
        if link_bytes_per_s >= compressor_bytes_per_s:
            return DataPathChoice(True, "the link is faster than the compressor")
        return DataPathChoice(False, "the compressor is faster than the link: compression pays")
    if mode == "datacenter":
        return DataPathChoice(True, "datacenter mode")
    return DataPathChoice(False, f"{mode} mode: compression pays")


async def fastpath_send(
    qemu_reader_sock: socket.socket,
    peer_addr: tuple[str, int],
    header: FastpathHeader,
    *,
    sndbuf: int | None = None,
    rcvbuf: int | None = None,
    congestion: str = "cubic",
    connect_timeout: float = 10.0,
    handshake_timeout: float = 10.0,
    idle_timeout: float = 60.0,
    pipe_size: int = 1 << 20,
) -> RelayStats:
    """Relay the accepted QEMU connection `qemu_reader_sock` (a plain socket you own, e.g. from
    `loop.sock_accept`; this takes ownership and always closes it) to the peer agent's
    FastpathServer at `peer_addr`, both directions, until both reach EOF. Returns the stats of a
    clean end; raises FastpathRefused / FastpathError otherwise (QEMU's socket is then reset, so
    QEMU fails the migration at once). Cancelling aborts the relay."""
    if not isinstance(qemu_reader_sock, socket.socket):
        raise InvalidInput(
            f"must be a socket.socket, not {type(qemu_reader_sock).__name__}", field="qemu_reader_sock"
        )
    try:
        check_congestion(congestion)
    except InvalidInput:
        reset(qemu_reader_sock)
        raise
    mig, ch = header.migration_id, header.channel
    where = f"{peer_addr[0]}:{peer_addr[1]}"
    t0 = time.monotonic()
    try:
        peer = await connect(peer_addr, connect_timeout, sndbuf=sndbuf, rcvbuf=rcvbuf)
    except BaseException as exc:
        reset(qemu_reader_sock)
        if isinstance(exc, (OSError, TimeoutError)):
            raise FastpathError(
                f"fast path {mig}/{ch}: cannot connect to the peer agent {where}: {exc!r}"
            ) from exc
        raise
    cc = sockopts.apply_congestion(peer, congestion)
    try:
        refusal = await asyncio.wait_for(_handshake(peer, header), handshake_timeout)
    except BaseException as exc:
        reset(peer)
        reset(qemu_reader_sock)
        if isinstance(exc, (OSError, TimeoutError, FastpathHeaderError)):
            raise FastpathError(f"fast path {mig}/{ch}: handshake with {where} failed: {exc!r}") from exc
        raise
    if refusal is not None:
        reset(peer)
        reset(qemu_reader_sock)
        raise FastpathRefused(f"fast path {mig}/{ch}: {where} refused: {refusal}")
    setup = time.monotonic() - t0
    relay = SpliceRelay(
        qemu_reader_sock,
        peer,
        idle_timeout=idle_timeout,
        pipe_size=pipe_size,
        name=f"fastpath-{mig[:16]}-{ch}",
    )
    try:
        await run_relay(relay)
    except OSError as exc:  # start() failed (no fds for the pipes); the sockets are closed
        raise FastpathError(f"fast path {mig}/{ch}: {relay.error or exc}") from exc
    stats = relay_stats(relay, mig, ch, setup, cc)
    if stats.error is not None:
        raise FastpathError(f"fast path {mig}/{ch} to {where} failed: {stats.error}", stats)
    return stats


async def _handshake(peer: socket.socket, header: FastpathHeader) -> str | None:
    await asyncio.get_running_loop().sock_sendall(peer, header.encode())
    buf = b""
    while n := reply_missing(buf):
        buf += await recv_exact(peer, n)
    return parse_reply(buf)
