"""The AMST carrier: each of QEMU's connections on its own DWCP channel, striped over N streams.

It carries what a pipe does not (plan.channel_plan): an asked-for stream count, raw bytes outside
the datacenter without multifd, the v3 transport off. QEMU connects to 127.0.0.1:P; each
connection gets a channel to the destination agent (header `fwd`), and QEMU's return path comes
back on a single-stream channel the destination opens (header `back`, attach_back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

from novacron.dwcp.amst import StreamController
from novacron.migration.carrier import FailureLatch, entrance_socket
from novacron.migration.channel_io import abort_writer, copy_out
from novacron.migration.compression import FillMeter, LevelController
from novacron.migration.endpoint import PeerEndpoint
from novacron.migration.plan import LEVEL_MAX, LEVEL_MIN, NOTSENT_LOWAT, ChannelPlan, window_for
from novacron.migration.progress import TunnelStats
from novacron.migration.qemu_socket import cap_peer_buffer
from novacron.migration.wire import ChannelHeader
from novacron.transport import Channel, ChannelError, ChannelReader, open_channel, proxy_into_channel

log = logging.getLogger(__name__)
BACK_WAIT_S = 30.0
FILL_SAMPLE_S = 0.05


def level_controller(level: int) -> LevelController:
    """A channel's zstd level controller, within the migration's bounds (plan.LEVEL_MIN..MAX)."""
    lo, hi = LEVEL_MIN, LEVEL_MAX
    return LevelController(start=min(hi, max(lo, level)), lowest=lo, highest=hi)


class AmstCarrier:
    """Source side of one migration over AMST channels (a Carrier)."""

    def __init__(self, mig_id: str, dest: PeerEndpoint, plan: ChannelPlan, *, on_error: Callable[[str], None]) -> None:
        self.mig_id, self.dest, self.plan = mig_id, dest, plan
        self.port = 0
        self.channels: list[Channel] = []
        self._latch = FailureLatch(mig_id, on_error)
        self._server: asyncio.Server | None = None
        self._backs: dict[int, asyncio.Future[tuple[ChannelReader, bytes]]] = {}
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 0
        self._levels: dict[int, tuple[LevelController, FillMeter]] = {}
        self._sampler: asyncio.Task[None] | None = None
        self._sent: dict[int, int] = {}

    async def start(self) -> int:
        sock = entrance_socket()
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._on_qemu, sock=sock, limit=1 << 20)
        self._sampler = asyncio.create_task(self._sample_fill())
        return self.port

    def prewarm(self, connections: int) -> None:
        """Nothing to open early: a channel opens when QEMU connects."""

    def stats(self) -> TunnelStats:
        s = [c.stats() for c in self.channels]
        return TunnelStats(
            bytes_in=sum(x["bytes_in"] for x in s),
            bytes_on_wire=sum(x["bytes_on_wire"] for x in s),
            streams=sum(x["streams"] for x in s),
        )

    def delivery(self) -> tuple[int, int] | None:
        """Summed over the channels whose receiver reports what its QEMU has taken (CREDIT)."""
        reporting = [(u, c.delivered) for c in self.channels if (u := c.undelivered) is not None]
        if not reporting:
            return None
        return sum(u for u, _ in reporting), sum(d for _, d in reporting)

    def attach_back(self, conn: int, reader: ChannelReader, first: bytes) -> str | None:
        fut = self._backs.setdefault(conn, asyncio.get_running_loop().create_future())
        if fut.done():
            return "a return channel for this connection already exists"
        fut.set_result((reader, first))
        return None

    def attach_pipe_back(self, conn: int, back: ssl.SSLSocket) -> str | None:
        return "this migration does not use pipes"

    def tune(self, interval_s: float) -> None:
        """Size each channel's send window to its wire rate, and move its compression toward what
        its bottleneck allows."""
        for ch in self.channels:
            if not ch.running:
                continue
            sent = ch.sender.bytes_sent
            ch.sender.window_bytes = window_for((sent - self._sent.get(id(ch), 0)) / max(interval_s, 1e-3))
            self._sent[id(ch)] = sent
            if ch.hde is None:
                continue
            ctl, meter = self._level_entry(ch)
            fill = meter.take()
            level = ctl.on_sample(fill) if fill is not None else None
            if level is None:
                continue
            log.info("migration %s: compression level %d (send window %.0f%% full)", self.mig_id, level, fill * 100)
            change = ch.apply_settings(hde_mode="never") if level == 0 else ch.apply_settings(
                hde_mode="always", compression_level=level)  # fmt: skip
            t = asyncio.ensure_future(change)
            t.add_done_callback(lambda f: f.exception())

    def _level_entry(self, ch: Channel) -> tuple[LevelController, FillMeter]:
        """The channel's zstd level controller and the window-fill meter that feeds it."""
        assert ch.hde is not None
        return self._levels.setdefault(id(ch), (level_controller(ch.hde.level), FillMeter()))

    async def _sample_fill(self) -> None:
        while True:
            await asyncio.sleep(FILL_SAMPLE_S)
            for ch in self.channels:
                if ch.hde is not None and ch.running:
                    entry = self._level_entry(ch)
                    entry[1].add(ch.sender.total_outstanding, ch.sender.window_bytes)

    def apply_congestion(self, congestion: str) -> None:
        for ch in self.channels:
            if ch.running:
                t = asyncio.ensure_future(ch.apply_settings(congestion=congestion))
                t.add_done_callback(lambda f: f.exception())

    def hand_over(self) -> None:
        self._latch.hand_over()

    @property
    def error(self) -> str | None:
        """The first failure before the hand-over, if any."""
        return self._latch.error

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            abort_writer(w)
        for ch in self.channels:
            if ch.running:
                with contextlib.suppress(Exception):
                    await ch.abort(self._latch.error or "migration ended")
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for fut in self._backs.values():
            if fut.done() and not fut.cancelled():
                fut.result()[0].abort("migration ended")
            else:
                fut.cancel()

    def _fail(self, why: str) -> None:
        if self._latch.fail(why):
            for w in self._writers:
                abort_writer(w)  # QEMU sees its socket break and fails the migration at once

    async def _on_qemu(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self._next
        self._next += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        cap = asyncio.create_task(self._cap_qemu_buffer(conn, writer))
        try:
            await self._carry(conn, reader, writer)
        except asyncio.CancelledError:
            abort_writer(writer)
        except (ChannelError, OSError, TimeoutError) as exc:
            self._fail(f"QEMU connection {conn}: {exc}")
        finally:
            self._tasks.discard(task)
            cap.cancel()

    async def _cap_qemu_buffer(self, conn: int, writer: asyncio.StreamWriter) -> None:
        """QEMU's send buffer, capped (qemu_socket.py): what waits there is downtime no one sees."""
        try:
            granted = await asyncio.to_thread(cap_peer_buffer, writer.get_extra_info("socket"), socket.SO_SNDBUF)
        except OSError as exc:
            log.info("migration %s: QEMU connection %d keeps its send buffer: %s", self.mig_id, conn, exc)
            return
        log.debug("migration %s: QEMU connection %d send buffer capped at %d bytes", self.mig_id, conn, granted)

    async def _carry(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        p, d = self.plan, self.dest
        ch = await open_channel(
            d.host, d.port, streams=p.streams, ssl=d.tls, server_hostname=d.server_name,
            congestion=p.congestion, sndbuf=p.socket_buffer, rcvbuf=p.socket_buffer, hde=p.hde,
            segment_size=p.segment_size, window_bytes=p.window, notsent_lowat=NOTSENT_LOWAT,
            raw_window=p.raw_window,
        )  # fmt: skip
        self.channels.append(ch)
        if p.autotune:
            lo, hi = p.autotune
            ctl = StreamController(min_streams=lo, max_streams=hi, per_stream_window=p.socket_buffer, initial=p.streams)
            ch.start_autotune(ctl, interval=0.5)
        await ch.write(ChannelHeader(self.mig_id, conn).encode())
        back = asyncio.create_task(self._return_path(conn, writer))
        try:
            await proxy_into_channel(reader, ch)
        except BaseException:
            back.cancel()
            raise
        with contextlib.suppress(asyncio.CancelledError):
            await back

    async def _return_path(self, conn: int, writer: asyncio.StreamWriter) -> None:
        fut = self._backs.setdefault(conn, asyncio.get_running_loop().create_future())
        try:
            reader, first = await asyncio.wait_for(asyncio.shield(fut), BACK_WAIT_S)
            await copy_out(reader, writer, first)
        except TimeoutError:
            self._fail(f"no return channel from the destination for connection {conn} in {BACK_WAIT_S:g}s")
        except (ChannelError, OSError) as exc:
            self._fail(f"return channel {conn}: {exc}")
