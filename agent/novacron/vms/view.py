"""Observation (+ the store's record) -> the VirtualMachine the API returns.

The spec fields show what libvirt really has (its persistent config), not what was asked for;
`status.drift` names the fields where that differs from the last applied spec and
`status.pending_changes` the ones waiting for a reboot. Cloud-init content cannot be read back,
so it is shown from the record when the digest in the domain still matches it.
"""

from __future__ import annotations

from typing import Any

from novacron.hypervisor.domain_xml import cloud_init_hash
from novacron.hypervisor.driver import HypervisorDriver, Observation
from novacron.store.records import VmRecord
from novacron.vms.diff import drift_fields, pending_fields
from novacron_sdk.models.vm import VirtualMachine, VirtualMachineSpec, VirtualMachineStatus


def stored_spec(record: VmRecord | None) -> VirtualMachineSpec | None:
    """The spec the agent last applied (or, before the first success, last accepted)."""
    if record is None:
        return None
    return VirtualMachineSpec.model_validate(record.applied or record.spec)


def spec_dict(
    observed: dict[str, Any], stored: VirtualMachineSpec | None
) -> tuple[dict[str, Any], list[str]]:
    """Observed form -> a valid VirtualMachineSpec dict, plus fields that could not be shown."""
    doc = dict(observed)
    lost: list[str] = []
    ci = observed.get("cloud_init")
    doc["cloud_init"] = None
    if ci is not None:
        if stored is not None and cloud_init_hash(stored.cloud_init) == ci["sha256"]:
            doc["cloud_init"] = stored.cloud_init.model_dump(mode="json") if stored.cloud_init else None
        else:
            lost.append("cloud_init")
    known = {d.name: d for d in stored.disks} if stored is not None else {}
    disks = []
    for d in observed.get("disks") or []:
        d = dict(d)
        if d["size_gib"] is None and d["base_image"] is None:
            if d["name"] not in known:  # not a volume in any pool and unknown to us
                lost.append("disks")
                continue
            d["size_gib"] = known[d["name"]].size_gib
            d["base_image"] = known[d["name"]].base_image
        disks.append(d)
    doc["disks"] = disks
    return doc, lost


def build_vm(
    driver: HypervisorDriver,
    obs: Observation | None,
    record: VmRecord | None,
    *,
    ips: list[str] | None = None,
) -> VirtualMachine:
    stored = stored_spec(record)
    times = {"created_at": record.created_at, "updated_at": record.updated_at} if record else {}
    accel = driver.accel or "unknown"
    if obs is None:
        if stored is None:
            raise ValueError("build_vm needs an observation or a record")
        status = VirtualMachineStatus(
            node=driver.node_id, actual_state="missing", accel=accel, drift=["state"], **times
        )
        return VirtualMachine(**stored.model_dump(), status=status)
    pool = driver.cfg.storage_pool
    observed = obs.spec(pool)
    doc, lost = spec_dict(observed, stored)
    drift = drift_fields(stored, observed) if stored is not None else []
    live = obs.spec(pool, live=True) if obs.active else None
    status = VirtualMachineStatus(
        uuid=obs.uuid,
        node=driver.node_id,
        actual_state=obs.state,  # type: ignore[arg-type]
        ip_addresses=ips or [],
        accel=accel,
        pending_changes=pending_fields(
            observed, live, live_memory_ceiling_mib=obs.live.memory_ceiling_mib if obs.live else None
        ),
        drift=list(dict.fromkeys(drift + lost)),
        **times,
    )
    return VirtualMachine(**doc, status=status)


def would_be_vm(
    driver: HypervisorDriver, spec: VirtualMachineSpec, obs: Observation | None
) -> VirtualMachine:
    """The VM a dry run predicts: the desired spec with the status it would have."""
    status = VirtualMachineStatus(
        uuid=obs.uuid if obs else None,
        node=driver.node_id,
        actual_state="running" if spec.state == "running" else spec.state,
        accel=driver.accel or "unknown",
    )
    return VirtualMachine(**spec.model_dump(), status=status)
