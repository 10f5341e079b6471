"""The destination's half: prepare (capacity, port, relay), adopt ownership, abort and clean up.

The destination never takes ownership on its own word: `complete` records the VM as this node's
only after its own libvirt reports the domain running, and `abort` never destroys a running copy.
Every call names its caller (the node its certificate proves) and is checked against what this
node prepared: only a migration's source may prepare, complete or abort it; a dry run changes
nothing; a domain this node did not receive from a migration is never removed; prepared
migrations are bounded per source and expire when the source never connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from dataclasses import dataclass, field

from novacron.migration import libvirt_ops as lv
from novacron.migration.deps import BUSY_GRACE_S, Deps, now
from novacron.migration.machine import TERMINAL
from novacron.migration.memory import collect_soon
from novacron.migration.plan import DEST_HOST
from novacron.migration.relay import IncomingRelay
from novacron.migration.wire import ChannelHeader
from novacron.store import VmRecord
from novacron.transport import ChannelReader
from novacron_sdk.errors import Conflict, Forbidden, InvalidInput, NotFound
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
MAX_PREPARED_PER_SOURCE = 4
"""Migrations one source may have prepared here at once (more is a bug or an attack)."""
PREPARE_TTL_S = 60.0
"""A source dials its channels right after the prepare; one that has not within this gave up."""
SWEEP_S = 5.0


@dataclass
class Incoming:
    migration: Migration
    relay: IncomingRelay
    prepared_at: float = field(default_factory=time.monotonic)
    connected: bool = False


def _check_record(record: VmTransfer | None, vm: str) -> None:
    if record is None:
        return
    for name, spec in (("spec", record.spec), ("applied", record.applied)):
        if spec is not None and spec.name != vm:
            raise InvalidInput(f"{spec.name!r} is not the migrating VM {vm!r}", field=f"record.{name}.name")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((DEST_HOST, port))
        except OSError:
            return False
    return True


class IncomingSide:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self.active: dict[str, Incoming] = {}

    # -- channels ------------------------------------------------------------------------------
    def _expecting(self, header: ChannelHeader, peers: set[str]) -> tuple[Incoming | None, str | None]:
        """The incoming migration a channel names, if the node its certificate proves is its source."""
        inc = self.active.get(header.migration)
        if inc is None:
            return None, f"no incoming migration {header.migration} on {self.d.node_id}"
        if peers != {inc.migration.source}:
            return None, f"migration {header.migration} comes from {inc.migration.source}, not {sorted(peers)}"
        return inc, None

    def dispatch(self, header: ChannelHeader, reader: ChannelReader, first: bytes) -> str | None:
        inc, why = self._expecting(header, reader.peer_names())
        if inc is None:
            return why
        inc.connected = True
        inc.relay.accept(header, reader, first)
        return None

    def dispatch_pipe(self, header: ChannelHeader, tls: ssl.SSLSocket, peer: str | None) -> str | None:
        inc, why = self._expecting(header, {peer} if peer else set())
        if inc is None:
            return why
        inc.connected = True
        inc.relay.accept_pipe(header, tls)
        return None

    # -- prepare -------------------------------------------------------------------------------
    async def prepare(self, mig_id: str, body: PeerPrepare, *, caller: str) -> PeerPrepared:
        m, me = body.migration, self.d.node_id
        if m.id != mig_id:
            raise InvalidInput(f"does not match the URL ({mig_id})", field="migration.id")
        if m.destination != me:
            raise InvalidInput(f"this is {me}, not {m.destination}", field="migration.destination")
        if m.source != caller:
            raise Forbidden(f"{caller} may not prepare a migration from {m.source}", field="migration.source")
        _check_record(body.record, m.vm)
        source = self.d.endpoint(m.source, field="migration.source")
        if not body.dry_run:
            self._check_bounds(mig_id, caller)
            if mig_id not in self.active and await self.d.run(self.d.load, mig_id) is not None:
                raise Conflict(f"migration {mig_id} is already known on {me}", field="migration.id")
        await self.d.run(self._check_capacity, m.vm, body.memory_mib, body.vcpus, act=not body.dry_run)
        if body.dry_run:
            return PeerPrepared(node=me, ok=True)
        if not _port_free(body.port):
            raise Conflict(f"port {body.port} is in use on {DEST_HOST} here; pick another", field="port")
        old = self.active.pop(mig_id, None)
        if old is not None:
            await old.relay.close()
        console = self.d.driver.console_log_path(m.vm)
        if console:
            vm_dir = os.path.dirname(console)
            os.makedirs(vm_dir, mode=0o700, exist_ok=True)
            os.chmod(vm_dir, 0o700)
        m = m.model_copy(update={"phase": "preparing"})
        await self.d.run(self.d.save, m)
        record = body.record.model_dump(mode="json") if body.record is not None else {}
        await self.d.run(self.d.put_note, mig_id, "record", record)
        self.active[mig_id] = Incoming(
            m, IncomingRelay(mig_id, body.port, source, small_buffers=bool(m.options.multifd_channels))
        )
        if self.d.mode is not None:  # the prober leaves the link to the source alone meanwhile
            self.d.mode.begin_busy(m.source, mig_id, m.options.timeout_s + BUSY_GRACE_S)
        self.d.metrics.active.labels(role="destination").set(len(self.active))
        uri = self.d.config.dwcp.libvirt_migration_uri or self.d.config.hypervisor.uri
        return PeerPrepared(node=me, libvirt_uri=uri, console_log=console)

    def _check_bounds(self, mig_id: str, caller: str) -> None:
        others = [i for k, i in self.active.items() if k != mig_id]
        if sum(i.migration.source == caller for i in others) >= MAX_PREPARED_PER_SOURCE:
            raise Conflict(
                f"{caller} already has {MAX_PREPARED_PER_SOURCE} migrations prepared on {self.d.node_id}",
                field="migration.source",
            )
        if len(others) >= self.d.config.system.max_concurrency:
            raise Conflict(
                f"{self.d.node_id} already receives {len(others)} migrations (system.max_concurrency)",
                field="migration.destination",
            )

    def _check_capacity(self, vm: str, memory_mib: int, vcpus: int, *, act: bool) -> None:
        me, hv = self.d.node_id, self.d.config.hypervisor
        rec = self.d.store.get_vm(vm)
        if rec is not None and rec.node == me:
            raise Conflict(f"a VM named {vm!r} already exists on {me}", field="vm")
        state = lv.domain_state(self.d.driver.conn, vm)
        if state == "running":
            raise Conflict(f"a domain named {vm!r} already runs on {me}", field="vm")
        if state != "missing":
            if rec is not None or not self._leftover(vm):
                raise Conflict(
                    f"a domain named {vm!r} exists on {me} and is not left over from a migration to it; "
                    "remove it there or rename the VM", field="vm",
                )  # fmt: skip
            if act:
                lv.destroy_unowned(self.d.driver.conn, vm)
        need = f"{vm!r} needs {memory_mib} MiB of memory and {vcpus} vCPU(s)"
        if memory_mib > hv.max_memory_mib:
            raise Conflict(
                f"destination {me} lacks capacity: {need}; {me} accepts at most {hv.max_memory_mib} MiB per VM "
                "(hypervisor.max_memory_mib)",
                field="destination",
            )
        if vcpus > hv.max_vcpus:
            raise Conflict(
                f"destination {me} lacks capacity: {need}; {me} accepts at most {hv.max_vcpus} vCPUs per VM "
                "(hypervisor.max_vcpus)",
                field="destination",
            )
        free = None if self.d.driver.is_test else lv.free_memory_mib(self.d.driver.conn)  # the test driver has none
        if free is not None and free < memory_mib:
            raise Conflict(f"destination {me} lacks capacity: {need}; {me} has {free} MiB free", field="destination")

    def _leftover(self, vm: str) -> bool:
        """A stopped or paused domain that an earlier migration to this node left behind: its
        definition is one an agent rewrote for this node, and this node recorded that migration."""
        obs = self.d.driver.observe(vm)
        if obs is None or not obs.config.managed or obs.config.node != self.d.node_id:
            return False
        earlier = self.d.store.list_migrations(vm=vm)
        return any(x.get("destination") == self.d.node_id and x.get("id") not in self.active for x in earlier)

    # -- complete / abort ----------------------------------------------------------------------
    async def _known(self, mig_id: str, caller: str) -> Migration:
        """The migration `caller` names, if this node is its destination and `caller` its source."""
        inc = self.active.get(mig_id)
        known = inc.migration if inc is not None else await self.d.run(self.d.load, mig_id)
        if known is None or known.destination != self.d.node_id:
            raise NotFound(f"no migration {mig_id} was prepared on {self.d.node_id}", field="migration.id")
        if known.source != caller:
            raise Forbidden(f"{caller} is not the source of migration {mig_id}", field="migration.source")
        return known

    async def complete(self, mig_id: str, body: PeerComplete, *, caller: str) -> PeerCompleted:
        m = body.migration
        if m.id != mig_id:
            raise InvalidInput(f"does not match the URL ({mig_id})", field="migration.id")
        known = await self._known(mig_id, caller)
        if (m.vm, m.source, m.destination) != (known.vm, known.source, known.destination):
            raise InvalidInput("does not match the migration prepared here", field="migration")
        _check_record(body.record, m.vm)
        record = body.record or await self.d.run(self.stored_record, mig_id)
        rec = await self.d.run(self.adopt, m, record)
        inc = self._pop(mig_id)
        if inc is not None:
            await inc.relay.close()
            collect_soon(asyncio.get_running_loop())
        self.d.metrics.active.labels(role="destination").set(len(self.active))
        return PeerCompleted(node=self.d.node_id, uuid=rec.uuid)

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

    def adopt(self, m: Migration, record: VmTransfer | None) -> VmRecord:
        """Record the VM as this node's, once libvirt here runs it. Idempotent."""
        me = self.d.node_id
        obs = self.d.driver.observe(m.vm)
        if obs is None or obs.state != "running":
            state = obs.state if obs else "missing"
            raise Conflict(f"{m.vm!r} is {state} on {me}, not running: ownership stays with {m.source}", field="vm")
        rec = self.d.store.get_vm(m.vm)
        if rec is None or rec.node != me:
            if record is None:
                raise InvalidInput("the VM's spec is needed to adopt it", field="record.spec")
            meta = {"volumes": [], "accel": self.d.driver.accel, "drift": [], "missing": False}
            meta.update(definition=obs.config_xml, migrated_from=m.source, migration=m.id)
            applied = record.applied.model_dump(mode="json") if record.applied is not None else None
            rec = VmRecord(
                name=m.vm, spec=record.spec.model_dump(mode="json"), applied=applied, uuid=obs.uuid, node=me, meta=meta,
            )  # fmt: skip
            self.d.store.put_vm(rec)
            self.d.store.add_event("vm.migrated_in", m.vm, {"migration": m.id, "from": m.source})
        done = m.model_copy(update={"phase": "completed", "finished_at": m.finished_at or now()})
        self.d.save(done)
        return rec

    async def abort(self, mig_id: str, body: PeerAbort, *, caller: str) -> PeerAborted:
        try:
            known = await self._known(mig_id, caller)
        except NotFound:
            return PeerAborted(node=self.d.node_id, removed=False)
        removed = await self._drop(mig_id, known, body.phase, body.error)
        return PeerAborted(node=self.d.node_id, removed=removed)

    async def _drop(self, mig_id: str, m: Migration, phase: str, error: str | None) -> bool:
        inc = self._pop(mig_id)
        if inc is not None:
            await inc.relay.close()
            collect_soon(asyncio.get_running_loop())
        self.d.metrics.active.labels(role="destination").set(len(self.active))
        return await self.d.run(self.cleanup, inc.migration if inc else m, phase, error)

    def cleanup(self, m: Migration, phase: str, error: str | None) -> bool:
        """Remove an unfinished incoming copy (never an owned or running one) and close the record."""
        rec = self.d.store.get_vm(m.vm)
        removed = False
        if rec is None or rec.node != self.d.node_id:
            removed = lv.destroy_unowned(self.d.driver.conn, m.vm)
        current = self.d.load(m.id) or m
        if current.phase not in TERMINAL:
            final = phase if phase in ("failed", "cancelled") else "failed"
            self.d.save(current.model_copy(update={"phase": final, "error": error, "finished_at": now()}))
        return removed

    # -- expiry --------------------------------------------------------------------------------
    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            await self.sweep(time.monotonic())

    async def sweep(self, at: float) -> list[str]:
        """Drop prepared migrations whose source never connected, or that outlived their timeout
        without the VM running here; the ids dropped."""
        dropped = []
        for mig_id, inc in list(self.active.items()):
            age = at - inc.prepared_at
            if not inc.connected and age > PREPARE_TTL_S:
                why = f"expired: {inc.migration.source} did not connect within {PREPARE_TTL_S:g} s of the prepare"
            elif age > inc.migration.options.timeout_s + BUSY_GRACE_S:
                if await self.d.run(lv.domain_state, self.d.driver.conn, inc.migration.vm) == "running":
                    continue  # switched over: the source keeps asking us to adopt it
                why = f"expired: not finished within its timeout ({inc.migration.options.timeout_s:g} s)"
            else:
                continue
            log.warning("incoming migration %s of %s %s", mig_id, inc.migration.vm, why)
            await self._drop(mig_id, inc.migration, "failed", why)
            dropped.append(mig_id)
        return dropped

    def _pop(self, mig_id: str) -> Incoming | None:
        inc = self.active.pop(mig_id, None)
        if inc is not None and self.d.mode is not None:
            self.d.mode.end_busy(inc.migration.source, mig_id)
        return inc

    async def close(self) -> None:
        for inc in list(self.active.values()):
            with contextlib.suppress(Exception):
                await inc.relay.close()
        self.active.clear()

