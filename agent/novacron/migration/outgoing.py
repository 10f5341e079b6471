"""The source's half of one migration: prepare the destination, let libvirt migrate through the
tunnel while progress is sampled, then hand ownership over, or roll back.

Ownership: the VM stays this node's until libvirt has returned the running destination domain;
then the phase becomes `switchover` (stored before anyone is told), the destination adopts the VM,
and only then is it forgotten here. Any failure before that leaves it running here (resumed if
libvirt left it paused), the destination cleaned up, and the migration failed with the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import libvirt

from novacron.migration import libvirt_ops as lv
from novacron.migration import plan as planning
from novacron.migration.deps import BUSY_GRACE_S, Deps, now
from novacron.migration.gate import SwitchoverGate
from novacron.migration.machine import advance
from novacron.migration.memory import collect_soon
from novacron.migration.progress import ProgressTracker, TunnelStats
from novacron.migration.relay import OutgoingRelay
from novacron_sdk.errors import Conflict, NovacronError, Unavailable
from novacron_sdk.models.migration import Migration, MigrationPhase
from novacron_sdk.models.peer import PeerAbort, PeerComplete, PeerPrepare, PeerPrepared, VmTransfer

log = logging.getLogger(__name__)
POLL_S = 0.5
GATE_S = 0.1  # the switchover gate's pace: a datacenter migration's first pass lasts ~1 s
SAVE_EVERY_S = 1.0
TUNE_EVERY_S = 1.0
PORT_TRIES = 4
ADOPT_RETRY_S = 2.0
_CONSTS = planning.LibvirtConsts.from_module(libvirt)


class Stop(Exception):
    """Raised inside the run to end it as `phase` (cancelled by the user, or failed for `reason`)."""

    def __init__(self, phase: MigrationPhase, reason: str) -> None:
        super().__init__(reason)
        self.phase, self.reason = phase, reason


class OutgoingMigration:
    def __init__(self, deps: Deps, m: Migration, record: VmTransfer, predictor: Any = None) -> None:
        self.d = deps
        self.m = m
        self.record = record
        self.tracker = ProgressTracker(predictor)
        self.relay: OutgoingRelay | None = None
        self.done = asyncio.Event()
        self._stop: Stop | None = None
        self._dom: libvirt.virDomain | None = None
        self._dconn: libvirt.virConnect | None = None
        self._migrating = False
        self._mode_sub: Any = None
        self._limit_ms = 0  # QEMU's downtime limit as last set
        self._base_ms = 0  # QEMU's share of the budget, corrected for the tunnel's pace
        # Resolved once the destination has prepared (the request is accepted), or with the reason
        # it was refused: the API answers from it, so one prepare round trip both validates and sets up.
        self.prepared: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.prepared.add_done_callback(lambda f: f.exception())  # read even when no request waits
        self._prepare_sent = False

    # -- control from outside ------------------------------------------------------------------
    async def cancel(self) -> None:
        await self._request_stop(Stop("cancelled", "cancelled by request"))

    async def _request_stop(self, stop: Stop) -> None:
        if self._stop is None:
            self._stop = stop
        if self._migrating and self._dom is not None:
            await self.d.run(lv.abort_job, self._dom)

    def _tunnel_failed(self, why: str) -> None:
        if self._migrating:
            asyncio.get_running_loop().create_task(self._request_stop(Stop("failed", f"DWCP tunnel failed: {why}")))

    def _set(self, phase: MigrationPhase, error: str | None = None) -> None:
        self.m = advance(self.m, phase, now=now(), error=error)

    async def _save(self) -> None:
        await self.d.run(self.d.save, self.m)

    def _check_stop(self) -> None:
        if self._stop is not None:
            raise self._stop

    # -- the run -------------------------------------------------------------------------------
    async def run(self) -> Migration:
        t0 = time.monotonic()
        refusal: BaseException | None = None
        self.d.metrics.active.labels(role="source").inc()
        if self.d.mode is not None:  # the prober leaves this link alone meanwhile
            self.d.mode.begin_busy(self.m.destination, self.m.id, self.m.options.timeout_s + BUSY_GRACE_S)
        try:
            async with self.d.vms._exclusive(self.m.vm):  # no converge/delete of this VM meanwhile
                await self._run()
        except Exception as exc:  # libvirt or anything unexpected: the VM must stay usable here
            if not self.prepared.done():  # refused before the destination took it: nothing happened
                refusal = exc
                await self._discard(exc)
            else:
                await self._fail(exc)
        finally:
            await self._cleanup()
            if self.d.mode is not None:
                self.d.mode.end_busy(self.m.destination, self.m.id)
            self.d.metrics.active.labels(role="source").dec()
            if self.prepared.done():
                st = self.relay.stats() if self.relay else TunnelStats()
                self.d.metrics.finished(self.m.phase, time.monotonic() - t0, st.bytes_in, st.bytes_on_wire)
            else:  # the request's answer: the reason it was refused
                self.prepared.set_exception(refusal or Unavailable("the migration stopped before it began"))
            self.done.set()
            collect_soon(asyncio.get_running_loop())
        return self.m

    async def _fail(self, exc: Exception) -> None:
        if isinstance(exc, Stop):
            phase, reason = exc.phase, exc.reason
        else:
            phase, reason = "failed", exc.detail if isinstance(exc, NovacronError) else _message(exc)
            log.exception("migration %s failed", self.m.id)
        if self.m.phase == "switchover":  # the VM runs on the destination: never roll back
            self.m = self.m.model_copy(update={"error": f"hand-over unfinished: {reason}"})
            await self._save()
        else:
            await self._roll_back(phase, reason)

    async def _discard(self, exc: Exception) -> None:
        """A refused request leaves nothing: no record here, nothing prepared there. A destination
        that answered 4xx kept nothing; after anything else it may have prepared, so it is told."""
        d, m = self.d, self.m
        if isinstance(exc, NovacronError):
            clean, reason = 400 <= exc.status < 500, exc.detail
        else:
            clean, reason = False, _message(exc)
        log.info("migration %s of %s to %s refused: %s", m.id, m.vm, m.destination, reason)
        if self._prepare_sent and not clean:
            await abort_destination(d, m, "failed", f"the source gave up before the transfer: {reason}", timeout=5)
        await d.run(d.store.delete_migration, m.id)

    async def _run(self) -> None:
        d, m = self.d, self.m
        self._set("preparing")
        await self._save()
        self._dom = await d.run(d.driver.conn.lookupByName, m.vm)
        profile, flags = d.profile_and_flags()
        memory_mib = self.record.spec.memory_mib
        chan_plan = planning.channel_plan(m.options, profile, flags, memory_mib=memory_mib)
        log.info("migration %s of %s to %s: %s", m.id, m.vm, m.destination, chan_plan.describe())
        prep = await self._prepare_destination(chan_plan)
        self.prepared.set_result(None)
        assert self.relay is not None
        self.relay.prewarm(1 + (m.options.multifd_channels or 0))  # QEMU's main connection + multifd's
        self._follow_mode()
        self._check_stop()
        if not prep.libvirt_uri:
            raise Stop("failed", f"{m.destination} prepared without naming its libvirt URI")
        self._dconn = await d.run(lv.open_conn, prep.libvirt_uri)
        live, persistent = await d.run(lv.migratable_xml, self._dom)
        dest_xml = planning.rewrite_domain_xml(live, node=m.destination, console_log=prep.console_log)
        persist_xml = planning.rewrite_domain_xml(persistent, node=m.destination, console_log=prep.console_log)
        if m.options.multifd_channels:  # set every time: an earlier migration may have left another value
            method = chan_plan.multifd_compression
            await d.run(lv.set_multifd_compression, self._dom, method or "none")
            dest_xml = planning.with_multifd_compression(dest_xml, method)
        params, vflags = planning.libvirt_call(_CONSTS, m.options, self.relay.port, dest_xml, persist_xml)
        self._limit_ms = self._base_ms = planning.qemu_downtime_ms(m.options)
        await d.run(lv.set_max_downtime, self._dom, self._limit_ms)
        self._check_stop()
        self._set("transferring")
        await self._save()
        new_dom = await self._transfer(params, vflags)
        await self._switchover(new_dom)

    def _follow_mode(self) -> None:
        """Mode switches while the migration runs reach its channels (live settings contract: the
        subscriber only schedules the change; it never blocks the switch)."""
        if self.d.mode is None or self.relay is None or not self.d.profile_and_flags()[1].transport:
            return
        loop, relay = asyncio.get_running_loop(), self.relay
        self._mode_sub = self.d.mode.live.subscribe(
            lambda profile: loop.call_soon_threadsafe(relay.apply_congestion, profile.congestion), replay=False
        )

    async def _prepare_destination(self, chan_plan: planning.ChannelPlan) -> PeerPrepared:
        d, m = self.d, self.m
        endpoint = d.endpoint(m.destination)
        last: NovacronError | None = None
        for _ in range(PORT_TRIES):
            self.relay = OutgoingRelay(m.id, endpoint, chan_plan, on_error=self._tunnel_failed)
            port = await self.relay.start()
            d.outgoing_relays[m.id] = self.relay
            body = PeerPrepare(
                migration=m, port=port, record=self.record,
                memory_mib=self.record.spec.memory_mib, vcpus=self.record.spec.vcpus,
            )  # fmt: skip
            self._prepare_sent = True
            try:
                return await d.peers.prepare(m.destination, m.id, body)
            except Conflict as exc:
                last = exc
                await self.relay.close()
                if exc.field != "port":
                    raise
        assert last is not None
        raise last

    async def _transfer(self, params: dict[str, Any], vflags: int) -> libvirt.virDomain:
        d, m = self.d, self.m
        assert self._dom is not None and self._dconn is not None and self.relay is not None
        loop = asyncio.get_running_loop()
        self._migrating = True
        t_start = time.monotonic()
        fut = loop.run_in_executor(d.pool, lv.migrate, self._dom, self._dconn, params, vflags)
        deadline = time.monotonic() + m.options.timeout_s
        last_save = last_tune = time.monotonic()
        gate = asyncio.create_task(self._gate())
        limit_bps = (m.options.bandwidth_limit_mbps or 0) * 1e6
        try:
            while not fut.done():
                await asyncio.wait({fut}, timeout=POLL_S)
                if fut.done():
                    break
                job = await d.run(lv.job_stats, self._dom)
                p = self.tracker.sample(time.monotonic(), job, self.relay.stats())
                d.metrics.sample(p.throughput_bps, limit_bps or self.tracker.peak_wire_bps, p.compression_ratio)
                self.m = self.m.model_copy(update={"progress": p})
                if time.monotonic() - last_tune >= TUNE_EVERY_S:
                    self.relay.tune(time.monotonic() - last_tune)
                    last_tune = time.monotonic()
                    self._correct_downtime(job)
                if time.monotonic() - last_save >= SAVE_EVERY_S:
                    last_save = time.monotonic()
                    await self._save()
                    if job:  # one progress line a second: what QEMU thinks of the link next to the tunnel's view
                        log.info(
                            "migration %s: iteration %s, %.0f MB left, QEMU sends %.0f MB/s, tunnel takes %.0f MB/s "
                            "and puts %.0f MB/s on the wire, guest dirties %.0f MB/s, throttle %s%%", m.id,
                            p.iteration, p.bytes_remaining / 1e6, (job.get("memory_bps") or 0) / 1e6,
                            self.tracker.rate_in / 1e6, p.throughput_bps / 8e6, p.dirty_rate_bps / 8e6,
                            p.throttle_percent,
                        )  # fmt: skip
                if time.monotonic() > deadline and self._stop is None:
                    await self._request_stop(Stop("failed", f"timed out after {m.options.timeout_s:g}s"))
                elif self._stop is not None:  # asked before libvirt's job existed: ask again
                    await d.run(lv.abort_job, self._dom)
            new_dom = fut.result()
            log.info("migration %s: libvirt's migrate call took %.0f ms, from %.0f ms after the request", m.id,
                     (time.monotonic() - t_start) * 1000, _since(m, t_start))  # fmt: skip
            return new_dom
        except libvirt.libvirtError as exc:
            # libvirt may fail after the destination started (e.g. in its confirm step): ask it.
            runs = await d.run(lv.domain_state, self._dconn, m.vm)
            if runs == "running" and await d.run(lv.domain_state, d.driver.conn, m.vm) != "running":
                return await d.run(self._dconn.lookupByName, m.vm)
            if self._stop is not None:
                raise self._stop from None
            raise Stop("failed", f"libvirt: {exc.get_error_message()}") from None
        finally:
            self._migrating = False
            gate.cancel()

    def _correct_downtime(self, job: dict[str, Any] | None) -> None:
        """Keep QEMU's share of the budget true to the tunnel's real pace (plan.corrected_downtime_ms);
        the gate applies it. Only with HDE or multifd: there the tunnel's entrances take bursts far
        above what the link drains (multifd: QEMU saw 113-137 MB/s, the tunnel drained 57-90); on one
        raw channel the correction only added passes (datacenter: ~0.5 s more)."""
        if not job or self.relay is None or not self.relay.channels:
            return
        if self.relay.plan.hde is None and not self.m.options.multifd_channels:  # raw: QEMU sees the tunnel's pace
            return
        base = planning.qemu_downtime_ms(self.m.options)
        self._base_ms = planning.corrected_downtime_ms(base, float(job.get("memory_bps") or 0), self.tracker.rate_in)

    async def _gate(self) -> None:
        """Every GATE_S: QEMU's limit = its corrected share less the time the destination still needs
        for the tunnel's backlog (gate.py). libvirt allows the call during the job; changes under
        20 % (and under 5 ms) are not sent."""
        gate = SwitchoverGate()
        while self._migrating and self._dom is not None and self.relay is not None:
            await asyncio.sleep(GATE_S)
            delivery = self.relay.delivery()
            if delivery is not None:
                gate.observe(time.monotonic(), *delivery)
            want = gate.limit(self._base_ms) if delivery is not None else self._base_ms
            if abs(want - self._limit_ms) < max(5, 0.2 * self._limit_ms):
                continue
            try:
                await self.d.run(lv.set_max_downtime, self._dom, want)
            except NovacronError as exc:  # the job may just have ended: keep going with the old limit
                log.info("migration %s: downtime limit not changed: %s", self.m.id, exc.detail)
                continue
            self._limit_ms = want
            log.info("migration %s: QEMU downtime limit %d ms (share %d ms; destination owed %.1f MB, takes "
                     "%.0f MB/s)", self.m.id, want, self._base_ms, gate.backlog / 1e6, gate.drain_bps / 1e6)  # fmt: skip

    async def _switchover(self, new_dom: libvirt.virDomain) -> None:
        d, m = self.d, self.m
        assert self.relay is not None
        self.relay.hand_over()
        self._set("switchover")
        completed = await d.run(lv.job_stats, new_dom, completed=True)
        src_stats = await d.run(lv.job_stats, self._dom, completed=True) if self._dom is not None else None
        log.info(
            "migration %s: libvirt says downtime %s ms at the destination, %s ms by QEMU at the source, "
            "%s ms elapsed", m.id, (completed or {}).get("downtime"), (src_stats or {}).get("downtime"),
            (completed or {}).get("time_elapsed"),
        )  # fmt: skip
        self.m = self.m.model_copy(update={"progress": self.tracker.finish(completed, self.relay.stats())})
        await self._save()  # durable before the destination is told: a restart resumes from here
        body = PeerComplete(migration=self.m, record=self.record)
        while True:
            try:
                await d.peers.complete(m.destination, m.id, body)
                break
            except NovacronError as exc:  # the VM runs there: keep asking, never roll back
                log.warning("migration %s: destination has not adopted %s yet: %s", m.id, m.vm, exc.detail)
                await asyncio.sleep(ADOPT_RETRY_S)
        await d.run(forget_source, d, m)
        self._set("completed")
        await self._save()
        log.info("migration %s: %s now runs on %s (%.0f ms after the request)", m.id, m.vm, m.destination,
                 _since(m, time.monotonic()))  # fmt: skip

    async def _roll_back(self, phase: MigrationPhase, reason: str) -> None:
        d, m = self.d, self.m
        log.warning("migration %s of %s %s: %s", m.id, m.vm, phase, reason)
        with contextlib.suppress(Exception):
            await d.run(lv.resume_if_paused, d.driver.conn, m.vm)
        await abort_destination(d, m, phase, reason)
        self._set(phase, error=reason)
        st = self.relay.stats() if self.relay else TunnelStats()
        self.m = self.m.model_copy(update={"progress": self.tracker.finish(None, st).model_copy(update={"eta_s": None})})
        await self._save()

    async def _cleanup(self) -> None:
        if self._mode_sub is not None:
            self._mode_sub.close()
        if self.relay is not None:
            with contextlib.suppress(Exception):
                await self.relay.close()
            self.d.outgoing_relays.pop(self.m.id, None)
        if self._dconn is not None:
            await self.d.run(lv.close_conn, self._dconn)
            self._dconn = None


async def abort_destination(d: Deps, m: Migration, phase: str, error: str, *, timeout: float = 10) -> None:
    """Tell the destination to drop what it prepared and record `phase`; best effort (an error is
    not retried: a destination that restarts decides for itself, machine.recover_destination)."""
    with contextlib.suppress(NovacronError):
        body = PeerAbort(phase="cancelled" if phase == "cancelled" else "failed", error=error[:4096])
        await d.peers.abort(m.destination, m.id, body, timeout=timeout)


def forget_source(d: Deps, m: Migration) -> None:
    """The destination owns the VM now: drop this node's definition and record (blocking)."""
    lv.forget(d.driver.conn, m.vm)
    rec = d.store.get_vm(m.vm)
    if rec is not None and rec.node == d.node_id:
        d.store.delete_vm(m.vm)
    d.store.add_event("vm.migrated_out", m.vm, {"migration": m.id, "to": m.destination})


def _since(m: Migration, mono: float) -> float:
    """Milliseconds from the request (created_at) to the monotonic instant `mono`."""
    if m.created_at is None:
        return float("nan")
    return (now() - m.created_at).total_seconds() * 1000 - (time.monotonic() - mono) * 1000


def _message(exc: BaseException) -> str:
    if isinstance(exc, libvirt.libvirtError):
        return f"libvirt: {exc.get_error_message()}"
    return f"{type(exc).__name__}: {exc}"
