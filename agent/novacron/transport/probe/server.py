"""The probe endpoint every agent serves: answers pings, sinks bandwidth probes (asyncio adapter).

Unauthenticated on purpose, and harmless by construction: it never sends more than it receives
(a 32-byte pong per 32-byte ping, one 32-byte result per probe), it changes no state of the agent,
and it carries no secrets, so there is nothing to protect with the cluster's TLS and nothing a
stranger gains but an echo. What it bounds: connections (`max_connections`), pongs per
connection per second (`ping_rate`, enforced by pausing the reader, so TCP back-pressure slows a
flooder), probe size (`max_burst_bytes`), concurrent probes (`max_concurrent_bursts`; more are
answered BUSY), probe duration (`burst_timeout_s`) and idle connections (`idle_timeout_s`).

The first four bytes of a connection choose the protocol: "NVPR" = ping session (wire.py),
"NVBW" = one bandwidth probe (burst.py). Anything else is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from novacron.dwcp.probe import burst, wire
from novacron.dwcp.probe.limiter import TokenBucket
from novacron_sdk.errors import InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 64
    ping_rate: float = 50.0
    ping_burst: int = 10
    max_burst_bytes: int = 64 << 20
    max_concurrent_bursts: int = 2
    burst_timeout_s: float = 30.0
    idle_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "ping_burst", "max_burst_bytes", "max_concurrent_bursts"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"must be >= 1, got {getattr(self, name)}", field=name)
        for name in ("ping_rate", "burst_timeout_s", "idle_timeout_s"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"must be > 0, got {getattr(self, name)}", field=name)


@dataclass
class ServerStats:
    connections: int = 0
    refused_connections: int = 0
    pongs: int = 0
    bursts: int = 0
    refused_bursts: int = 0
    bytes_sunk: int = 0
    protocol_errors: int = 0


class ProbeServer:
    def __init__(self, limits: ServerLimits | None = None, *, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.limits = limits or ServerLimits()
        self.stats = ServerStats()
        self._clock_ns = clock_ns
        self._server: asyncio.Server | None = None
        self._conns: set[_ProbeProtocol] = set()
        self._bursts = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 = any free port); returns the port bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ProbeProtocol(self), host, port, reuse_address=True)
        return self.port

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise InvalidInput("the probe server is not listening", field="port")
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None


class _ProbeProtocol(asyncio.Protocol):
    def __init__(self, server: ProbeServer) -> None:
        self.s = server
        self.t: asyncio.Transport | None = None
        self.buf = bytearray()
        self.mode: str | None = None  # None -> "ping" | "burst-header" -> "burst" -> "done"
        self.sink: burst.BurstSink | None = None
        self.bucket = TokenBucket(server.limits.ping_rate, server.limits.ping_burst)
        self.paused = False
        self.last_activity = time.monotonic()
        self.timers: list[asyncio.TimerHandle] = []

    # -- asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.t = transport
        if len(self.s._conns) >= self.s.limits.max_connections:
            self.s.stats.refused_connections += 1
            transport.abort()
            return
        self.s._conns.add(self)
        self.s.stats.connections += 1
        self._later(self.s.limits.idle_timeout_s, self._idle_check)

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.mode == "burst":
            self._burst_data(data)
            return
        if self.mode == "done":
            return self._violation("data after the probe result")
        self.buf += data
        if self.mode is None:
            if len(self.buf) < 4:
                return
            magic = bytes(self.buf[:4])
            if magic == wire.MAGIC:
                self.mode = "ping"
            elif magic == burst.MAGIC:
                self.mode = "burst-header"
            else:
                return self._violation(f"unknown protocol {magic!r}")
        if self.mode == "ping":
            self._pings()
        elif self.mode == "burst-header" and len(self.buf) >= burst.FRAME_SIZE:
            self._burst_request()

    def eof_received(self) -> bool | None:
        if self.mode == "burst" and self.sink is not None:
            self.sink.on_eof()
            self._burst_done()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.s._conns.discard(self)
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        if self.mode == "burst":
            self.s._bursts -= 1
            self.mode = "done"

    def abort(self) -> None:
        if self.t is not None:
            self.t.abort()

    # -- ping session --------------------------------------------------------------------------
    def _pings(self) -> None:
        assert self.t is not None
        while len(self.buf) >= wire.FRAME_SIZE and not self.paused:
            frame = bytes(self.buf[: wire.FRAME_SIZE])
            del self.buf[: wire.FRAME_SIZE]
            try:
                pong = wire.answer(frame, self.s._clock_ns())
            except wire.ProbeWireError as exc:
                return self._violation(str(exc))
            self.t.write(pong)
            self.s.stats.pongs += 1
            wait = self.bucket.delay(time.monotonic())
            if wait > 0:
                self.paused = True
                self.t.pause_reading()
                self._later(wait, self._resume)
        if len(self.buf) > 64 * wire.FRAME_SIZE:
            self._violation("too many pings queued")

    def _resume(self) -> None:
        self.paused = False
        if self.t is not None and not self.t.is_closing():
            self.t.resume_reading()
            self._pings()

    # -- bandwidth probe -----------------------------------------------------------------------
    def _burst_request(self) -> None:
        assert self.t is not None
        try:
            req = burst.decode(bytes(self.buf[: burst.FRAME_SIZE]))
        except burst.BurstWireError as exc:
            return self._violation(str(exc))
        if req.kind != burst.KIND_REQUEST or req.nbytes <= 0:
            return self._violation("expected a bandwidth probe request")
        rest = bytes(self.buf[burst.FRAME_SIZE :])
        self.buf.clear()
        status = burst.STATUS_OK
        if req.nbytes > self.s.limits.max_burst_bytes:
            status = burst.STATUS_TOO_BIG
        elif self.s._bursts >= self.s.limits.max_concurrent_bursts:
            status = burst.STATUS_BUSY
        if status != burst.STATUS_OK:
            self.s.stats.refused_bursts += 1
            self.mode = "done"
            self.t.write(burst.encode(burst.BurstFrame(burst.KIND_RESULT, status)))
            self.t.close()
            return
        self.s._bursts += 1
        self.mode = "burst"
        self.sink = burst.BurstSink(req.nbytes)
        self.t.write(burst.encode(burst.BurstFrame(burst.KIND_ACCEPT, nbytes=req.nbytes)))
        self._later(self.s.limits.burst_timeout_s, self.abort)
        if rest:
            self._burst_data(rest)

    def _burst_data(self, data: bytes) -> None:
        assert self.sink is not None
        took = self.sink.on_data(len(data), self.s._clock_ns())
        self.s.stats.bytes_sunk += took
        if took < len(data):
            return self._violation("more bytes than the probe announced")
        if self.sink.done:
            self._burst_done()

    def _burst_done(self) -> None:
        assert self.t is not None and self.sink is not None
        if self.mode != "burst":
            return
        self.mode = "done"
        self.s._bursts -= 1
        self.s.stats.bursts += 1
        self.t.write(burst.encode(self.sink.result()))
        self.t.close()

    # -- housekeeping --------------------------------------------------------------------------
    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self.timers = [t for t in self.timers if not t.cancelled() and t.when() > loop.time()]
        self.timers.append(loop.call_later(delay, fn))

    def _idle_check(self) -> None:
        idle = time.monotonic() - self.last_activity
        if idle >= self.s.limits.idle_timeout_s:
            self.abort()
        else:
            self._later(self.s.limits.idle_timeout_s - idle, self._idle_check)

    def _violation(self, why: str) -> None:
        self.s.stats.protocol_errors += 1
        peer = self.t.get_extra_info("peername") if self.t is not None else None
        log.debug("probe endpoint: dropping %s: %s", peer, why)
        self.abort()
