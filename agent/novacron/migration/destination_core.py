"""The destination's half of every incoming migration as a state machine: events in, actions out.

The rules of docs/security.md's peer protocol live here, with no libvirt, store, socket or clock
inside (incoming.py looks the facts up and performs the actions):
- only a migration's source (the node its certificate proves) may prepare, complete or abort it;
  the id in the URL, the body and the stored migration must agree; the destination is this node;
- a dry-run prepare acts on nothing; a real one removes a domain of the same name only when it
  is left over from an earlier migration to this node;
- at most MAX_PREPARED_PER_SOURCE prepared migrations per source (and max_concurrency in all);
  a prepare whose source never connects within PREPARE_TTL_S expires, and so does one that
  outlives its timeout without the VM running here;
- ownership is taken only when libvirt runs the domain here; an abort never removes a copy this
  node owns (nor, in libvirt_ops.destroy_unowned, a running one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from novacron.migration import destination_events as ev
from novacron.migration.machine import BUSY_GRACE_S, Recovery, recover_destination
from novacron.migration.plan import DEST_HOST
from novacron_sdk.errors import Conflict, Forbidden, InvalidInput, NotFound
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import PeerAborted, PeerCompleted, PeerPrepared, VmTransfer

MAX_PREPARED_PER_SOURCE = 4
"""Migrations one source may have prepared here at once (more is a bug or an attack)."""
PREPARE_TTL_S = 60.0
"""A source dials its channels right after the prepare; one that has not within this gave up."""
Action = Any


@dataclass
class Entry:
    """A migration prepared here and not yet finished."""

    migration: Migration
    prepared_at: float  # monotonic
    connected: bool = False


@dataclass(frozen=True)
class DestinationLimits:
    node_id: str
    max_concurrency: int
    max_memory_mib: int
    max_vcpus: int


def record_error(record: VmTransfer | None, vm: str) -> Exception | None:
    """A spec from a peer must name the migrating VM."""
    if record is None:
        return None
    for name, spec in (("spec", record.spec), ("applied", record.applied)):
        if spec is not None and spec.name != vm:
            return InvalidInput(f"{spec.name!r} is not the migrating VM {vm!r}", field=f"record.{name}.name")
    return None


class DestinationCore:
    def __init__(self, limits: DestinationLimits) -> None:
        self.limits = limits
        self.me = limits.node_id
        self.entries: dict[str, Entry] = {}

    def step(self, event: object, at: datetime) -> list[Action]:
        """The actions `event` calls for; `at`: the wall-clock instant (for the record's stamps)."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"not a destination event: {event!r}")
        return handler(self, event, at)

    # -- prepare ---------------------------------------------------------------------------------
    def _prepare_asked(self, e: ev.PrepareAsked, at: datetime) -> list[Action]:
        m, me = e.body.migration, self.me
        if m.id != e.mig_id:
            return [ev.Refuse(InvalidInput(f"does not match the URL ({e.mig_id})", field="migration.id"))]
        if m.destination != me:
            return [ev.Refuse(InvalidInput(f"this is {me}, not {m.destination}", field="migration.destination"))]
        if m.source != e.caller:
            return [ev.Refuse(Forbidden(f"{e.caller} may not prepare a migration from {m.source}",
                                        field="migration.source"))]  # fmt: skip
        refusal = record_error(e.body.record, m.vm) or e.source_error
        if refusal is None and not e.body.dry_run:
            refusal = self._bounds_error(e.mig_id, e.caller)
        return [ev.Refuse(refusal)] if refusal is not None else [ev.GatherPrepareFacts(e)]

    def _bounds_error(self, mig_id: str, caller: str) -> Exception | None:
        others = [i for k, i in self.entries.items() if k != mig_id]
        if sum(i.migration.source == caller for i in others) >= MAX_PREPARED_PER_SOURCE:
            return Conflict(f"{caller} already has {MAX_PREPARED_PER_SOURCE} migrations prepared on {self.me}",
                            field="migration.source")  # fmt: skip
        if len(others) >= self.limits.max_concurrency:
            return Conflict(f"{self.me} already receives {len(others)} migrations (system.max_concurrency)",
                            field="migration.destination")  # fmt: skip
        return None

    def _prepare_facts(self, e: ev.PrepareFacts, at: datetime) -> list[Action]:
        ask, me = e.ask, self.me
        body, m = ask.body, ask.body.migration
        act = not body.dry_run
        if act and ask.mig_id not in self.entries and e.known:
            return [ev.Refuse(Conflict(f"migration {ask.mig_id} is already known on {me}", field="migration.id"))]
        refusal = self._name_error(m.vm, e.vm)
        if refusal is not None:
            return [ev.Refuse(refusal)]
        if e.vm.domain != "missing" and act and not e.looked_again:  # a leftover: removed, then look again
            return [ev.DestroyLeftover(m.vm), ev.GatherPrepareFacts(ask, looked_again=True)]
        refusal = self._capacity_error(m.vm, body.memory_mib, body.vcpus, e.free_mib)
        if refusal is not None:
            return [ev.Refuse(refusal)]
        if body.dry_run:
            return [ev.Answer(PeerPrepared(node=me, ok=True))]
        if not e.port_free:
            return [ev.Refuse(Conflict(f"port {body.port} is in use on {DEST_HOST} here; pick another", field="port"))]
        out: list[Action] = []
        if self.entries.pop(ask.mig_id, None) is not None:  # prepared again: the new one replaces it
            out.append(ev.CloseRelay(ask.mig_id))
        if e.console_log:
            out.append(ev.MakeVmDir(e.console_log))
        m = m.model_copy(update={"phase": "preparing"})
        return [*out, ev.SaveRecord(m), ev.KeepVmSpec(ask.mig_id, body.record),
                ev.Then(ev.Prepared(ask, m, e.console_log, e.libvirt_uri))]  # fmt: skip

    def _name_error(self, vm: str, here: ev.VmHere) -> Exception | None:
        me = self.me
        if here.owner == me:
            return Conflict(f"a VM named {vm!r} already exists on {me}", field="vm")
        if here.domain == "running":
            return Conflict(f"a domain named {vm!r} already runs on {me}", field="vm")
        leftover = here.managed_here and any(x not in self.entries for x in here.earlier_here)
        if here.domain != "missing" and (here.owner is not None or not leftover):
            return Conflict(
                f"a domain named {vm!r} exists on {me} and is not left over from a migration to it; "
                "remove it there or rename the VM", field="vm",
            )  # fmt: skip
        return None

    def _capacity_error(self, vm: str, memory_mib: int, vcpus: int, free_mib: int | None) -> Exception | None:
        me, lim = self.me, self.limits
        need = f"{vm!r} needs {memory_mib} MiB of memory and {vcpus} vCPU(s)"
        if memory_mib > lim.max_memory_mib:
            return Conflict(f"destination {me} lacks capacity: {need}; {me} accepts at most {lim.max_memory_mib} MiB "
                            "per VM (hypervisor.max_memory_mib)", field="destination")  # fmt: skip
        if vcpus > lim.max_vcpus:
            return Conflict(f"destination {me} lacks capacity: {need}; {me} accepts at most {lim.max_vcpus} vCPUs "
                            "per VM (hypervisor.max_vcpus)", field="destination")  # fmt: skip
        if free_mib is not None and free_mib < memory_mib:
            return Conflict(f"destination {me} lacks capacity: {need}; {me} has {free_mib} MiB free", field="destination")
        return None

    def _prepared(self, e: ev.Prepared, at: datetime) -> list[Action]:
        m = e.m
        self.entries[e.ask.mig_id] = Entry(m, e.ask.now)
        return [
            ev.OpenRelay(m.id, e.ask.body.port, m.source, small_buffers=bool(m.options.multifd_channels)),
            ev.BeginBusy(m.source, m.id, m.options.timeout_s + BUSY_GRACE_S),  # no probes of that link meanwhile
            ev.CountActive(len(self.entries)),
            ev.Answer(PeerPrepared(node=self.me, libvirt_uri=e.libvirt_uri, console_log=e.console_log)),
        ]

    # -- channels --------------------------------------------------------------------------------
    def _channel(self, e: ev.ChannelArrived, at: datetime) -> list[Action]:
        entry = self.entries.get(e.mig_id)
        if entry is None:
            return [ev.TurnAway(f"no incoming migration {e.mig_id} on {self.me}")]
        source = entry.migration.source
        if e.peers != {source}:
            return [ev.TurnAway(f"migration {e.mig_id} comes from {source}, not {sorted(e.peers)}")]
        entry.connected = True
        return [ev.TakeChannel(e.mig_id)]

    # -- complete / abort ------------------------------------------------------------------------
    def _known_error(self, mig_id: str, known: Migration | None, caller: str) -> Exception | None:
        if known is None or known.destination != self.me:
            return NotFound(f"no migration {mig_id} was prepared on {self.me}", field="migration.id")
        if known.source != caller:
            return Forbidden(f"{caller} is not the source of migration {mig_id}", field="migration.source")
        return None

    def _complete_asked(self, e: ev.CompleteAsked, at: datetime) -> list[Action]:
        if e.body.migration.id != e.mig_id:
            return [ev.Refuse(InvalidInput(f"does not match the URL ({e.mig_id})", field="migration.id"))]
        return [ev.GatherCompletionFacts(e, stored_needed=e.mig_id not in self.entries)]

    def _completion_facts(self, e: ev.CompletionFacts, at: datetime) -> list[Action]:
        ask = e.ask
        m, entry = ask.body.migration, self.entries.get(ask.mig_id)
        known = entry.migration if entry is not None else e.stored
        refusal = self._known_error(ask.mig_id, known, ask.caller)
        if refusal is None:
            assert known is not None
            if (m.vm, m.source, m.destination) != (known.vm, known.source, known.destination):
                refusal = InvalidInput("does not match the migration prepared here", field="migration")
        refusal = refusal or record_error(ask.body.record, m.vm)
        if refusal is not None:
            return [ev.Refuse(refusal)]
        adopted = self._adopt(m, ask.body.record or e.stored_record, e.adoption, at)
        if isinstance(adopted, Exception):
            return [ev.Refuse(adopted)]
        out, uuid = adopted
        if self.entries.pop(ask.mig_id, None) is not None:
            out += [ev.EndBusy(m.source, ask.mig_id), ev.CloseRelay(ask.mig_id), ev.CollectSoon()]
        return [*out, ev.CountActive(len(self.entries)), ev.Answer(PeerCompleted(node=self.me, uuid=uuid))]

    def _adopt(self, m: Migration, record: VmTransfer | None, a: ev.Adoption, at: datetime
               ) -> tuple[list[Action], str | None] | Exception:  # fmt: skip
        """Record the VM as this node's, only once libvirt here runs it. Idempotent."""
        if a.state != "running":
            return Conflict(f"{m.vm!r} is {a.state} on {self.me}, not running: ownership stays with {m.source}",
                            field="vm")  # fmt: skip
        out: list[Action] = []
        uuid = a.owner_uuid
        if a.owner != self.me:
            if record is None:
                return InvalidInput("the VM's spec is needed to adopt it", field="record.spec")
            out.append(ev.RecordVm(m, record, a.uuid, a.definition))
            uuid = a.uuid
        out.append(ev.SaveRecord(m.model_copy(update={"phase": "completed", "finished_at": m.finished_at or at})))
        return out, uuid

    def _abort_asked(self, e: ev.AbortAsked, at: datetime) -> list[Action]:
        return [ev.GatherAbortFacts(e, stored_needed=e.mig_id not in self.entries)]

    def _abort_facts(self, e: ev.AbortFacts, at: datetime) -> list[Action]:
        ask = e.ask
        entry = self.entries.get(ask.mig_id)
        known = entry.migration if entry is not None else e.stored
        refusal = self._known_error(ask.mig_id, known, ask.caller)
        if isinstance(refusal, NotFound):
            return [ev.Answer(PeerAborted(node=self.me, removed=False))]
        if refusal is not None:
            return [ev.Refuse(refusal)]
        assert known is not None
        return [*self._drop(ask.mig_id, known, ask.body.phase, ask.body.error, e.owned_here, at), ev.AnswerRemoved()]

    def _drop(self, mig_id: str, m: Migration, phase: str, error: str | None, owned: bool, at: datetime
              ) -> list[Action]:  # fmt: skip
        """Stop tracking it, remove the unfinished copy (never one this node owns), close the record."""
        out: list[Action] = []
        entry = self.entries.pop(mig_id, None)
        if entry is not None:
            m = entry.migration
            out += [ev.EndBusy(m.source, mig_id), ev.CloseRelay(mig_id), ev.CollectSoon()]
        out.append(ev.CountActive(len(self.entries)))
        if not owned:
            out.append(ev.RemoveIncomingCopy(m.vm))
        final = phase if phase in ("failed", "cancelled") else "failed"
        return [*out, ev.CloseRecord(m.model_copy(update={"phase": final, "error": error, "finished_at": at}))]

    # -- expiry ----------------------------------------------------------------------------------
    def _sweep(self, e: ev.Sweep, at: datetime) -> list[Action]:
        out: list[Action] = []
        for mig_id, entry in self.entries.items():
            m, age = entry.migration, e.now - entry.prepared_at
            if not entry.connected and age > PREPARE_TTL_S:
                why = f"expired: {m.source} did not connect within {PREPARE_TTL_S:g} s of the prepare"
                out.append(ev.CheckExpired(mig_id, m.vm, why, unless_running=False))
            elif age > m.options.timeout_s + BUSY_GRACE_S:
                why = f"expired: not finished within its timeout ({m.options.timeout_s:g} s)"
                out.append(ev.CheckExpired(mig_id, m.vm, why, unless_running=True))
        return out

    def _sweep_facts(self, e: ev.SweepFacts, at: datetime) -> list[Action]:
        c = e.check
        entry = self.entries.get(c.mig_id)
        if entry is None or (c.unless_running and e.running):  # switched over: the source keeps asking us to adopt
            return []
        note = ev.Log("warning", f"incoming migration {c.mig_id} of {c.vm} {c.why}")
        return [note, *self._drop(c.mig_id, entry.migration, "failed", c.why, e.owned_here, at), ev.Expired(c.mig_id)]

    # -- after a restart -------------------------------------------------------------------------
    def _restarted(self, e: ev.Restarted, at: datetime) -> list[Action]:
        d = recover_destination(e.local, e.owned_here)
        if "adopt_local" in d.actions:
            return [ev.GatherAdoption(e.m, d)]
        out: list[Action] = [ev.RemoveIncomingCopy(e.m.vm)] if "destroy_local" in d.actions else []
        return out + self._close_restart(e.m, d, at)

    def _restart_adoption(self, e: ev.RestartAdoption, at: datetime) -> list[Action]:
        adopted = self._adopt(e.m, e.record, e.adoption, at)
        if isinstance(adopted, Exception):
            return [ev.Refuse(adopted)]
        return adopted[0] + self._close_restart(e.m, e.decision, at)

    def _close_restart(self, m: Migration, d: Recovery, at: datetime) -> list[Action]:
        error = None if d.outcome == "completed" else f"agent restarted mid-migration: {d.reason}"
        return [
            ev.CloseRecord(m.model_copy(update={"phase": d.outcome, "error": error, "finished_at": at})),
            ev.Log("warning", f"migration {m.id} of {m.vm} recovered as {d.outcome}: {d.reason}"),
        ]


_HANDLERS: dict[type, Callable[[DestinationCore, Any, datetime], list[Action]]] = {
    ev.PrepareAsked: DestinationCore._prepare_asked,
    ev.PrepareFacts: DestinationCore._prepare_facts,
    ev.Prepared: DestinationCore._prepared,
    ev.ChannelArrived: DestinationCore._channel,
    ev.CompleteAsked: DestinationCore._complete_asked,
    ev.CompletionFacts: DestinationCore._completion_facts,
    ev.AbortAsked: DestinationCore._abort_asked,
    ev.AbortFacts: DestinationCore._abort_facts,
    ev.Sweep: DestinationCore._sweep,
    ev.SweepFacts: DestinationCore._sweep_facts,
    ev.Restarted: DestinationCore._restarted,
    ev.RestartAdoption: DestinationCore._restart_adoption,
}
