"""Planning novacron_vm, purely: defaults, what stays known, and what truly needs a rebuild.

In place: vCPUs, memory (live where the guest allows, else at next boot), NICs, cloud-init, boot,
labels, power state, autostart, growing a disk, adding a disk, and `node` (a live migration).
Rebuild: a new name, a removed disk, or a disk whose pool, bus or base image changes or which
shrinks — the same rules as the agent's own diff (`vms/diff.py`), which the provider also asks
via a dry run whenever the plan is fully known, so the two cannot silently disagree.
"""

from __future__ import annotations

from typing import Any

from novacron_sdk.models.vm import FieldChange, VirtualMachineSpec, VirtualMachineStatus
from novacron_tf.cty import UNKNOWN, contains_unknown
from novacron_tf.diagnostics import dotted
from novacron_tf.planning import differs, plan_block, strip_nulls
from novacron_tf.schema import Block

Obj = dict[str, Any]
Path = tuple[str | int, ...]
SPEC = tuple(VirtualMachineSpec.model_fields)
STATUS = tuple(VirtualMachineStatus.model_fields)
# Observed fields an in-place update may change, and which changes can: the rest stay known in
# the plan, so a memory change reads as one line in a pull request, not a screenful of unknowns.
UNSETTLED_BY: dict[str, frozenset[str] | None] = {
    "updated_at": None,  # None: any change
    "pending_changes": frozenset(SPEC),
    "drift": frozenset(SPEC),
    "actual_state": frozenset({"state", "node"}),
    "ip_addresses": frozenset({"networks", "state", "node"}),
    "accel": frozenset({"node"}),
    "created_at": frozenset({"node"}),  # the destination's record is new
}
EXTRAS = ("force_stop", "keep_storage")  # Terraform-only knobs: stored in state, never sent as spec
MATCH = {"disks": "name"}
DISK_REBUILD_KEYS = ("pool", "bus", "base_image")


def plan_vm(block: Block, prior: Obj | None, config: Obj) -> tuple[Obj, list[Path]]:
    """Planned state and the attribute paths that force a replacement."""
    planned = plan_block(block, config, prior, MATCH)
    planned["id"] = planned["name"]
    replace = rebuild_paths(prior, planned) if prior is not None else []
    if prior is None or replace:
        for name in STATUS:
            if name != "node" or config.get("node") is None:
                planned[name] = UNKNOWN
        return planned, replace
    changing = set(changed_fields(prior, planned))
    for name, causes in UNSETTLED_BY.items():
        if changing and (causes is None or changing & causes):
            planned[name] = UNKNOWN
    return planned, replace


def changed_fields(prior: Obj | None, planned: Obj) -> list[str]:
    """Spec fields and `node` that differ: what the agent must be asked to change."""
    return differs(prior, planned, [*SPEC, "node"])


def rebuild_paths(prior: Obj, planned: Obj) -> list[Path]:
    out: list[Path] = []
    if prior.get("name") != planned.get("name"):
        out.append(("name",))
    before = {d.get("name"): d for d in prior.get("disks") or []}
    after = planned.get("disks")
    if after is UNKNOWN:
        return out
    names = {d.get("name") for d in after if isinstance(d, dict)}
    if any(n not in names and UNKNOWN not in names for n in before):
        out.append(("disks",))  # removing a disk: the agent rebuilds rather than detach data
    for i, disk in enumerate(after):
        old = before.get(disk.get("name")) if isinstance(disk, dict) else None
        if old is None:
            continue
        for key in DISK_REBUILD_KEYS:
            new = disk.get(key)
            if new is not UNKNOWN and new != old.get(key):
                out.append(("disks", i, key))
        new_size, old_size = disk.get("size_gib"), old.get("size_gib")
        if isinstance(new_size, int) and isinstance(old_size, int) and new_size < old_size:
            out.append(("disks", i, "size_gib"))
    return out


def recreate_paths(changes: list[FieldChange]) -> list[Path]:
    """The agent's dry run, as attribute paths: each change it can only make by rebuilding."""
    out: list[Path] = []
    for change in changes:
        if change.apply != "recreate":
            continue
        path = dotted(change.field) or ()
        if len(path) == 2 and path[0] == "disks":  # a whole disk added/removed: index is the agent's
            path = ("disks",)
        if path and path not in out:
            out.append(path)
    return out


def spec_body(state: Obj) -> Obj:
    """The VirtualMachineSpec body for the agent: spec fields only, unset members left out."""
    return strip_nulls({k: state.get(k) for k in SPEC})


def dry_run_body(planned: Obj) -> Obj | None:
    """The body to check a plan with, or None while it holds unknowns the agent cannot judge.

    Values the agent fills in itself (a disk's size, a MAC) are simply left out: unknown in the
    plan only because the agent has not picked them yet."""
    body = spec_body(planned)
    for block, key in (("disks", "size_gib"), ("networks", "mac")):
        elems = body.get(block)
        for elem in elems if isinstance(elems, list) else []:
            if isinstance(elem, dict) and elem.get(key) is UNKNOWN:
                del elem[key]
    return None if contains_unknown(body) else body
