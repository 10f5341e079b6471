"""The destination's half, driven: the peer calls, channels and the expiry timer stepped through
DestinationCore, the facts it asks for looked up in the store and libvirt, its actions performed.

Each call is one conversation with the core: the event, then each action in order; an action
that looks facts up answers with the next event, whose actions run next. The rules (who may call
what, when ownership is taken, what a refusal leaves) are the core's; this file decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from novacron.migration import destination_events as ev
from novacron.migration import libvirt_ops as lv
from novacron.migration.deps import Deps, now
from novacron.migration.destination_core import (
    MAX_PREPARED_PER_SOURCE,
    PREPARE_TTL_S,
    DestinationCore,
    DestinationLimits,
    Entry,
)
from novacron.migration.incoming_relay import IncomingRelay
from novacron.migration.memory import collect_soon
from novacron.migration.plan import DEST_HOST
from novacron.migration.records import StoreRecords
from novacron.migration.wire import ChannelHeader
from novacron.store import VmRecord
from novacron.transport import ChannelReader
from novacron_sdk.errors import NovacronError
from novacron_sdk.models.migration import Migration
from novacron_sdk.models.peer import (
    PeerAbort,
    PeerAborted,
    PeerComplete,
    PeerCompleted,
    PeerPrepare,
    PeerPrepared,
    VmTransfer,
)

log = logging.getLogger(__name__)
SWEEP_S = 5.0
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
__all__ = ["MAX_PREPARED_PER_SOURCE", "PREPARE_TTL_S", "IncomingSide"]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((DEST_HOST, port))
        except OSError:
            return False
    return True


@dataclass
class _Outcome:
    """What one conversation with the core came to."""

    answer: Any = None
    removed: bool = False
    expired: list[str] = field(default_factory=list)


class IncomingSide:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        cfg = deps.config
        self.core = DestinationCore(DestinationLimits(deps.node_id, cfg.system.max_concurrency,
                                                      cfg.hypervisor.max_memory_mib, cfg.hypervisor.max_vcpus))  # fmt: skip
        self.relays: dict[str, IncomingRelay] = {}
        self.records = StoreRecords(deps.store, deps.node_id)

    @property
    def active(self) -> dict[str, Entry]:
        """The incoming migrations prepared here and not finished, by id."""
        return self.core.entries

    # -- channels ------------------------------------------------------------------------------
    def dispatch(self, header: ChannelHeader, reader: ChannelReader, first: bytes) -> str | None:
        return self._channel(header, reader.peer_names(), lambda relay: relay.accept(header, reader, first))

    def dispatch_pipe(self, header: ChannelHeader, tls: ssl.SSLSocket, peer: str | None) -> str | None:
        return self._channel(header, {peer} if peer else set(), lambda relay: relay.accept_pipe(header, tls))

    def _channel(self, header: ChannelHeader, peers: set[str], take: Callable[[IncomingRelay], None]) -> str | None:
        for action in self.core.step(ev.ChannelArrived(header.migration, frozenset(peers)), now()):
            if isinstance(action, ev.TurnAway):
                return action.reason
            relay = self.relays.get(header.migration)
            if relay is None:
                return f"migration {header.migration} has no relay on {self.d.node_id}"
            take(relay)
        return None

    # -- the peer calls ------------------------------------------------------------------------
    async def prepare(self, mig_id: str, body: PeerPrepare, *, caller: str) -> PeerPrepared:
        source_error: Exception | None = None
        try:
            self.d.endpoint(body.migration.source, field="migration.source")
        except NovacronError as exc:
            source_error = exc
        outcome = await self._converse(ev.PrepareAsked(mig_id, body, caller, time.monotonic(), source_error))
        return outcome.answer  # type: ignore[no-any-return]

    async def complete(self, mig_id: str, body: PeerComplete, *, caller: str) -> PeerCompleted:
        return (await self._converse(ev.CompleteAsked(mig_id, body, caller))).answer  # type: ignore[no-any-return]

    async def abort(self, mig_id: str, body: PeerAbort, *, caller: str) -> PeerAborted:
        outcome = await self._converse(ev.AbortAsked(mig_id, body, caller))
        return outcome.answer  # type: ignore[no-any-return]

    # -- expiry and restart --------------------------------------------------------------------
    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.sweep(time.monotonic())
            except Exception:  # a store or libvirt hiccup: the next sweep tries again
                log.exception("sweeping incoming migrations")

    async def sweep(self, at: float) -> list[str]:
        """Drop prepared migrations whose source never connected, or that outlived their timeout
        without the VM running here; the ids dropped."""
        return (await self._converse(ev.Sweep(at))).expired

    async def recover(self, m: Migration) -> bool:
        """After a restart (machine.recover_destination decides): True once decided."""
        try:
            local = await self.d.run(lv.domain_state, self.d.driver.conn, m.vm)
            owned = await self.d.run(self._owned_here, m.vm)
            await self._converse(ev.Restarted(m, local, owned))
        except Exception as exc:  # refused (not running here after all) or a hiccup: asked again later
            log.warning("recovering migration %s: %s", m.id, exc.detail if isinstance(exc, NovacronError) else exc)
            return False
        return True

    def stored_record(self, mig_id: str) -> VmTransfer | None:
        """The VM's spec as the source sent it with the prepare (checked again: it was stored)."""
        doc = self.d.get_note(mig_id, "record")
        if not doc:
            return None
        try:
            return VmTransfer.model_validate(doc)
        except ValueError:
            log.error("migration %s: the VM record stored at prepare is unreadable", mig_id)
            return None

    async def close(self) -> None:
        for relay in list(self.relays.values()):
            with contextlib.suppress(Exception):
                await relay.close()
        self.relays.clear()
        self.core.entries.clear()

    # -- the conversation ----------------------------------------------------------------------
    async def _converse(self, event: object) -> _Outcome:
        outcome = _Outcome()
        pending = deque(self.core.step(event, now()))
        while pending:
            action = pending.popleft()
            follow = await _PERFORM[type(action)](self, action, outcome)
            if follow is not None:  # facts, or a continuation: its actions come next
                pending.extendleft(reversed(self.core.step(follow, now())))
        return outcome

    # -- facts (blocking: run in the migration service's threads) --------------------------------
    def _owned_here(self, vm: str) -> bool:
        rec = self.d.store.get_vm(vm)
        return rec is not None and rec.node == self.d.node_id

    def _vm_here(self, vm: str) -> ev.VmHere:
        me, d = self.d.node_id, self.d
        rec = d.store.get_vm(vm)
        domain = lv.domain_state(d.driver.conn, vm)
        if domain == "missing":
            return ev.VmHere(rec.node if rec else None, domain)
        obs = d.driver.observe(vm)
        managed = obs is not None and obs.config.managed and obs.config.node == me
        earlier = tuple(x["id"] for x in d.store.list_migrations(vm=vm) if x.get("destination") == me)
        return ev.VmHere(rec.node if rec else None, domain, managed, earlier)

    def _prepare_facts(self, ask: ev.PrepareAsked, looked_again: bool) -> ev.PrepareFacts:
        d, body = self.d, ask.body
        vm = body.migration.vm
        free = None if d.driver.is_test else lv.free_memory_mib(d.driver.conn)  # the test driver has none
        return ev.PrepareFacts(
            ask, self._vm_here(vm), known=d.load(ask.mig_id) is not None, free_mib=free,
            port_free=body.dry_run or _port_free(body.port), console_log=d.driver.console_log_path(vm),
            libvirt_uri=d.config.dwcp.libvirt_migration_uri or d.config.hypervisor.uri, looked_again=looked_again,
        )  # fmt: skip

    def _adoption(self, vm: str) -> ev.Adoption:
        obs, rec = self.d.driver.observe(vm), self.d.store.get_vm(vm)
        return ev.Adoption(
            state=obs.state if obs else "missing", uuid=obs.uuid if obs else None,
            definition=obs.config_xml if obs else "", owner=rec.node if rec else None,
            owner_uuid=rec.uuid if rec else None,
        )  # fmt: skip

    def _completion_facts(self, a: ev.GatherCompletionFacts) -> ev.CompletionFacts:
        ask = a.ask
        stored = self.d.load(ask.mig_id) if a.stored_needed else None
        record = self.stored_record(ask.mig_id) if ask.body.record is None else None
        return ev.CompletionFacts(ask, stored, record, self._adoption(ask.body.migration.vm))

    def _record_vm(self, a: ev.RecordVm) -> None:
        m, obs_uuid = a.m, a.uuid
        meta = {"volumes": [], "accel": self.d.driver.accel, "drift": [], "missing": False,
                "definition": a.definition, "migrated_from": m.source, "migration": m.id}  # fmt: skip
        applied = a.record.applied.model_dump(mode="json") if a.record.applied is not None else None
        rec = VmRecord(name=m.vm, spec=a.record.spec.model_dump(mode="json"), applied=applied, uuid=obs_uuid,
                       node=self.d.node_id, meta=meta)  # fmt: skip
        self.d.store.put_vm(rec)
        self.d.store.add_event("vm.migrated_in", m.vm, {"migration": m.id, "from": m.source})

    # -- the actions ---------------------------------------------------------------------------
    async def _refuse(self, a: ev.Refuse, o: _Outcome) -> None:
        raise a.error

    async def _answer(self, a: ev.Answer, o: _Outcome) -> None:
        o.answer = a.value

    async def _gather_prepare(self, a: ev.GatherPrepareFacts, o: _Outcome) -> object:
        return await self.d.run(self._prepare_facts, a.ask, a.looked_again)

    async def _destroy_leftover(self, a: ev.DestroyLeftover, o: _Outcome) -> None:
        await self.d.run(lv.destroy_unowned, self.d.driver.conn, a.vm)

    async def _close_relay(self, a: ev.CloseRelay, o: _Outcome) -> None:
        relay = self.relays.pop(a.mig_id, None)
        if relay is not None:
            await relay.close()

    async def _make_vm_dir(self, a: ev.MakeVmDir, o: _Outcome) -> None:
        vm_dir = os.path.dirname(a.console_log)
        os.makedirs(vm_dir, mode=0o700, exist_ok=True)
        os.chmod(vm_dir, 0o700)

    async def _save_record(self, a: ev.SaveRecord, o: _Outcome) -> None:
        await self.d.run(self.d.save, a.m)

    async def _keep_spec(self, a: ev.KeepVmSpec, o: _Outcome) -> None:
        record = a.record.model_dump(mode="json") if a.record is not None else {}
        await self.d.run(self.d.put_note, a.mig_id, "record", record)

    async def _then(self, a: ev.Then, o: _Outcome) -> object:
        return a.event

    async def _open_relay(self, a: ev.OpenRelay, o: _Outcome) -> None:
        source = self.d.endpoint(a.source, field="migration.source")
        self.relays[a.mig_id] = IncomingRelay(
            a.mig_id, a.port, source, small_buffers=a.small_buffers,
            congestion=self.d.config.dwcp.transport.congestion_algo,
        )

    async def _begin_busy(self, a: ev.BeginBusy, o: _Outcome) -> None:
        if self.d.mode is not None:
            self.d.mode.begin_busy(a.peer, a.mig_id, a.ttl_s)

    async def _end_busy(self, a: ev.EndBusy, o: _Outcome) -> None:
        if self.d.mode is not None:
            self.d.mode.end_busy(a.peer, a.mig_id)

    async def _count(self, a: ev.CountActive, o: _Outcome) -> None:
        self.d.metrics.active.labels(role="destination").set(a.n)

    async def _gather_completion(self, a: ev.GatherCompletionFacts, o: _Outcome) -> object:
        return await self.d.run(self._completion_facts, a)

    async def _record(self, a: ev.RecordVm, o: _Outcome) -> None:
        await self.d.run(self._record_vm, a)

    async def _collect(self, a: ev.CollectSoon, o: _Outcome) -> None:
        collect_soon(asyncio.get_running_loop())

    async def _gather_abort(self, a: ev.GatherAbortFacts, o: _Outcome) -> object:
        ask = a.ask
        stored = await self.d.run(self.d.load, ask.mig_id) if a.stored_needed else None
        known = self.core.entries[ask.mig_id].migration if ask.mig_id in self.core.entries else stored
        owned = await self.d.run(self._owned_here, known.vm) if known is not None else False
        return ev.AbortFacts(ask, stored, owned)

    async def _remove_copy(self, a: ev.RemoveIncomingCopy, o: _Outcome) -> None:
        o.removed = await self.d.run(lv.destroy_unowned, self.d.driver.conn, a.vm)

    async def _answer_removed(self, a: ev.AnswerRemoved, o: _Outcome) -> None:
        o.answer = PeerAborted(node=self.d.node_id, removed=o.removed)

    async def _close(self, a: ev.CloseRecord, o: _Outcome) -> None:
        await self.d.run(self.records.close, a.m)

    async def _check_expired(self, a: ev.CheckExpired, o: _Outcome) -> object:
        running = await self.d.run(lv.domain_state, self.d.driver.conn, a.vm) == "running"
        return ev.SweepFacts(a, running, await self.d.run(self._owned_here, a.vm))

    async def _expired(self, a: ev.Expired, o: _Outcome) -> None:
        o.expired.append(a.mig_id)

    async def _gather_adoption(self, a: ev.GatherAdoption, o: _Outcome) -> object:
        record = await self.d.run(self.stored_record, a.m.id)
        return ev.RestartAdoption(a.m, a.decision, record, await self.d.run(self._adoption, a.m.vm))

    async def _log(self, a: ev.Log, o: _Outcome) -> None:
        log.log(_LEVELS.get(a.level, logging.INFO), "%s", a.text)


_PERFORM: dict[type, Callable[[IncomingSide, Any, _Outcome], Awaitable[object]]] = {
    ev.Refuse: IncomingSide._refuse,
    ev.Answer: IncomingSide._answer,
    ev.GatherPrepareFacts: IncomingSide._gather_prepare,
    ev.DestroyLeftover: IncomingSide._destroy_leftover,
    ev.CloseRelay: IncomingSide._close_relay,
    ev.MakeVmDir: IncomingSide._make_vm_dir,
    ev.SaveRecord: IncomingSide._save_record,
    ev.KeepVmSpec: IncomingSide._keep_spec,
    ev.Then: IncomingSide._then,
    ev.OpenRelay: IncomingSide._open_relay,
    ev.BeginBusy: IncomingSide._begin_busy,
    ev.EndBusy: IncomingSide._end_busy,
    ev.CountActive: IncomingSide._count,
    ev.GatherCompletionFacts: IncomingSide._gather_completion,
    ev.RecordVm: IncomingSide._record,
    ev.CollectSoon: IncomingSide._collect,
    ev.GatherAbortFacts: IncomingSide._gather_abort,
    ev.RemoveIncomingCopy: IncomingSide._remove_copy,
    ev.AnswerRemoved: IncomingSide._answer_removed,
    ev.CloseRecord: IncomingSide._close,
    ev.CheckExpired: IncomingSide._check_expired,
    ev.Expired: IncomingSide._expired,
    ev.GatherAdoption: IncomingSide._gather_adoption,
    ev.Log: IncomingSide._log,
}
