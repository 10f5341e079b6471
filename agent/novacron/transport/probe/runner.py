"""The prober (asyncio adapter): measures every peer and feeds ModeService and the PBA predictors.

Per peer, a ProbeScheduler says what is due; this loop does it on the agent's event loop:
  * ping (every `interval_s`) on one persistent connection -> RTT sample for the detector: the
    minimum of the last `rtt_window` pings, so host scheduling noise (a busy event loop on either
    agent) does not read as path delay -- the path's delay is the floor under that noise; a new
    connection starts with `rtt_window` pings a moment apart, so its first sample is such a floor too;
  * bandwidth probe (every `bandwidth_interval_s`, only while no real transfer reported
    throughput in the last few seconds) -> bandwidth + TCP_INFO loss sample for the detector and
    an observation for the peer's bandwidth predictor. Pings pause while a probe runs, so a
    probe's own queue never inflates an RTT sample;
  * real transfers reported through ModeService.on_transfer(peer, bytes, seconds) count as
    bandwidth samples and postpone the next probe (the scheduler's idle rule).
Decisions and the switch of LiveSettings happen inside ModeService, on this loop's thread, so
subscribers that schedule asyncio work see the agent's loop.

A peer that stops answering is retried with exponential backoff (up to 30 s) and, after
`stale_after_s` without a measurement, dropped from detection (so one dead peer does not hold
the node's mode), and taken back with its next answer.

Cost per peer, defaults (interval 2 s, a probe every 30 s): pings 32 bytes each way per 2 s
(~100 B/s with TCP/IP headers); a probe is 4 MiB on short paths and 3 bandwidth-delay products
of 1 Gbit/s on long ones (burst.probe_size: ~19 MB at 50 ms RTT, fewer where `burst_max_s`
ends it first), capped by `bandwidth_bytes` (24 MiB): 4 MiB / 30 s = ~1.1 Mbit/s on average in a
datacenter, ~5 Mbit/s across a 50 ms path, sent only while the link carries no transfer. A
smaller probe cannot see a fast long path: slow start is most of it (decisions.md: probe-size).
`estimated_cost_bytes_per_s()` gives the upper bound,
`bandwidth_bytes / bandwidth_interval_s + ~50 * 2 / interval_s` bytes/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from novacron.config.model import ProbeConfig, TransportConfig
from novacron.dwcp.mode.detector import LinkSample
from novacron.dwcp.probe.burst import probe_size
from novacron.dwcp.probe.rtt import RecentMin
from novacron.dwcp.probe.scheduler import ProbeScheduler
from novacron.dwcp.probe.targets import ProbeTarget
from novacron.dwcp.probe.wire import FRAME_SIZE
from novacron.transport.mode.service import ModeService
from novacron.transport.probe.client import BurstOutcome, PingSession, ProbeError, bandwidth_probe
from novacron_sdk.errors import InvalidInput

log = logging.getLogger(__name__)

PREDICTION_HORIZON_S = 5.0
MAX_BACKOFF_S = 30.0
WIRE_OVERHEAD = 52  # IPv4 + TCP with timestamps, per ping or pong segment


@dataclass
class _Peer:
    target: ProbeTarget
    sched: ProbeScheduler
    session: PingSession | None = None
    rtt: RecentMin = field(default_factory=RecentMin)
    last_rtt_ms: float | None = None
    last_ok: float | None = None
    failures: int = 0
    retry_at: float = 0.0
    removed: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass
class _Prediction:
    ml: bool
    predictor: Any  # BandwidthPredictor


class ProbeRunner:
    """`probe` sets the intervals and the probe size (ProbeConfig); `transport` the congestion
    control a probe's connection uses, the same the transport's own connections use, so a probe
    measures what a migration would get."""

    def __init__(
        self,
        mode: ModeService,
        targets: Sequence[ProbeTarget],
        probe: ProbeConfig,
        transport: TransportConfig,
        *,
        burst_max_s: float = 2.0,
        ping_timeout_s: float | None = None,
        rtt_window: int = 3,
        stale_after_s: float | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        predictor_factory: Callable[[bool], Any] | None = None,
    ) -> None:
        # a lost pong on a live TCP connection means the path broke: give up well before TCP does
        if ping_timeout_s is None:
            ping_timeout_s = max(2.0, min(10.0, 5 * probe.interval_s))
        for name, value in (("burst_max_s", burst_max_s), ("ping_timeout_s", ping_timeout_s)):
            if not value > 0:
                raise InvalidInput(f"must be > 0, got {value}", field=name)
        self.mode = mode
        self.interval_s = probe.interval_s
        self.bandwidth_interval_s = probe.bandwidth_interval_s
        self.bandwidth_bytes = probe.bandwidth_bytes
        self.burst_max_s = burst_max_s
        self.ping_timeout_s = ping_timeout_s
        self.congestion = transport.congestion_algo
        self.stale_after_s = stale_after_s if stale_after_s is not None else max(30.0, 5 * probe.interval_s)
        self._clock = clock
        self._t0 = clock()
        # Resolved on the first bandwidth sample: the ML predictor pulls numpy, which would
        # otherwise add ~0.1 s to every agent boot.
        self._factory = predictor_factory
        self._peers: dict[str, _Peer] = {}
        for t in targets:
            if t.node_id in self._peers:
                raise InvalidInput(f"peer {t.node_id!r} listed twice", field="targets")
            sched = ProbeScheduler(
                ping_interval_s=probe.interval_s,
                bandwidth_interval_s=probe.bandwidth_interval_s,
                idle_after_s=max(5.0, 2 * probe.interval_s),
            )
            self._peers[t.node_id] = _Peer(t, sched, rtt=RecentMin(rtt_window))
        self._predictions: dict[str, _Prediction] = {}
        self._predicted: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._remove_listener: Callable[[], None] | None = None

        reg = registry if registry is not None else CollectorRegistry()
        self._c_bytes = Counter(
            "dwcp_probe_bytes", "Bytes this node's link probes sent, by probe kind", ["kind"], registry=reg
        )
        self._c_fail = Counter(
            "dwcp_probe_failures", "Link probes that produced no measurement", ["peer", "kind"], registry=reg
        )
        self._g_pred = Gauge(
            "dwcp_peer_predicted_mbps",
            f"PBA forecast of a peer's bandwidth over the next {PREDICTION_HORIZON_S:g} s in Mbit/s",
            ["peer"],
            registry=reg,
        )
        self._g_cost = Gauge(
            "dwcp_probe_cost_bytes_per_second", "Configured probe traffic per peer (upper bound)", registry=reg
        )
        self._g_cost.set(self.estimated_cost_bytes_per_s())

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._remove_listener = self.mode.add_transfer_listener(self._on_transfer)
        self.mode.set_prediction_source(self.predicted_mbps)
        for p in self._peers.values():
            p.task = asyncio.create_task(self._run(p), name=f"dwcp-probe-{p.target.node_id}")

    async def stop(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        self.mode.set_prediction_source(None)
        tasks = [p.task for p in self._peers.values() if p.task is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for p in self._peers.values():
            p.task = None
            if p.session is not None:
                p.session.close()
                p.session = None

    @property
    def _warm_up_gap_s(self) -> float:
        """Spacing of a new connection's first `rtt_window` pings, which are judged together.

        The detector classifies a peer from its first sample, and a single ping also times both
        agents' scheduling: a just-started agent's busy loop can make a short link look like the
        internet (decisions.md: probe-first-pings). The minimum of a few pings spread over up to
        half a second sees through a busy moment.
        """
        return min(0.25, self.interval_s / 4)

    # -- reads ----------------------------------------------------------------------------------
    @property
    def targets(self) -> list[ProbeTarget]:
        return [p.target for p in self._peers.values()]

    def predicted_mbps(self, peer: str) -> float | None:
        """The last forecast for `peer` (Mbit/s over the next 5 s), None before any bandwidth sample."""
        return self._predicted.get(peer)

    def estimated_cost_bytes_per_s(self) -> float:
        """Probe bytes per second towards one idle peer, headers included (pings both ways)."""
        pings = 2 * (FRAME_SIZE + WIRE_OVERHEAD) / self.interval_s
        bursts = self.bandwidth_bytes / self.bandwidth_interval_s if self.bandwidth_bytes else 0.0
        return pings + bursts * (1 + WIRE_OVERHEAD / 1448)

    # -- the per-peer loop ------------------------------------------------------------------------
    async def _run(self, p: _Peer) -> None:
        if self.bandwidth_bytes == 0:
            # probes disabled: one "in flight" forever, so the scheduler never asks for another
            p.sched.on_sent("bandwidth", self._clock())
        while True:
            now = self._clock()
            if now < p.retry_at:
                await asyncio.sleep(p.retry_at - now)
                continue
            try:
                await self._round(p, now)
            except Exception as exc:  # a bug in one round must not end this peer's probing for good
                log.exception("probing %s failed unexpectedly", p.target.node_id)
                self._failed(p, "internal", exc)
            now = self._clock()
            wake = p.retry_at if p.failures else p.sched.next_due(now)
            await asyncio.sleep(max(0.0, wake - now))

    async def _round(self, p: _Peer, now: float) -> None:
        if self.mode.link_busy(p.target.node_id):  # a migration fills the link (ModeService.begin_busy)
            p.sched.on_link_busy(now)
        due = p.sched.poll(now)
        if "ping" in due:
            p.sched.on_sent("ping", now)
            await self._ping(p)
        if "bandwidth" in due and p.failures == 0 and p.last_rtt_ms is not None:
            p.sched.on_sent("bandwidth", self._clock())
            try:
                await self._bandwidth(p)
            finally:
                p.sched.on_bandwidth_done()
        self._check_stale(p)

    async def _ping(self, p: _Peer) -> None:
        t = p.target
        try:
            fresh = p.session is None
            if p.session is None:
                p.session = await PingSession.connect(t.host, t.port, timeout=self.ping_timeout_s)
            rtts = [await p.session.ping(timeout=self.ping_timeout_s)]
            if fresh:  # warm-up: see `_warm_up_gap_s`
                for _ in range(p.rtt.window - 1):
                    await asyncio.sleep(self._warm_up_gap_s)
                    rtts.append(await p.session.ping(timeout=self.ping_timeout_s))
        except ProbeError as exc:
            self._failed(p, "ping", exc)
            return
        self._c_bytes.labels(kind="ping").inc(FRAME_SIZE * len(rtts))
        self._ok(p)
        if p.sched.transfer_active(self._clock()):  # queues of a busy link, not the path's delay
            return
        for rtt in rtts:
            p.last_rtt_ms = p.rtt.on_sample(rtt)
        self._sample(p, LinkSample(p.last_rtt_ms))
        self._refresh_prediction(t.node_id)

    async def _bandwidth(self, p: _Peer) -> None:
        t = p.target
        try:
            out: BurstOutcome = await bandwidth_probe(
                t.host, t.port, probe_size(p.last_rtt_ms, self.bandwidth_bytes), max_seconds=self.burst_max_s,
                congestion=self.congestion,
            )
        except ProbeError as exc:
            self._failed(p, "bandwidth", exc, retry=False)
            return
        self._c_bytes.labels(kind="bandwidth").inc(out.sent)
        self._ok(p)
        rtt = p.last_rtt_ms if p.last_rtt_ms is not None else out.min_rtt_ms
        if rtt is None:
            return
        self._sample(p, LinkSample(rtt, out.mbps, out.loss))
        self._observe(t.node_id, out.mbps)

    def _sample(self, p: _Peer, sample: LinkSample) -> None:
        for d in self.mode.on_link_sample(p.target.node_id, sample):
            log.info("dwcp mode: %s %s: %s -> %s (%s)", d.scope, d.peer or "", d.old, d.new, d.reason)

    def _ok(self, p: _Peer) -> None:
        if p.failures:
            log.info("probe endpoint of %s answers again", p.target.node_id)
        p.failures, p.last_ok, p.removed = 0, self._clock(), False

    def _failed(self, p: _Peer, kind: str, exc: Exception, *, retry: bool = True) -> None:
        self._c_fail.labels(peer=p.target.node_id, kind=kind).inc()
        if p.session is not None:
            p.session.close()
            p.session = None
        if not retry:
            log.debug("%s probe of %s: %s", kind, p.target.node_id, exc)
            return
        p.failures += 1
        backoff = min(MAX_BACKOFF_S, self.interval_s * 2 ** min(p.failures - 1, 10))
        p.retry_at = self._clock() + backoff
        level = logging.WARNING if p.failures == 1 else logging.DEBUG
        log.log(level, "probing %s (%s:%d) failed: %s; retry in %.1fs",
                p.target.node_id, p.target.host, p.target.port, exc, backoff)

    def _check_stale(self, p: _Peer) -> None:
        if p.removed or p.last_ok is None or self._clock() - p.last_ok < self.stale_after_s:
            return
        p.removed = True
        log.warning("no measurement of %s for %.0fs: leaving it out of mode detection",
                    p.target.node_id, self.stale_after_s)
        for d in self.mode.remove_peer(p.target.node_id):
            log.info("dwcp mode: %s: %s -> %s (%s)", d.scope, d.old, d.new, d.reason)
        self._predicted.pop(p.target.node_id, None)
        with contextlib.suppress(KeyError):
            self._g_pred.remove(p.target.node_id)

    # -- transfers and prediction -----------------------------------------------------------------
    def _on_transfer(self, peer: str, mbps: float) -> None:
        """ModeService transfer listener; may be called from any thread."""
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._transfer_sample(peer, mbps)
        else:
            self._loop.call_soon_threadsafe(self._transfer_sample, peer, mbps)

    def _transfer_sample(self, peer: str, mbps: float) -> None:
        p = self._peers.get(peer)
        if p is not None:
            p.sched.on_transfer_sample(self._clock())
        self._observe(peer, mbps)

    def _observe(self, peer: str, mbps: float) -> None:
        ml = bool(self.mode.flags.prediction)
        entry = self._predictions.get(peer)
        if entry is None or entry.ml != ml:  # the flag changed at run time: start over with the other kind
            if self._factory is None:
                from novacron.dwcp.pba import make_predictor

                self._factory = make_predictor
            entry = self._predictions[peer] = _Prediction(ml, self._factory(ml))
        t = self._clock() - self._t0
        last = entry.predictor.last_time
        entry.predictor.observe(max(t, last) if last is not None else t, mbps)
        self._refresh_prediction(peer)

    def _refresh_prediction(self, peer: str) -> None:
        entry = self._predictions.get(peer)
        if entry is None or entry.predictor.last_time is None:
            return
        now_s = max(self._clock() - self._t0, entry.predictor.last_time)
        try:
            value = float(entry.predictor.predict(PREDICTION_HORIZON_S, now_s))
        except Exception:  # advisory: a predictor bug must not stop probing
            log.exception("bandwidth prediction for %s failed", peer)
            return
        self._predicted[peer] = value
        self._g_pred.labels(peer=peer).set(value)
