"""The prober's side of the probe endpoint (asyncio adapter): a ping session and one bandwidth probe.

A ping session is one long-lived TCP connection (TCP_NODELAY, as asyncio sets it), one ping in
flight at a time: sequential pings cannot queue behind each other, so each RTT sample is the
path's plus both agents' event-loop latency and nothing else. A bandwidth probe opens its own
connection (see burst.py) and reports, with the receiver's figure, what the kernel saw on the
sending socket: retransmissions (loss) and the minimum RTT (path delay without queueing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass

from novacron.dwcp.congestion import Congestion, check_congestion
from novacron.dwcp.probe import burst
from novacron.dwcp.probe.tcpinfo import TcpInfo, loss_ratio
from novacron.dwcp.probe.wire import FRAME_SIZE, Pinger
from novacron.transport import sockopts
from novacron_sdk.errors import InvalidInput

CHUNK = 256 << 10
_FILLER = memoryview(bytes(CHUNK))


class ProbeError(Exception):
    """A probe that produced no measurement (refused, timed out, connection broken)."""


def _sock_info(writer: asyncio.StreamWriter) -> TcpInfo | None:
    sock = writer.get_extra_info("socket")
    return None if sock is None else sockopts.tcp_info(sock)


class PingSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._pinger = Pinger(first_nonce=int.from_bytes(os.urandom(6), "big"))
        self.sent_bytes = 0

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float = 5.0) -> PingSession:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise ProbeError(f"cannot connect to probe endpoint {host}:{port}: {exc!r}") from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sockopts.set_nodelay(sock, True)
        return cls(reader, writer)

    async def ping(self, *, timeout: float = 5.0) -> float:
        """One round trip; the RTT in milliseconds."""
        frame = self._pinger.ping(time.monotonic_ns())
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(frame)
                self.sent_bytes += len(frame)
                await self._writer.drain()
                while True:
                    data = await self._reader.readexactly(FRAME_SIZE)
                    rtt = self._pinger.on_pong(data, time.monotonic_ns())
                    if rtt is not None:
                        return rtt
        except (OSError, TimeoutError, asyncio.IncompleteReadError, InvalidInput) as exc:
            raise ProbeError(f"ping failed: {exc!r}") from exc

    def tcp_info(self) -> TcpInfo | None:
        return _sock_info(self._writer)

    def close(self) -> None:
        self._writer.close()


@dataclass(frozen=True)
class BurstOutcome:
    sent: int
    received: int
    seconds: float
    mbps: float
    min_rtt_ms: float | None
    loss: float | None
    congestion: str | None = None  # the sender's TCP congestion control, as the kernel reports it


async def bandwidth_probe(
    host: str, port: int, nbytes: int, *, congestion: Congestion, max_seconds: float = 2.0,
    timeout: float = 10.0,
) -> BurstOutcome:  # fmt: skip
    """Send up to `nbytes` (stopping after `max_seconds`) and return the receiver's measurement.

    `congestion` (the transport's setting; "adaptive" is decided on the connected socket, see
    dwcp/congestion.py): the probe should measure what a migration's connection would get; on a
    lossy long path the host's default (cubic) reads far below what the migration's bbr pipes move
    (decisions.md: probe-congestion-control).
    """
    if not isinstance(nbytes, int) or nbytes <= 0:
        raise InvalidInput(f"must be a positive integer, got {nbytes!r}", field="nbytes")
    check_congestion(congestion)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(max_seconds + timeout):
            reader, writer = await asyncio.open_connection(host, port)
            used = _set_congestion(writer, congestion)
            writer.write(burst.encode(burst.BurstFrame(burst.KIND_REQUEST, nbytes=nbytes)))
            await writer.drain()
            reply = burst.decode(await reader.readexactly(burst.FRAME_SIZE))
            if reply.kind != burst.KIND_ACCEPT:
                raise ProbeError(f"probe refused by {host}:{port} (status {reply.status})")
            sent, t0 = 0, time.monotonic()
            while sent < nbytes and time.monotonic() - t0 < max_seconds:
                n = min(CHUNK, nbytes - sent)
                writer.write(_FILLER[:n])
                sent += n
                await writer.drain()
            if sent < nbytes:
                writer.write_eof()
            result = burst.decode(await reader.readexactly(burst.FRAME_SIZE))
            info = _sock_info(writer)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, InvalidInput) as exc:
        raise ProbeError(f"bandwidth probe to {host}:{port} failed: {exc!r}") from exc
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)
    mbps = burst.throughput_mbps(result)
    if mbps is None:
        raise ProbeError(f"bandwidth probe to {host}:{port} measured nothing ({result})")
    min_rtt = info.min_rtt_us / 1000.0 if info is not None and info.min_rtt_us else None
    return BurstOutcome(
        sent=sent,
        received=result.nbytes,
        seconds=result.duration_ns / 1e9,
        mbps=mbps,
        min_rtt_ms=min_rtt,
        loss=loss_ratio(info) if info is not None else None,
        congestion=used,
    )


def _set_congestion(writer: asyncio.StreamWriter, congestion: Congestion) -> str | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    return sockopts.apply_congestion(sock, congestion)  # type: ignore[arg-type]
