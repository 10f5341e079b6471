"""The source's half of one migration as a state machine: events in, actions out.

No libvirt, socket, asyncio, clock or store in here (the adapter, outgoing.py, performs the
actions and feeds back what happened; times and wall-clock instants arrive with the events), so
every path through a migration, and every crash point, can be driven by a test.

Ownership: the VM stays this node's until libvirt has returned the running destination domain
(LibvirtReturned, or LibvirtFailed while the destination runs it and the source does not). Then
the phase becomes `switchover`, stored before the destination is told to adopt the VM; adopting
is retried until it succeeds, and never rolled back; the VM is forgotten here only after. Any
failure before the switch-over leaves the VM running here (resumed if libvirt left it paused),
the destination told to drop its copy, and the migration failed with the cause. A request the
destination refuses leaves no record at either end: the destination is told to abort unless it
answered 4xx (it then kept nothing). A core started from a stored record (`restarted`) decides
with machine.recover_source.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

from novacron.migration import plan as planning
from novacron.migration import source_events as ev
from novacron.migration.gate import SwitchoverGate
from novacron.migration.machine import Recovery, advance, may_cancel, recover_source
from novacron.migration.plan import SourcePlan
from novacron.migration.progress import ProgressTracker
from novacron_sdk.errors import Conflict
from novacron_sdk.models.migration import Migration, MigrationPhase

POLL_S = 0.5  # libvirt's job statistics
GATE_S = 0.1  # the switchover gate's pace: a datacenter migration's first pass lasts ~1 s
SAVE_EVERY_S = 1.0
TUNE_EVERY_S = 1.0
PORT_TRIES = 4  # prepares with a fresh port when the destination's is taken
ADOPT_RETRY_S = 2.0
ABORT_TIMEOUT_S = 10.0  # telling the destination to drop a prepared migration
REFUSED_ABORT_TIMEOUT_S = 5.0  # the same, when the request itself is being refused
Action = Any


class Stage(enum.Enum):
    NEW = "new"
    PREPARING = "preparing"  # the carrier opens, the destination prepares
    SETTING_UP = "setting up"  # libvirt's connections and definitions
    TRANSFERRING = "transferring"
    HANDING_OVER = "handing over"  # switchover: the destination adopts, then the source forgets
    ENDING = "ending"  # rolling back
    RESTARTED = "restarted"  # started from a stored record after an agent restart
    DONE = "done"


class SourceCore:
    def __init__(self, m: Migration, plan: SourcePlan, tracker: ProgressTracker | None = None) -> None:
        self.m = m
        self.plan = plan
        self.tracker = tracker or ProgressTracker()
        self.gate = SwitchoverGate()
        self.stage = Stage.NEW
        self.answered = False  # the request was accepted (the destination prepared)
        self.prepare_sent = False
        self.attempt = 0
        self.stop: tuple[MigrationPhase, str] | None = None  # asked to end as (phase, reason)
        self.migrating = False  # libvirt's migrate call runs
        self.deadline = self.next_poll = self.last_tune = self.last_save = 0.0
        self.base_ms = self.limit_ms = plan.share_ms
        self.limit_pending: int | None = None
        self._ending: tuple[MigrationPhase, str] = ("failed", "")
        self._refusal: tuple[str, BaseException | None] | None = None
        self._decision: Recovery | None = None
        self._restarted = False

    @classmethod
    def restarted(cls, m: Migration) -> SourceCore:
        """The core of a migration this agent left unfinished (machine.recover_source decides)."""
        core = cls(m, SourcePlan(timeout_s=m.options.timeout_s, share_ms=planning.qemu_downtime_ms(m.options)))
        core.stage, core._restarted = Stage.RESTARTED, True
        return core

    @property
    def finished(self) -> bool:
        return self.stage is Stage.DONE

    def step(self, event: object, at: datetime) -> list[Action]:
        """The actions `event` calls for; `at`: the wall-clock instant (for the record's stamps)."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"not a source event: {event!r}")
        return handler(self, event, at)

    # -- prepare ---------------------------------------------------------------------------------
    def _requested(self, e: ev.Requested, at: datetime) -> list[Action]:
        if self.stage is not Stage.NEW:
            return []
        self.stage, self.attempt = Stage.PREPARING, 1
        self._advance("preparing", at)
        return [ev.SavePhase(self.m), ev.FindDomain(), ev.OpenCarrier()]

    def _carrier_opened(self, e: ev.CarrierOpened, at: datetime) -> list[Action]:
        if self.stage is not Stage.PREPARING:
            return []
        self.prepare_sent = True
        return [ev.PrepareDestination(e.port)]

    def _refused(self, e: ev.DestinationRefused, at: datetime) -> list[Action]:
        if self.stage is not Stage.PREPARING:
            return []
        if e.status == 409 and e.field == "port" and self.attempt < PORT_TRIES:
            self.attempt += 1
            return [ev.CloseCarrier(), ev.OpenCarrier()]
        return self._discard(e.reason, e.status, e.cause)

    def _prepared(self, e: ev.DestinationPrepared, at: datetime) -> list[Action]:
        if self.stage is not Stage.PREPARING:
            return []
        self.answered = True
        out: list[Action] = [ev.Answer(True), ev.Prewarm(self.plan.connections), ev.FollowMode()]
        if self.stop is not None:
            return out + self._roll_back(*self.stop)
        if not e.libvirt_uri:
            return out + self._roll_back("failed", f"{self.m.destination} prepared without naming its libvirt URI")
        self.stage = Stage.SETTING_UP
        return [*out, ev.SetUpLibvirt(e.libvirt_uri, e.console_log)]

    def _discard(self, reason: str, status: int | None, cause: BaseException | None) -> list[Action]:
        """Refused before the destination took it: nothing stays, here or there."""
        m = self.m
        clean = status is not None and 400 <= status < 500  # a 4xx destination kept nothing
        out: list[Action] = [ev.Log("info", f"migration {m.id} of {m.vm} to {m.destination} refused: {reason}")]
        if self.prepare_sent and not clean:
            why = f"the source gave up before the transfer: {reason}"
            out.append(ev.AbortDestination("failed", why, REFUSED_ABORT_TIMEOUT_S))
        self.stage, self._refusal = Stage.DONE, (reason, cause)
        return [*out, ev.DeleteRecord(), ev.CloseCarrier(), ev.Answer(False, reason, cause), ev.Finish(False)]

    # -- transfer --------------------------------------------------------------------------------
    def _libvirt_ready(self, e: ev.LibvirtReady, at: datetime) -> list[Action]:
        if self.stage is not Stage.SETTING_UP:
            return []
        if self.stop is not None:
            return self._roll_back(*self.stop)
        self.stage = Stage.TRANSFERRING
        self.base_ms = self.limit_ms = self.plan.share_ms
        self._advance("transferring", at)
        return [ev.SetDowntimeLimit(self.limit_ms), ev.SavePhase(self.m), ev.StartLibvirtMigration()]

    def _libvirt_started(self, e: ev.LibvirtStarted, at: datetime) -> list[Action]:
        if self.stage is not Stage.TRANSFERRING:
            return []
        self.migrating = True
        self.deadline = e.t + self.plan.timeout_s
        self.next_poll = e.t + POLL_S
        self.last_tune = self.last_save = e.t
        return [ev.AbortJob()] if self.stop is not None else []

    def _tick(self, e: ev.Tick, at: datetime) -> list[Action]:
        if not self.migrating or e.t < self.next_poll:
            return []
        self.next_poll = e.t + POLL_S
        out: list[Action] = [ev.SampleJob()]
        if e.t > self.deadline and self.stop is None:
            self.stop = ("failed", f"timed out after {self.plan.timeout_s:g}s")
            out.append(ev.AbortJob())
        elif self.stop is not None:  # asked before libvirt's job existed: ask again
            out.append(ev.AbortJob())
        return out

    def _job_stats(self, e: ev.JobStats, at: datetime) -> list[Action]:
        if not self.migrating:
            return []
        p = self.tracker.sample(e.t, e.job, e.tunnel)
        self.m = self.m.model_copy(update={"progress": p})
        out: list[Action] = [
            ev.RecordSample(p.throughput_bps, self.plan.limit_bps or self.tracker.peak_wire_bps, p.compression_ratio)
        ]
        if e.t - self.last_tune >= TUNE_EVERY_S:
            out.append(ev.TuneCarrier(e.t - self.last_tune))
            self.last_tune = e.t
            if e.job and self.plan.corrects_downtime:
                qemu_bps = float(e.job.get("memory_bps") or 0)
                self.base_ms = planning.corrected_downtime_ms(self.plan.share_ms, qemu_bps, self.tracker.rate_in)
        if e.t - self.last_save >= SAVE_EVERY_S:
            self.last_save = e.t
            out.append(ev.SavePhase(self.m))
            if e.job:  # one progress line a second: what QEMU thinks of the link next to the tunnel's view
                out.append(ev.Log("info", self._progress_line(e.job)))
        return out

    def _progress_line(self, job: dict[str, Any]) -> str:
        p = self.m.progress
        return (
            f"migration {self.m.id}: iteration {p.iteration}, {p.bytes_remaining / 1e6:.0f} MB left, QEMU sends "
            f"{(job.get('memory_bps') or 0) / 1e6:.0f} MB/s, tunnel takes {self.tracker.rate_in / 1e6:.0f} MB/s "
            f"and puts {p.throughput_bps / 8e6:.0f} MB/s on the wire, guest dirties {p.dirty_rate_bps / 8e6:.0f} "
            f"MB/s, throttle {p.throttle_percent}%"
        )

    def _delivery(self, e: ev.DeliveryReport, at: datetime) -> list[Action]:
        """The switchover gate (gate.py): QEMU's limit = its share less the time the destination
        still needs for the tunnel's backlog. Changes under 20 % (and under 5 ms) are not sent;
        one change at a time."""
        if not self.migrating or self.limit_pending is not None:
            return []
        if e.delivery is not None:
            self.gate.observe(e.t, *e.delivery)
        want = self.gate.limit(self.base_ms) if e.delivery is not None else self.base_ms
        if abs(want - self.limit_ms) < max(5, 0.2 * self.limit_ms):
            return []
        self.limit_pending = want
        note = (f"migration {self.m.id}: QEMU downtime limit {want} ms (share {self.base_ms} ms; destination owed "
                f"{self.gate.backlog / 1e6:.1f} MB, takes {self.gate.drain_bps / 1e6:.0f} MB/s)")  # fmt: skip
        return [ev.SetDowntimeLimit(want, note)]

    def _limit_set(self, e: ev.DowntimeLimitSet, at: datetime) -> list[Action]:
        self.limit_ms, self.limit_pending = e.ms, None
        return []

    def _limit_kept(self, e: ev.DowntimeLimitKept, at: datetime) -> list[Action]:
        self.limit_pending = None  # the job may just have ended: keep going with the old limit
        return [ev.Log("info", f"migration {self.m.id}: downtime limit not changed: {e.reason}")]

    # -- stopping --------------------------------------------------------------------------------
    def _cancel(self, e: ev.CancelRequested, at: datetime) -> list[Action]:
        m = self.m
        if may_cancel(m):
            return self._request_stop("cancelled", "cancelled by request")
        if m.phase in ("switchover", "completed"):
            return [ev.CancelRefused(Conflict(
                f"migration {m.id} is in {m.phase}: the VM already runs on {m.destination}", field="id"))]  # fmt: skip
        return []  # already failed or cancelled

    def _tunnel_failed(self, e: ev.TunnelFailed, at: datetime) -> list[Action]:
        return self._request_stop("failed", f"DWCP tunnel failed: {e.reason}") if self.migrating else []

    def _request_stop(self, phase: MigrationPhase, reason: str) -> list[Action]:
        """The first reason to stop wins; libvirt's job, if it runs, is asked to end (its failure
        then rolls back)."""
        if self.stop is None:
            self.stop = (phase, reason)
        return [ev.AbortJob()] if self.migrating else []

    def _failed(self, e: ev.StepFailed, at: datetime) -> list[Action]:
        stage = self.stage
        if stage in (Stage.NEW, Stage.PREPARING):
            return self._discard(e.reason, e.status, e.cause)
        if stage is Stage.RESTARTED or (stage is Stage.DONE and self._restarted):
            return [ev.Log("warning", f"recovering migration {self.m.id}: {e.reason}"), ev.AskAgainLater()]
        note = ev.Log("error", f"migration {self.m.id} failed: {e.reason}")
        if stage in (Stage.ENDING, Stage.DONE):  # failed while ending: end all the same
            self.stage = Stage.DONE
            answer = [ev.Answer(False, *self._refusal)] if self._refusal is not None else []
            return [note, *answer, ev.Finish(self.answered)]
        if stage is Stage.HANDING_OVER:  # the VM runs on the destination: never roll back
            self.m = self.m.model_copy(update={"error": f"hand-over unfinished: {e.reason}"})
            self.stage = Stage.DONE
            return [note, ev.SavePhase(self.m), ev.Finish(self.answered)]
        if stage is Stage.TRANSFERRING and self.migrating:  # libvirt's answer decides who runs the VM
            return [note, *self._request_stop("failed", e.reason)]
        return [note, *self._roll_back("failed", e.reason)]  # setting up, or libvirt's job not started

    def _roll_back(self, phase: MigrationPhase, reason: str) -> list[Action]:
        m = self.m
        self.stage, self._ending = Stage.ENDING, (phase, reason)
        return [
            ev.Log("warning", f"migration {m.id} of {m.vm} {phase}: {reason}"),
            ev.ResumeSource(),
            ev.AbortDestination(phase, reason, ABORT_TIMEOUT_S),
            ev.ReadTotals(completed=False),
        ]

    # -- libvirt's answer and the hand-over ------------------------------------------------------
    def _returned(self, e: ev.LibvirtReturned, at: datetime) -> list[Action]:
        return self._switch_over(at) if self.stage is Stage.TRANSFERRING else []

    def _libvirt_failed(self, e: ev.LibvirtFailed, at: datetime) -> list[Action]:
        if self.stage is not Stage.TRANSFERRING:
            return []
        self.migrating = False
        if e.destination_runs:
            return self._switch_over(at)
        if self.stop is not None:
            return self._roll_back(*self.stop)
        return self._roll_back("failed", f"libvirt: {e.reason}")

    def _switch_over(self, at: datetime) -> list[Action]:
        self.migrating = False
        self.stage = Stage.HANDING_OVER
        self._advance("switchover", at)
        return [ev.HandOver(), ev.ReadTotals(completed=True)]

    def _totals(self, e: ev.Totals, at: datetime) -> list[Action]:
        m = self.m
        if self.stage is Stage.HANDING_OVER:
            c, s = e.completed or {}, e.source_completed or {}
            line = (f"migration {m.id}: libvirt says downtime {c.get('downtime')} ms at the destination, "
                    f"{s.get('downtime')} ms by QEMU at the source, {c.get('time_elapsed')} ms elapsed")  # fmt: skip
            self.m = m.model_copy(update={"progress": self.tracker.finish(e.completed, e.tunnel)})
            # durable before the destination is told: a restart resumes from here
            return [ev.Log("info", line), ev.SavePhase(self.m), ev.CompleteOnDestination(self.m)]
        if self.stage is Stage.ENDING:
            phase, reason = self._ending
            self._advance(phase, at, error=reason)
            progress = self.tracker.finish(None, e.tunnel).model_copy(update={"eta_s": None})
            self.m = self.m.model_copy(update={"progress": progress})
            self.stage = Stage.DONE
            return [ev.SavePhase(self.m), ev.Finish(self.answered)]
        return []

    def _adopt_answered(self, e: ev.AdoptAnswered, at: datetime) -> list[Action]:
        m = self.m
        if self.stage is Stage.HANDING_OVER:
            if e.ok:
                return [ev.ForgetSource()]
            # the VM runs there: keep asking, never roll back
            warn = ev.Log("warning", f"migration {m.id}: destination has not adopted {m.vm} yet: {e.reason}")
            return [warn, ev.CompleteOnDestination(m, ADOPT_RETRY_S)]
        if self.stage is Stage.RESTARTED:
            if not e.ok:
                return [ev.Log("warning", f"recovering migration {m.id}: {e.reason}"), ev.AskAgainLater()]
            assert self._decision is not None
            return [ev.ForgetSource()] if "forget_local" in self._decision.actions else self._close_restart(at)
        return []

    def _forgotten(self, e: ev.SourceForgotten, at: datetime) -> list[Action]:
        if self.stage is Stage.RESTARTED:
            return self._close_restart(at)
        if self.stage is not Stage.HANDING_OVER:
            return []
        self._advance("completed", at)
        self.stage = Stage.DONE
        m = self.m
        ms = (at - m.created_at).total_seconds() * 1000 if m.created_at else float("nan")
        done = ev.Log("info", f"migration {m.id}: {m.vm} now runs on {m.destination} ({ms:.0f} ms after the request)")
        return [ev.SavePhase(m), done, ev.Finish(self.answered)]

    # -- after a restart -------------------------------------------------------------------------
    def _restart_facts(self, e: ev.RestartFacts, at: datetime) -> list[Action]:
        if self.stage is not Stage.RESTARTED:
            return []
        m, d = self.m, recover_source(e.local, e.remote_runs)
        if d.outcome is None:
            return [ev.Log("warning", f"migration {m.id} of {m.vm}: {d.reason}; asking again later"), ev.AskAgainLater()]
        self._decision = d
        out: list[Action] = []
        if "resume_local" in d.actions:
            out.append(ev.ResumeSource(best_effort=False))
        if "start_local" in d.actions:
            out.append(ev.StartSource())
        if "abort_remote" in d.actions:
            out.append(ev.AbortDestination("failed", f"source agent restarted: {d.reason}", ABORT_TIMEOUT_S))
        if "adopt_remote" in d.actions:
            return [*out, ev.CompleteOnDestination(m)]
        if "forget_local" in d.actions:
            return [*out, ev.ForgetSource()]
        return out + self._close_restart(at)

    def _close_restart(self, at: datetime) -> list[Action]:
        assert self._decision is not None
        d, m = self._decision, self.m
        error = None if d.outcome == "completed" else f"agent restarted mid-migration: {d.reason}"
        final = m.model_copy(update={"phase": d.outcome, "error": error, "finished_at": at})
        self.stage = Stage.DONE
        return [
            ev.CloseRecord(final),
            ev.Log("warning", f"migration {m.id} of {m.vm} recovered as {d.outcome}: {d.reason}"),
            ev.Finish(False),
        ]

    # -- helpers ---------------------------------------------------------------------------------
    def _advance(self, phase: MigrationPhase, at: datetime, error: str | None = None) -> None:
        self.m = advance(self.m, phase, now=at, error=error)


_HANDLERS: dict[type, Callable[[SourceCore, Any, datetime], list[Action]]] = {
    ev.Requested: SourceCore._requested,
    ev.CarrierOpened: SourceCore._carrier_opened,
    ev.DestinationRefused: SourceCore._refused,
    ev.DestinationPrepared: SourceCore._prepared,
    ev.LibvirtReady: SourceCore._libvirt_ready,
    ev.LibvirtStarted: SourceCore._libvirt_started,
    ev.Tick: SourceCore._tick,
    ev.JobStats: SourceCore._job_stats,
    ev.DeliveryReport: SourceCore._delivery,
    ev.DowntimeLimitSet: SourceCore._limit_set,
    ev.DowntimeLimitKept: SourceCore._limit_kept,
    ev.CancelRequested: SourceCore._cancel,
    ev.TunnelFailed: SourceCore._tunnel_failed,
    ev.StepFailed: SourceCore._failed,
    ev.LibvirtReturned: SourceCore._returned,
    ev.LibvirtFailed: SourceCore._libvirt_failed,
    ev.Totals: SourceCore._totals,
    ev.AdoptAnswered: SourceCore._adopt_answered,
    ev.SourceForgotten: SourceCore._forgotten,
    ev.RestartFacts: SourceCore._restart_facts,
}
