"""What differs between the VM libvirt has and the VM the user wants, and how each change applies.

Pure: both sides are plain dicts shaped like `VirtualMachineSpec.model_dump(mode="json")` (the
observed side from `hypervisor.parse.observed_spec`), so the comparison is of parsed values, never
XML text. Each `FieldChange` carries its apply mode:

  live / live_and_config  applied to the running guest now (and to its persistent config)
  next_boot               written to the persistent config, effective when the guest next boots
  recreate                cannot be changed in place: needs a new VM (refused unless recreate=true)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novacron.hypervisor.domain_xml import cloud_init_hash
from novacron_sdk.models.vm import FieldChange, VirtualMachineSpec

SCALAR_FIELDS = ("vcpus", "memory_mib")
# Fields compared for `status.pending_changes` (the running guest vs its persistent config).
BOOT_TIME_FIELDS = ("vcpus", "memory_mib", "boot", "networks", "disks")


@dataclass(frozen=True)
class LiveLimits:
    """What the running guest can take without a reboot."""

    running: bool  # active now and meant to stay active
    memory_ceiling_mib: int = 0  # live <memory>: the balloon can go up to here
    max_vcpus: int = 0  # live <vcpu> maximum: hot-plug can go up to here
    can_resize_disks: bool = True


def normalize_desired(spec: VirtualMachineSpec, current: dict[str, Any] | None) -> dict[str, Any]:
    """The desired spec in observed form: unset values libvirt fills in are taken from `current`.

    A NIC without a MAC keeps the MAC libvirt generated; an overlay disk without `size_gib`
    keeps whatever size it has; cloud-init is compared by digest.
    """
    d = spec.model_dump(mode="json")
    d["cloud_init"] = {"sha256": cloud_init_hash(spec.cloud_init)} if spec.cloud_init else None
    if current is None:
        return d
    cur_nics = current.get("networks") or []
    for i, nic in enumerate(d["networks"]):
        if nic["mac"] is None and i < len(cur_nics):
            nic["mac"] = cur_nics[i].get("mac")
    cur_disks = {disk["name"]: disk for disk in current.get("disks") or []}
    for disk in d["disks"]:
        if disk["size_gib"] is None and disk["name"] in cur_disks:
            disk["size_gib"] = cur_disks[disk["name"]]["size_gib"]
    return d


def _disk_changes(
    cur: list[dict[str, Any]], want: list[dict[str, Any]], limits: LiveLimits
) -> list[FieldChange]:
    out: list[FieldChange] = []
    cur_by_name = {d["name"]: (i, d) for i, d in enumerate(cur)}
    want_names = {d["name"] for d in want}
    for i, disk in enumerate(want):
        if disk["name"] not in cur_by_name:
            out.append(FieldChange(field=f"disks.{i}", before=None, after=disk, apply="next_boot"))
            continue
        _, old = cur_by_name[disk["name"]]
        for key in ("pool", "bus", "base_image"):
            if old.get(key) != disk.get(key):
                out.append(
                    FieldChange(
                        field=f"disks.{i}.{key}", before=old.get(key), after=disk.get(key), apply="recreate"
                    )
                )
        new_size, old_size = disk.get("size_gib"), old.get("size_gib")
        if new_size is not None and old_size is not None and new_size != old_size:
            grow = new_size > old_size and limits.can_resize_disks
            out.append(
                FieldChange(
                    field=f"disks.{i}.size_gib",
                    before=old_size,
                    after=new_size,
                    apply="live" if grow else "recreate",
                )
            )
    for j, old in enumerate(cur):
        if old["name"] not in want_names:
            out.append(FieldChange(field=f"disks.{j}", before=old, after=None, apply="recreate"))
    return out


def _nic_changes(cur: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[FieldChange]:
    out = []
    for i in range(max(len(cur), len(want))):
        old = cur[i] if i < len(cur) else None
        new = want[i] if i < len(want) else None
        if old != new:
            out.append(FieldChange(field=f"networks.{i}", before=old, after=new, apply="next_boot"))
    return out


def compute_changes(
    current: dict[str, Any], desired: dict[str, Any], limits: LiveLimits
) -> list[FieldChange]:
    """Field-by-field changes turning `current` into `desired` (both in observed form)."""
    changes: list[FieldChange] = []
    if current["vcpus"] != desired["vcpus"]:
        live = limits.running and desired["vcpus"] <= limits.max_vcpus
        changes.append(
            FieldChange(
                field="vcpus",
                before=current["vcpus"],
                after=desired["vcpus"],
                apply="live_and_config" if live else "next_boot",
            )
        )
    if current["memory_mib"] != desired["memory_mib"]:
        live = limits.running and desired["memory_mib"] <= limits.memory_ceiling_mib
        changes.append(
            FieldChange(
                field="memory_mib",
                before=current["memory_mib"],
                after=desired["memory_mib"],
                apply="live_and_config" if live else "next_boot",
            )
        )
    changes += _disk_changes(current.get("disks") or [], desired.get("disks") or [], limits)
    changes += _nic_changes(current.get("networks") or [], desired.get("networks") or [])
    for key in ("cloud_init", "boot"):
        if current.get(key) != desired.get(key):
            changes.append(
                FieldChange(field=key, before=current.get(key), after=desired.get(key), apply="next_boot")
            )
    for key in ("labels", "autostart", "state"):
        if current.get(key) != desired.get(key):
            changes.append(
                FieldChange(field=key, before=current.get(key), after=desired.get(key), apply="live")
            )
    return changes


def create_changes(desired: dict[str, Any]) -> list[FieldChange]:
    """A new VM: every field is created."""
    return [
        FieldChange(field=k, before=None, after=v, apply="create") for k, v in desired.items() if k != "name"
    ]


def diff_doc(changes: list[FieldChange]) -> dict[str, dict[str, object]]:
    """The `diff` of a ConvergeResult: before/after of exactly the changed fields."""
    return {
        "before": {c.field: c.before for c in changes},
        "after": {c.field: c.after for c in changes},
    }


def pending_fields(
    config: dict[str, Any], live: dict[str, Any] | None, *, live_memory_ceiling_mib: int | None = None
) -> list[str]:
    """Fields whose persistent config differs from the running guest: they wait for a reboot.

    Memory is pending only when the configured size is beyond what the running guest's balloon
    can reach (`live_memory_ceiling_mib`): below it, a difference is the balloon still settling
    (a guest that just booted reports less), not a change waiting for a reboot.
    """
    if live is None:
        return []
    out = []
    for key in BOOT_TIME_FIELDS:
        a, b = config.get(key), live.get(key)
        ceiling = live_memory_ceiling_mib
        if key == "memory_mib" and ceiling is not None and a is not None and a <= ceiling:
            continue
        if key == "disks":  # live sizes come from the same volumes; compare what the guest sees
            a = [(d["name"], d["bus"]) for d in a or []]
            b = [(d["name"], d["bus"]) for d in b or []]
        if a != b:
            out.append(key)
    return out


def drift_fields(stored: VirtualMachineSpec, observed: dict[str, Any]) -> list[str]:
    """Top-level fields where libvirt no longer matches the spec the agent last applied."""
    changes = compute_changes(observed, normalize_desired(stored, observed), LiveLimits(running=False))
    return list(dict.fromkeys(c.field.split(".")[0] for c in changes))
