"""VmService: declarative VMs. Say what you want; the service makes libvirt match and reports it.

Concurrency: requests for one VM are serialised by a per-name asyncio.Lock; different VMs run in
parallel up to `system.max_concurrency`. All libvirt and store work is blocking, so each
operation runs in a worker thread of the service's own pool and the event loop stays free.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver, Observation
from novacron.store import Store, VmRecord
from novacron.vms import ops
from novacron.vms.diff import LiveLimits, compute_changes, create_changes, diff_doc, normalize_desired
from novacron.vms.reconcile import reconcile as reconcile_sync
from novacron.vms.validate import validate_spec
from novacron.vms.view import build_vm, would_be_vm
from novacron_sdk.errors import Conflict, NotFound
from novacron_sdk.models.vm import ConvergeResult, FieldChange, VirtualMachine, VirtualMachineSpec

T = TypeVar("T")


class VmService:
    def __init__(self, driver: HypervisorDriver, store: Store, config: AgentConfig) -> None:
        self.driver = driver
        self.store = store
        self.config = config
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(config.system.max_concurrency)
        # Own pool: long operations must not starve reads, nor be capped by the default pool size.
        self._pool = ThreadPoolExecutor(config.system.max_concurrency + 4, thread_name_prefix="vms")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    @contextlib.asynccontextmanager
    async def _exclusive(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock, self._slots:
            yield

    # -- reads ------------------------------------------------------------------------------
    async def get(self, name: str) -> VirtualMachine:
        return await self._run(self._get_sync, name)

    def _get_sync(self, name: str) -> VirtualMachine:
        rec = self.store.get_vm(name)
        obs = self.driver.observe(name)
        if rec is None and (obs is None or not obs.config.managed):
            raise NotFound(f"no VM named {name!r}", field="name")
        return build_vm(self.driver, obs, rec, ips=self.driver.ip_addresses(name) if obs else [])

    async def list(self, *, labels: dict[str, str] | None = None) -> list[VirtualMachine]:
        return await self._run(self._list_sync, labels or {})

    def _list_sync(self, labels: dict[str, str]) -> list[VirtualMachine]:
        records = {r.name: r for r in self.store.list_vms()}
        out = []
        for name in sorted(set(records) | set(self.driver.list_names())):
            obs = self.driver.observe(name)
            if name not in records and (obs is None or not obs.config.managed):
                continue
            if obs is None and name not in records:
                continue
            vm = build_vm(
                self.driver, obs, records.get(name), ips=self.driver.ip_addresses(name) if obs else []
            )
            if all(vm.labels.get(k) == v for k, v in labels.items()):
                out.append(vm)
        return out

    # -- converge ---------------------------------------------------------------------------
    async def converge(
        self,
        spec: VirtualMachineSpec,
        *,
        dry_run: bool = False,
        recreate: bool = False,
        force_stop: bool = False,
    ) -> ConvergeResult:
        async with self._exclusive(spec.name):
            return await self._run(self._converge_sync, spec, dry_run, recreate, force_stop)

    def _current(self, name: str) -> tuple[VmRecord | None, Observation | None]:
        rec = self.store.get_vm(name)
        obs = self.driver.observe(name)
        if obs is not None and rec is None and not obs.config.managed:
            raise Conflict(
                f"a libvirt domain named {name!r} already exists and is not managed by novacron", field="name"
            )
        return rec, obs

    def _converge_sync(
        self, spec: VirtualMachineSpec, dry_run: bool, recreate: bool, force_stop: bool
    ) -> ConvergeResult:
        rec, obs = self._current(spec.name)
        if obs is None:
            return self._create(spec, rec, dry_run, force_stop)
        current = obs.spec(self.driver.cfg.storage_pool)
        live = obs.live
        limits = LiveLimits(
            running=obs.state == "running" and spec.state != "stopped",
            memory_ceiling_mib=live.memory_ceiling_mib if live else 0,
            max_vcpus=live.max_vcpus if live else 0,
            can_resize_disks=self.driver.supports_disk_resize,
        )
        changes = compute_changes(current, normalize_desired(spec, current), limits)
        recreates = [c for c in changes if c.apply == "recreate"]
        validate_spec(self.driver, spec, obs, recreating=bool(recreates) and recreate)
        if recreates and not recreate:
            fields = ", ".join(c.field for c in recreates)
            raise Conflict(
                f"changing {fields} cannot be done in place and needs a new VM (new UUID, disks recreated "
                "empty or from their base image); send recreate=true to replace it",
                field=recreates[0].field,
            )
        if not changes:
            self._remember(spec, rec, obs, applied=True)
            return ConvergeResult(changed=False, dry_run=dry_run, vm=build_vm(self.driver, obs, rec))
        if dry_run:
            return ConvergeResult(
                changed=True, dry_run=True, action="update", changes=changes, diff=diff_doc(changes),
                vm=would_be_vm(self.driver, spec, obs),
            )  # fmt: skip
        self._remember(spec, rec, obs, applied=False)
        warnings: list[str] = []
        try:
            if recreates:
                out = self._recreate(spec, rec, obs, force_stop)
                changes.append(
                    FieldChange(
                        field="uuid", before=obs.uuid, after=out.obs and out.obs.uuid, apply="recreate"
                    )
                )
                warnings.append("the VM was replaced: it has a new UUID and freshly created disks")
            else:
                out = ops.update(self.driver, spec, obs, changes, force_stop=force_stop)
        except Exception as e:
            self.store.add_event("vm.error", spec.name, {"action": "update", "error": str(e)})
            raise
        rec = self.store.get_vm(spec.name)
        volumes = ops.owned_volumes(out.obs, (rec.meta.get("volumes", []) if rec and not recreates else []))
        rec = self._record(spec, out.obs, rec, volumes=volumes, seed=out.seed_iso)
        self.store.add_event(
            "vm.updated", spec.name, {"changes": [c.model_dump(mode="json") for c in changes]}
        )
        return ConvergeResult(
            changed=True, action="update", changes=changes, diff=diff_doc(changes),
            vm=build_vm(self.driver, out.obs, rec), warnings=warnings + out.warnings,
        )  # fmt: skip

    def _create(
        self, spec: VirtualMachineSpec, rec: VmRecord | None, dry_run: bool, force_stop: bool
    ) -> ConvergeResult:
        validate_spec(self.driver, spec, None)
        desired = spec.model_dump(mode="json")
        changes = create_changes(desired)
        diff = {"before": {}, "after": {c.field: c.after for c in changes}}
        if dry_run:
            return ConvergeResult(
                changed=True, dry_run=True, action="create", changes=changes, diff=diff,
                vm=would_be_vm(self.driver, spec, None),
            )  # fmt: skip
        try:
            out = ops.create(self.driver, spec, force_stop=force_stop)
        except Exception as e:
            self.store.add_event("vm.error", spec.name, {"action": "create", "error": str(e)})
            raise
        try:
            rec = self._record(spec, out.obs, rec, volumes=out.volumes, seed=out.seed_iso)
        except BaseException:  # a VM the store cannot record would run unmanaged: undo it
            made = [(v["pool"], v["volume"]) for v in out.volumes]
            ops.discard(self.driver, spec.name, made, defined=True)
            raise
        self.store.add_event("vm.created", spec.name, {"uuid": rec.uuid, "spec": desired})
        return ConvergeResult(
            changed=True, action="create", changes=changes, diff=diff,
            vm=build_vm(self.driver, out.obs, rec), warnings=out.warnings,
        )  # fmt: skip

    def _recreate(
        self, spec: VirtualMachineSpec, rec: VmRecord | None, obs: Observation, force_stop: bool
    ) -> ops.Outcome:
        volumes = ops.owned_volumes(obs, rec.meta.get("volumes", []) if rec else [])
        ops.delete(self.driver, spec.name, obs, volumes, keep_storage=False, force_stop=force_stop)
        return ops.create(self.driver, spec, force_stop=force_stop)

    def _remember(
        self, spec: VirtualMachineSpec, rec: VmRecord | None, obs: Observation, *, applied: bool
    ) -> None:
        """Store the desired spec (and, when libvirt already matches it, as applied) if it is new."""
        doc = spec.model_dump(mode="json")
        if rec is not None and rec.spec == doc and (not applied or rec.applied == doc):
            return
        if rec is None:
            rec = VmRecord(name=spec.name, spec=doc, applied=None, uuid=obs.uuid, node=self.driver.node_id)
        rec.spec = doc
        if applied:
            rec.applied = doc
            rec.meta.update(drift=[], missing=False)
        self.store.put_vm(rec)

    def _record(
        self, spec: VirtualMachineSpec, obs: Observation | None, rec: VmRecord | None, *,
        volumes: list[dict[str, str]], seed: str | None,
    ) -> VmRecord:  # fmt: skip
        doc = spec.model_dump(mode="json")
        meta = dict(rec.meta) if rec is not None else {}
        meta.update(volumes=volumes, accel=self.driver.accel, drift=[], missing=False)
        meta["definition"] = obs.config_xml if obs is not None else None
        if seed is not None or spec.cloud_init is None:
            meta["seed_iso"] = seed
        new = VmRecord(
            name=spec.name, spec=doc, applied=doc, uuid=obs.uuid if obs else None, node=self.driver.node_id,
            meta=meta, **({"created_at": rec.created_at} if rec is not None else {}),
        )  # fmt: skip
        self.store.put_vm(new)
        return new

    # -- delete -----------------------------------------------------------------------------
    async def delete(
        self, name: str, *, keep_storage: bool = False, dry_run: bool = False, force_stop: bool = False
    ) -> ConvergeResult:
        async with self._exclusive(name):
            return await self._run(self._delete_sync, name, keep_storage, dry_run, force_stop)

    def _delete_sync(self, name: str, keep_storage: bool, dry_run: bool, force_stop: bool) -> ConvergeResult:
        rec, obs = self._current(name)
        if rec is None and obs is None:
            return ConvergeResult(changed=False, dry_run=dry_run, action="none")
        vm = build_vm(self.driver, obs, rec)
        volumes = ops.owned_volumes(obs, rec.meta.get("volumes", []) if rec else [])
        before = vm.model_dump(mode="json", exclude={"status"})
        changes = [FieldChange(field="vm", before=before, after=None, apply="delete")]
        labels = [f"{v['pool']}/{v['volume']}" for v in volumes]
        warnings = [f"kept storage: {', '.join(labels)}"] if keep_storage and labels else []
        if labels and not keep_storage:
            changes.append(FieldChange(field="storage", before=labels, after=[], apply="delete"))
        diff = {"before": {c.field: c.before for c in changes}, "after": {}}
        if dry_run:
            return ConvergeResult(
                changed=True,
                dry_run=True,
                action="delete",
                changes=changes,
                diff=diff,
                vm=vm,
                warnings=warnings,
            )
        try:
            ops.delete(self.driver, name, obs, volumes, keep_storage=keep_storage, force_stop=force_stop)
        except Exception as e:
            self.store.add_event("vm.error", name, {"action": "delete", "error": str(e)})
            raise
        self.store.delete_vm(name)
        self.store.add_event("vm.deleted", name, {"uuid": vm.status.uuid, "kept_storage": keep_storage})
        return ConvergeResult(
            changed=True, action="delete", changes=changes, diff=diff, vm=vm, warnings=warnings
        )

    # -- start-up ---------------------------------------------------------------------------
    async def reconcile(self) -> list[dict[str, Any]]:
        """Compare the store with libvirt; record drift events. Call before serving requests."""
        return await self._run(reconcile_sync, self.driver, self.store)
