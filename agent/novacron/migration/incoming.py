"""The destination's half: prepare (capacity, port, relay), adopt ownership, abort and clean up.

The destination never takes ownership on its own word: `complete` records the VM as this node's
only after its own libvirt reports the domain running, and `abort` never destroys a running copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from novacron.dwcp.tunnel import ChannelReader
from novacron.errors import Conflict, InvalidInput
from novacron.migration import libvirt_ops as lv
from novacron.migration.deps import BUSY_GRACE_S, Deps, now
from novacron.migration.machine import TERMINAL
from novacron.migration.memory import collect_soon
from novacron.migration.plan import DEST_HOST
from novacron.migration.relay import IncomingRelay
from novacron.migration.wire import ChannelHeader
from novacron.models.migration import Migration
from novacron.store import VmRecord

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    migration: Migration
    relay: IncomingRelay


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
    def dispatch(self, header: ChannelHeader, reader: ChannelReader, first: bytes) -> str | None:
        inc = self.active.get(header.migration)
        if inc is None:
            return f"no incoming migration {header.migration} on {self.d.node_id}"
        inc.relay.accept(header, reader, first)
        return None

    def dispatch_pipe(self, header: ChannelHeader, tls: ssl.SSLSocket) -> str | None:
        inc = self.active.get(header.migration)
        if inc is None:
            return f"no incoming migration {header.migration} on {self.d.node_id}"
        inc.relay.accept_pipe(header, tls)
        return None

    # -- prepare -------------------------------------------------------------------------------
    async def prepare(self, mig_id: str, body: dict[str, Any]) -> dict[str, Any]:
        m = Migration.model_validate(body["migration"])
        if m.id != mig_id:
            raise InvalidInput(f"does not match the URL ({mig_id})", field="migration.id")
        if m.destination != self.d.node_id:
            raise InvalidInput(f"this is {self.d.node_id}, not {m.destination}", field="destination")
        source = self.d.endpoint(m.source, field="source")
        await self.d.run(self._check_capacity, m.vm, int(body["memory_mib"]), int(body["vcpus"]))
        if body.get("dry_run"):
            return {"node": self.d.node_id, "ok": True}
        port = int(body["port"])
        if not _port_free(port):
            raise Conflict(f"port {port} is in use on {DEST_HOST} here; pick another", field="port")
        old = self.active.pop(mig_id, None)
        if old is not None:
            await old.relay.close()
        console = self.d.driver.console_log_path(m.vm)
        if console:
            vm_dir = os.path.dirname(console)
            os.makedirs(vm_dir, exist_ok=True)
            os.chmod(vm_dir, 0o755)
        m = m.model_copy(update={"phase": "preparing"})
        await self.d.run(self.d.save, m)
        await self.d.run(self.d.put_note, mig_id, "record", body.get("record") or {})
        self.active[mig_id] = Incoming(
            m, IncomingRelay(mig_id, port, source, small_buffers=bool(m.options.multifd_channels))
        )
        if self.d.mode is not None:  # the prober leaves the link to the source alone meanwhile
            self.d.mode.begin_busy(m.source, mig_id, m.options.timeout_s + BUSY_GRACE_S)
        self.d.metrics.active.labels(role="destination").set(len(self.active))
        uri = self.d.config.dwcp.libvirt_migration_uri or self.d.config.hypervisor.uri
        return {"node": self.d.node_id, "libvirt_uri": uri, "console_log": console}

    def _check_capacity(self, vm: str, memory_mib: int, vcpus: int) -> None:
        me, hv = self.d.node_id, self.d.config.hypervisor
        rec = self.d.store.get_vm(vm)
        if rec is not None and rec.node == me:
            raise Conflict(f"a VM named {vm!r} already exists on {me}", field="vm")
        state = lv.domain_state(self.d.driver.conn, vm)
        if state == "running":
            raise Conflict(f"a domain named {vm!r} already runs on {me}", field="vm")
        if state != "missing":
            lv.destroy_unowned(self.d.driver.conn, vm)  # left over from an earlier failed attempt
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
        free = lv.free_memory_mib(self.d.driver.conn)
        if free is not None and free < memory_mib:
            raise Conflict(f"destination {me} lacks capacity: {need}; {me} has {free} MiB free", field="destination")

    # -- complete / abort ----------------------------------------------------------------------
    async def complete(self, mig_id: str, body: dict[str, Any]) -> dict[str, Any]:
        m = Migration.model_validate(body["migration"])
        record = body.get("record") or await self.d.run(self.d.get_note, mig_id, "record") or {}
        rec = await self.d.run(self.adopt, m, record)
        inc = self._pop(mig_id)
        if inc is not None:
            await inc.relay.close()
            collect_soon(asyncio.get_running_loop())
        self.d.metrics.active.labels(role="destination").set(len(self.active))
        return {"node": self.d.node_id, "uuid": rec.uuid}

    def adopt(self, m: Migration, record: dict[str, Any]) -> VmRecord:
        """Record the VM as this node's, once libvirt here runs it. Idempotent."""
        me = self.d.node_id
        obs = self.d.driver.observe(m.vm)
        if obs is None or obs.state != "running":
            state = obs.state if obs else "missing"
            raise Conflict(f"{m.vm!r} is {state} on {me}, not running: ownership stays with {m.source}", field="vm")
        rec = self.d.store.get_vm(m.vm)
        if rec is None or rec.node != me:
            spec = record.get("spec") or record.get("applied")
            if not spec:
                raise InvalidInput("the VM's spec is needed to adopt it", field="record.spec")
            meta = {"volumes": [], "accel": self.d.driver.accel, "drift": [], "missing": False}
            meta.update(definition=obs.config_xml, migrated_from=m.source, migration=m.id)
            rec = VmRecord(
                name=m.vm, spec=spec, applied=record.get("applied"), uuid=obs.uuid, node=me, meta=meta,
            )  # fmt: skip
            self.d.store.put_vm(rec)
            self.d.store.add_event("vm.migrated_in", m.vm, {"migration": m.id, "from": m.source})
        done = m.model_copy(update={"phase": "completed", "finished_at": m.finished_at or now()})
        self.d.save(done)
        return rec

    async def abort(self, mig_id: str, body: dict[str, Any]) -> dict[str, Any]:
        inc = self._pop(mig_id)
        if inc is not None:
            await inc.relay.close()
            collect_soon(asyncio.get_running_loop())
        self.d.metrics.active.labels(role="destination").set(len(self.active))
        m = inc.migration if inc else await self.d.run(self.d.load, mig_id)
        if m is None:
            return {"node": self.d.node_id, "removed": False}
        removed = await self.d.run(self.cleanup, m, body.get("phase", "failed"), body.get("error"))
        return {"node": self.d.node_id, "removed": removed}

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

