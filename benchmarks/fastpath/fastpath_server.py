"""Destination end of the fast path: accepts peer-agent connections, reads and checks the session
header, connects to the destination QEMU and splices both ways. Also FastpathAuthorizer, the
ready-made `authorize` callback that checks tokens and lets each QEMU channel connect only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from novacron.dwcp.congestion import check_congestion
from novacron.transport import sockopts
from novacron_sdk.errors import InvalidInput

from .fastpath_io import (
    RelayStats,
    connect,
    recv_exact,
    relay_stats,
    reset,
    run_relay,
    tune,
)
from .fastpath_wire import (
    MAX_CHANNEL,
    MIN_SECRET,
    FastpathHeader,
    FastpathHeaderError,
    encode_reply,
    header_missing,
    parse_header,
)
from .splice_relay import SpliceRelay

log = logging.getLogger(__name__)
Address = tuple[str, int]
Authorize = Callable[[FastpathHeader], "Address | None | Awaitable[Address | None]"]
KEEP_FINISHED = 1024


class FastpathAuthorizer:
    """authorize() for FastpathServer: allow(migration) with its secret and destination QEMU address;
    a header passes if its token verifies and its channel has not connected before (a token seen
    on the wire cannot be replayed for a second connection)."""

    def __init__(self) -> None:
        self._allowed: dict[str, tuple[bytes, Address, int]] = {}
        self._claimed: set[tuple[str, int]] = set()

    def allow(
        self, migration_id: str, secret: bytes, dest: Address, *, channels: int = MAX_CHANNEL + 1
    ) -> None:
        if len(secret) < MIN_SECRET:
            raise InvalidInput(f"must be at least {MIN_SECRET} bytes", field="secret")
        if not 1 <= channels <= MAX_CHANNEL + 1:
            raise InvalidInput(f"must be 1..{MAX_CHANNEL + 1}", field="channels")
        self._allowed[migration_id] = (secret, dest, channels)

    def revoke(self, migration_id: str) -> None:
        self._allowed.pop(migration_id, None)
        self._claimed = {c for c in self._claimed if c[0] != migration_id}

    def __call__(self, header: FastpathHeader) -> Address | None:
        entry = self._allowed.get(header.migration_id)
        if entry is None or not header.verify(entry[0]) or header.channel >= entry[2]:
            return None
        key = (header.migration_id, header.channel)
        if key in self._claimed:
            return None
        self._claimed.add(key)
        return entry[1]


@dataclass(frozen=True)
class FastpathServerStats:
    accepted: int
    refused: int
    active: int
    completed: int
    failed: int
    bytes_forward: int
    bytes_back: int
    relays: list[RelayStats] = field(default_factory=list)  # active first, then recent finished
    refusals: list[str] = field(default_factory=list)  # recent reasons, oldest first


class FastpathServer:
    """`async with FastpathServer(host, port, authorize=...) as srv:`; srv.port is the bound port.
    on_finished(stats) is called (in the loop) for every relay that ran, error or not."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        authorize: Authorize,
        sndbuf: int | None = None,
        rcvbuf: int | None = None,
        congestion: str = "cubic",
        header_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        pipe_size: int = 1 << 20,
        on_finished: Callable[[RelayStats], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.congestion = check_congestion(congestion)
        self._authorize = authorize
        self._bufs = (sndbuf, rcvbuf)
        self._timeouts = (header_timeout, connect_timeout, idle_timeout)
        self._pipe_size = pipe_size
        self._on_finished = on_finished
        self._listener: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: dict[int, tuple[SpliceRelay, FastpathHeader, float, str | None]] = {}
        self._finished: deque[RelayStats] = deque(maxlen=KEEP_FINISHED)
        self._refusals: deque[str] = deque(maxlen=64)
        self._counts = {"accepted": 0, "refused": 0, "completed": 0, "failed": 0, "fwd": 0, "back": 0}

    async def __aenter__(self) -> FastpathServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        sock = sockopts.listening_socket(self.host, self.port, lambda s: tune(s, *self._bufs))
        self._listener = sock
        self.port = sock.getsockname()[1]
        self._accept_task = asyncio.create_task(self._accept_loop())

    async def close(self) -> None:
        """Stop listening, abort every relay (their sockets are reset) and wait for their threads."""
        if self._accept_task is not None:
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
            self._accept_task = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    def stats(self) -> FastpathServerStats:
        c = self._counts
        live = [relay_stats(r, h.migration_id, h.channel, s, cc) for r, h, s, cc in self._active.values()]
        return FastpathServerStats(
            accepted=c["accepted"], refused=c["refused"], active=len(live), completed=c["completed"],
            failed=c["failed"], bytes_forward=c["fwd"] + sum(x.bytes_forward for x in live),
            bytes_back=c["back"] + sum(x.bytes_back for x in live), relays=live + list(self._finished),
            refusals=list(self._refusals),
        )  # fmt: skip

    # -- per connection -------------------------------------------------------------------------
    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            try:
                conn, _ = await loop.sock_accept(self._listener)
            except OSError as exc:  # EMFILE and friends: back off instead of spinning
                log.warning("fast path: accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            self._counts["accepted"] += 1
            task = asyncio.create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        t0 = time.monotonic()
        header_timeout, connect_timeout, idle_timeout = self._timeouts
        conn.setblocking(False)
        try:
            header = await asyncio.wait_for(self._read_header(conn), header_timeout)
        except FastpathHeaderError as exc:
            return await self._refuse(conn, f"malformed fast-path header: {exc}")
        except TimeoutError:
            return await self._refuse(conn, f"no complete fast-path header within {header_timeout:g} s")
        except OSError as exc:
            self._note_refusal(f"connection lost before the header: {exc}")
            return reset(conn)
        except BaseException:
            reset(conn)
            raise
        who = f"migration {header.migration_id!r} channel {header.channel}"
        try:
            dest = self._authorize(header)
            if inspect.isawaitable(dest):
                dest = await dest
        except Exception as exc:
            log.exception("fast path: authorize() failed for %s", who)
            return await self._refuse(conn, f"{who}: authorization failed ({type(exc).__name__})")
        if dest is None:
            return await self._refuse(
                conn, f"{who}: not authorized (unknown migration, bad token or reused channel)"
            )
        try:
            qemu = await connect(dest, connect_timeout, sndbuf=self._bufs[0], rcvbuf=self._bufs[1])
        except (OSError, TimeoutError) as exc:
            return await self._refuse(
                conn, f"{who}: cannot connect to the destination QEMU at {dest[0]}:{dest[1]}: {exc!r}"
            )
        except BaseException:
            reset(conn)
            raise
        cc = sockopts.apply_congestion(conn, self.congestion)
        try:
            await asyncio.get_running_loop().sock_sendall(conn, encode_reply(None))
        except BaseException as exc:
            reset(conn)
            reset(qemu)
            if not isinstance(exc, OSError):
                raise
            return self._note_refusal(f"{who}: connection lost before the reply: {exc}")
        await self._relay(conn, qemu, header, time.monotonic() - t0, cc, idle_timeout)

    async def _read_header(self, conn: socket.socket) -> FastpathHeader:
        buf = b""
        while n := header_missing(buf):
            buf += await recv_exact(conn, n)
        return parse_header(buf)[0]

    async def _relay(
        self,
        conn: socket.socket,
        qemu: socket.socket,
        header: FastpathHeader,
        setup: float,
        cc: str | None,
        idle: float,
    ) -> None:
        name = f"fastpath-{header.migration_id[:16]}-{header.channel}"
        relay = SpliceRelay(conn, qemu, idle_timeout=idle, pipe_size=self._pipe_size, name=name)
        key = id(relay)
        self._active[key] = (relay, header, setup, cc)
        try:
            await run_relay(relay)
        except OSError:
            pass  # start() failed; relay.error says why and the sockets are closed
        finally:
            del self._active[key]
            stats = relay_stats(relay, header.migration_id, header.channel, setup, cc)
            self._finished.appendleft(stats)
            self._counts["fwd"] += stats.bytes_forward
            self._counts["back"] += stats.bytes_back
            self._counts["failed" if stats.error else "completed"] += 1
            if stats.error:
                log.warning("fast path %s/%d failed: %s", header.migration_id, header.channel, stats.error)
            if self._on_finished is not None:
                self._on_finished(stats)

    async def _refuse(self, conn: socket.socket, why: str) -> None:
        """Tell the sender why (it raises FastpathRefused with this text), then close."""
        self._note_refusal(why)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_sendall(conn, encode_reply(why)), 5)
            conn.shutdown(socket.SHUT_WR)
            async with asyncio.timeout(1):  # unread input would turn close() into a reset that can
                for _ in range(64):  # destroy the reply before the sender reads it: drain a little
                    if not await loop.sock_recv(conn, 1 << 16):
                        break
        except (OSError, TimeoutError):
            pass
        finally:
            conn.close()

    def _note_refusal(self, why: str) -> None:
        log.warning("fast path: refused a connection: %s", why)
        self._counts["refused"] += 1
        self._refusals.append(why)
