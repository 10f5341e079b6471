"""The source's half of one migration, driven: SourceCore's actions performed with asyncio, and
what came of them fed back as events.

The adapter decides nothing. It steps the core when something happens (a reply, libvirt's
answer, the carrier's failure, a timer, a cancel) and runs the actions of each step in order, one
step after the other; the first action of a step that fails ends that step, and its failure is
the next event. Everything it touches is behind SourceIo (ports.py, carrier.py), so a unit test
runs it with fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from novacron.migration import source_events as ev
from novacron.migration.carrier import Carrier
from novacron.migration.machine import BUSY_GRACE_S
from novacron.migration.memory import collect_soon
from novacron.migration.metrics import MigrationMetrics
from novacron.migration.ports import (
    Clock,
    LibvirtFailure,
    LinkBusy,
    Peers,
    Records,
    SourceLibvirt,
    SystemClock,
)
from novacron.migration.progress import TunnelStats
from novacron.migration.source_core import GATE_S, SourceCore
from novacron_sdk.errors import NotFound, NovacronError, Unavailable
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import PeerAbort, PeerComplete, PeerPrepare, VmTransfer

log = logging.getLogger(__name__)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@contextlib.asynccontextmanager
async def _no_lock(_vm: str) -> AsyncIterator[None]:
    yield


@dataclass
class SourceIo:
    """The I/O of one outgoing migration. `open_carrier(on_error)` makes a new carrier (a port the
    destination cannot use gets another); `offload` runs blocking calls in worker threads;
    `exclusive(vm)` keeps converge and delete off the VM meanwhile; `follow_mode(apply)` calls
    apply(congestion) on each DWCP mode switch until the subscription it returns is closed."""

    libvirt: SourceLibvirt
    peers: Peers
    records: Records
    open_carrier: Callable[[Callable[[str], None]], Carrier]
    offload: Callable[..., Awaitable[Any]]
    metrics: MigrationMetrics
    clock: Clock = field(default_factory=SystemClock)
    exclusive: Callable[[str], AbstractAsyncContextManager[None]] = _no_lock
    busy: LinkBusy | None = None
    follow_mode: Callable[[Callable[[str], None]], Any] | None = None


def describe(exc: BaseException) -> str:
    if isinstance(exc, NovacronError):
        return exc.detail
    if isinstance(exc, LibvirtFailure):
        return f"libvirt: {exc}"
    return f"{type(exc).__name__}: {exc}"


class OutgoingMigration:
    def __init__(self, io: SourceIo, core: SourceCore, record: VmTransfer | None) -> None:
        self.io, self.core, self.record = io, core, record
        self.carrier: Carrier | None = None
        self.done = asyncio.Event()
        # Resolved once the destination has prepared (the request is accepted), or with the reason
        # it was refused: the API answers from it, so one prepare round trip both validates and sets up.
        self.prepared: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.prepared.add_done_callback(lambda f: f.exception())  # read even when no request waits
        self._steps: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._mode_sub: Any = None
        self._closed: Carrier | None = None

    @property
    def m(self) -> Migration:
        return self.core.m

    def feed(self, event: object) -> list[Any]:
        """Step the core now; its actions run after those of earlier steps."""
        actions = self.core.step(event, self.io.clock.wall())
        if actions:
            self._steps.put_nowait(actions)
        return actions

    def cancel(self) -> None:
        """Ask the migration to stop; raises Conflict once the VM runs on the destination."""
        for action in self.feed(ev.CancelRequested()):
            if isinstance(action, ev.CancelRefused):
                raise action.error

    # -- the two ways to run -----------------------------------------------------------------------
    async def run(self) -> Migration:
        """A requested migration, from the prepare to the hand-over or the roll-back."""
        io, m = self.io, self.core.m
        t0 = io.clock.monotonic()
        io.metrics.active.labels(role="source").inc()
        if io.busy is not None:  # the prober leaves this link alone meanwhile
            io.busy.begin_busy(m.destination, m.id, m.options.timeout_s + BUSY_GRACE_S)
        try:
            async with io.exclusive(m.vm):  # no converge/delete of this VM meanwhile
                self.feed(ev.Requested())
                await self._execute()
        finally:
            await self._cleanup()
            if io.busy is not None:
                io.busy.end_busy(m.destination, m.id)
            io.metrics.active.labels(role="source").dec()
            if self.core.answered:
                st = self.carrier.stats() if self.carrier is not None else TunnelStats()
                io.metrics.finished(self.m.phase, io.clock.monotonic() - t0, st.bytes_in, st.bytes_on_wire)
            if not self.prepared.done():
                self.prepared.set_exception(Unavailable("the migration stopped before it began"))
            self.done.set()
            collect_soon(asyncio.get_running_loop())
        return self.m

    async def recover(self) -> bool:
        """One attempt at finishing a migration this agent left unfinished (the core was started
        from its record): True once decided, False to be asked again later."""
        io, m = self.io, self.core.m
        try:
            local = await io.offload(io.libvirt.local_state)
            remote = await self._remote_runs()
            self.record = await io.offload(io.records.vm_transfer, m.vm)
        except Exception as exc:
            log.warning("recovering migration %s: %s", m.id, describe(exc))
            return False
        self.feed(ev.RestartFacts(local, remote))
        return await self._execute()

    async def _remote_runs(self) -> bool | None:
        m = self.core.m
        try:
            answer = await self.io.peers.vm(m.destination, m.vm, timeout=10)
        except NotFound:
            return False
        except NovacronError:
            return None
        return answer.state == "running"

    # -- the executor ------------------------------------------------------------------------------
    async def _execute(self) -> bool:
        """Run steps until the core says Finish (True) or AskAgainLater (False)."""
        while True:
            for action in await self._steps.get():
                if isinstance(action, ev.Finish):
                    return True
                if isinstance(action, ev.AskAgainLater):
                    return False
                try:
                    await _PERFORM[type(action)](self, action)
                except Exception as exc:
                    if not isinstance(exc, NovacronError | LibvirtFailure):
                        log.error("migration %s: %s failed", self.core.m.id, type(action).__name__, exc_info=exc)
                    status = exc.status if isinstance(exc, NovacronError) else None
                    self.feed(ev.StepFailed(describe(exc), status, exc))
                    break

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cleanup(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._mode_sub is not None:
            self._mode_sub.close()
        with contextlib.suppress(Exception):
            await self._close_carrier(ev.CloseCarrier())
        with contextlib.suppress(Exception):
            await self.io.offload(self.io.libvirt.close)

    def _tunnel_failed(self, why: str) -> None:
        self.feed(ev.TunnelFailed(why))

    # -- the actions -------------------------------------------------------------------------------
    async def _save(self, a: ev.SavePhase) -> None:
        await self.io.offload(self.io.records.save, a.m)

    async def _find_domain(self, a: ev.FindDomain) -> None:
        await self.io.offload(self.io.libvirt.find_domain)

    async def _open_carrier(self, a: ev.OpenCarrier) -> None:
        self.carrier = self.io.open_carrier(self._tunnel_failed)
        self.feed(ev.CarrierOpened(await self.carrier.start()))

    async def _close_carrier(self, a: ev.CloseCarrier) -> None:
        if self.carrier is not None and self.carrier is not self._closed:
            self._closed = self.carrier
            await self.carrier.close()

    async def _prepare(self, a: ev.PrepareDestination) -> None:
        m, record = self.core.m, self.record
        assert record is not None
        body = PeerPrepare(migration=m, port=a.port, record=record, memory_mib=record.spec.memory_mib,
                           vcpus=record.spec.vcpus)  # fmt: skip
        try:
            prep = await self.io.peers.prepare(m.destination, m.id, body)
        except NovacronError as exc:
            self.feed(ev.DestinationRefused(exc.detail, exc.status, exc.field, exc))
            return
        except Exception as exc:
            self.feed(ev.DestinationRefused(describe(exc), None, None, exc))
            return
        self.feed(ev.DestinationPrepared(prep.libvirt_uri, prep.console_log))

    async def _answer(self, a: ev.Answer) -> None:
        if self.prepared.done():
            return
        if a.accepted:
            self.prepared.set_result(None)
        else:
            self.prepared.set_exception(a.cause if isinstance(a.cause, Exception) else Unavailable(a.reason))

    async def _prewarm(self, a: ev.Prewarm) -> None:
        if self.carrier is not None:
            self.carrier.prewarm(a.connections)

    async def _follow_mode(self, a: ev.FollowMode) -> None:
        carrier, follow = self.carrier, self.io.follow_mode
        if carrier is None or follow is None:
            return
        loop = asyncio.get_running_loop()  # the subscriber only schedules the change, never blocks the switch
        self._mode_sub = follow(lambda congestion: loop.call_soon_threadsafe(carrier.apply_congestion, congestion))

    async def _set_up(self, a: ev.SetUpLibvirt) -> None:
        assert self.carrier is not None
        await self.io.offload(self.io.libvirt.set_up, a.libvirt_uri, a.console_log, self.carrier.port)
        self.feed(ev.LibvirtReady())

    async def _set_downtime(self, a: ev.SetDowntimeLimit) -> None:
        if a.note is None:
            await self.io.offload(self.io.libvirt.set_max_downtime, a.ms)
            return
        try:
            await self.io.offload(self.io.libvirt.set_max_downtime, a.ms)
        except Exception as exc:
            self.feed(ev.DowntimeLimitKept(describe(exc)))
            return
        log.info("%s", a.note)
        self.feed(ev.DowntimeLimitSet(a.ms))

    async def _start_libvirt(self, a: ev.StartLibvirtMigration) -> None:
        self._spawn(self._migrate(self.io.clock.monotonic()))
        self.feed(ev.LibvirtStarted(self.io.clock.monotonic()))
        self._spawn(self._ticker())

    async def _migrate(self, t: float) -> None:
        io, m = self.io, self.core.m
        try:
            await io.offload(io.libvirt.migrate)
        except Exception as exc:
            with contextlib.suppress(Exception):
                here, there = await io.offload(io.libvirt.who_runs)
                self.feed(ev.LibvirtFailed(_reason(exc), destination_runs=there == "running" and here != "running"))
                return
            self.feed(ev.LibvirtFailed(_reason(exc)))
            return
        since = (io.clock.wall() - m.created_at).total_seconds() * 1000 if m.created_at else float("nan")
        took = (io.clock.monotonic() - t) * 1000
        log.info("migration %s: libvirt's migrate call took %.0f ms, from %.0f ms after the request", m.id,
                 took, since - took)  # fmt: skip
        self.feed(ev.LibvirtReturned())

    async def _ticker(self) -> None:
        """While libvirt's job runs: the clock for the core's polls and its switchover gate."""
        while self.core.migrating:
            await self.io.clock.sleep(GATE_S)
            if not self.core.migrating:
                return
            t = self.io.clock.monotonic()
            self.feed(ev.Tick(t))
            self.feed(ev.DeliveryReport(t, self.carrier.delivery() if self.carrier is not None else None))

    async def _sample_job(self, a: ev.SampleJob) -> None:
        job = await self.io.offload(self.io.libvirt.job_stats)
        tunnel = self.carrier.stats() if self.carrier is not None else TunnelStats()
        self.feed(ev.JobStats(self.io.clock.monotonic(), job, tunnel))

    async def _record_sample(self, a: ev.RecordSample) -> None:
        self.io.metrics.sample(a.throughput_bps, a.capacity_bps, a.ratio)

    async def _tune(self, a: ev.TuneCarrier) -> None:
        if self.carrier is not None:
            self.carrier.tune(a.interval_s)

    async def _abort_job(self, a: ev.AbortJob) -> None:
        with contextlib.suppress(Exception):
            await self.io.offload(self.io.libvirt.abort_job)

    async def _hand_over(self, a: ev.HandOver) -> None:
        if self.carrier is not None:
            self.carrier.hand_over()

    async def _read_totals(self, a: ev.ReadTotals) -> None:
        there = here = None
        if a.completed:
            there, here = await self.io.offload(self.io.libvirt.final_stats)
        tunnel = self.carrier.stats() if self.carrier is not None else TunnelStats()
        self.feed(ev.Totals(tunnel, there, here))

    async def _complete(self, a: ev.CompleteOnDestination) -> None:
        if a.after_s:
            await self.io.clock.sleep(a.after_s)
        try:
            await self.io.peers.complete(a.m.destination, a.m.id, PeerComplete(migration=a.m, record=self.record))
        except NovacronError as exc:
            self.feed(ev.AdoptAnswered(False, exc.detail))
            return
        self.feed(ev.AdoptAnswered(True))

    async def _forget(self, a: ev.ForgetSource) -> None:
        io, m = self.io, self.core.m

        def forget() -> None:  # the destination owns the VM now
            io.libvirt.forget()
            io.records.forget_vm(m)

        await io.offload(forget)
        self.feed(ev.SourceForgotten())

    async def _resume(self, a: ev.ResumeSource) -> None:
        if not a.best_effort:
            await self.io.offload(self.io.libvirt.resume_if_paused)
            return
        with contextlib.suppress(Exception):
            await self.io.offload(self.io.libvirt.resume_if_paused)

    async def _start_source(self, a: ev.StartSource) -> None:
        await self.io.offload(self.io.libvirt.start)

    async def _abort_destination(self, a: ev.AbortDestination) -> None:
        """Best effort: not retried (a destination that restarts decides for itself)."""
        m = self.core.m
        body = PeerAbort(phase="cancelled" if a.phase == "cancelled" else "failed", error=a.reason[:4096])
        with contextlib.suppress(NovacronError):
            await self.io.peers.abort(m.destination, m.id, body, timeout=a.timeout_s)

    async def _delete(self, a: ev.DeleteRecord) -> None:
        await self.io.offload(self.io.records.delete, self.core.m.id)

    async def _close_record(self, a: ev.CloseRecord) -> None:
        await self.io.offload(self.io.records.close, a.m)

    async def _log(self, a: ev.Log) -> None:
        log.log(_LEVELS.get(a.level, logging.INFO), "%s", a.text)

    async def _nothing(self, a: object) -> None:
        """CancelRefused: answered to the caller of cancel() already."""


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LibvirtFailure) else describe(exc)


_PERFORM: dict[type, Callable[[OutgoingMigration, Any], Awaitable[None]]] = {
    ev.SavePhase: OutgoingMigration._save,
    ev.FindDomain: OutgoingMigration._find_domain,
    ev.OpenCarrier: OutgoingMigration._open_carrier,
    ev.CloseCarrier: OutgoingMigration._close_carrier,
    ev.PrepareDestination: OutgoingMigration._prepare,
    ev.Answer: OutgoingMigration._answer,
    ev.Prewarm: OutgoingMigration._prewarm,
    ev.FollowMode: OutgoingMigration._follow_mode,
    ev.SetUpLibvirt: OutgoingMigration._set_up,
    ev.SetDowntimeLimit: OutgoingMigration._set_downtime,
    ev.StartLibvirtMigration: OutgoingMigration._start_libvirt,
    ev.SampleJob: OutgoingMigration._sample_job,
    ev.RecordSample: OutgoingMigration._record_sample,
    ev.TuneCarrier: OutgoingMigration._tune,
    ev.AbortJob: OutgoingMigration._abort_job,
    ev.HandOver: OutgoingMigration._hand_over,
    ev.ReadTotals: OutgoingMigration._read_totals,
    ev.CompleteOnDestination: OutgoingMigration._complete,
    ev.ForgetSource: OutgoingMigration._forget,
    ev.ResumeSource: OutgoingMigration._resume,
    ev.StartSource: OutgoingMigration._start_source,
    ev.AbortDestination: OutgoingMigration._abort_destination,
    ev.DeleteRecord: OutgoingMigration._delete,
    ev.CloseRecord: OutgoingMigration._close_record,
    ev.Log: OutgoingMigration._log,
    ev.CancelRefused: OutgoingMigration._nothing,
}
