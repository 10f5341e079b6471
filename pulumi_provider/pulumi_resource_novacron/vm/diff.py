"""Diff a VM's state (old outputs) against the new inputs, purely: no agent is asked.

The replacement rules mirror the agent's `apply: recreate` rules, so what preview shows is what
happens (where the agent is reachable, the resource confirms them with its dry run, which knows
what this hypervisor can do in place): vCPUs and memory are always updates (live or at next boot, never a rebuild), a
new `node` is a live migration (an update), a new disk is an update; only a new `name`, a changed
disk bus/pool/base image, a shrunk disk or a removed disk rebuild the VM. Fields the agent
reports as drifted (libvirt changed behind its back) count as changed, so `up` converges them.
"""

from __future__ import annotations

from typing import Any

from novacron_sdk.models.vm import VirtualMachineSpec
from pulumi_resource_novacron.diffing import DiffResult
from pulumi_resource_novacron.names import camel, join
from pulumi_resource_novacron.values import Unknown, has_unknown, reveal
from pulumi_resource_novacron.vm.spec import IN, OUT, desired, split

DISK_REBUILD_KEYS = ("pool", "bus", "base_image")


def _prune(v: Any) -> Any:
    """Drop None members: outputs omit them, a validated spec spells them out."""
    if isinstance(v, dict):
        return {k: _prune(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def _changed(a: Any, b: Any) -> bool:
    return isinstance(b, Unknown) or has_unknown(b) or _prune(a) != _prune(b)


def _disks(res: DiffResult, cur: list[dict[str, Any]], want: Any) -> None:
    if isinstance(want, Unknown):
        res.add("disks", cur, want, replace=True)
        return
    by_name = {d.get("name"): d for d in cur}
    names = set()
    for i, disk in enumerate(want):
        path = join("disks", i)
        if isinstance(disk, Unknown) or isinstance(disk.get("name"), Unknown):
            res.add(path, None, disk, replace=True)
            continue
        names.add(disk["name"])
        old = by_name.get(disk["name"])
        if old is None:
            res.add(path, None, disk)
            continue
        for key in DISK_REBUILD_KEYS:
            if _changed(old.get(key), disk.get(key)):
                res.add(join(path, camel(key)), old.get(key), disk.get(key), replace=True)
        new_size, old_size = disk.get("size_gib"), old.get("size_gib")
        if new_size is not None and _changed(old_size, new_size):
            shrink = isinstance(new_size, int) and old_size is not None and new_size < old_size
            res.add(join(path, "sizeGib"), old_size, new_size, replace=shrink)
    for j, old in enumerate(cur):
        if old.get("name") not in names:
            res.add(join("disks", j), old, None, replace=True)


def _networks(res: DiffResult, cur: list[dict[str, Any]], want: Any) -> None:
    if isinstance(want, Unknown):
        res.add("networks", cur, want)
        return
    for i in range(max(len(cur), len(want))):
        old = cur[i] if i < len(cur) else None
        new = want[i] if i < len(want) else None
        if isinstance(new, dict) and isinstance(old, dict) and new.get("mac") is None:
            new = {**new, "mac": old.get("mac")}  # libvirt chose the MAC; an unset one keeps it
        if _changed(old, new):
            res.add(join("networks", i), old, new)


def _labels(res: DiffResult, cur: dict[str, str], want: Any) -> None:
    if not isinstance(want, dict):
        res.add("labels", cur, want)
        return
    for key in sorted(set(cur) | set(want)):
        if _changed(cur.get(key), want.get(key)):
            res.add(join("labels", key), cur.get(key), want.get(key))


def diff(olds: dict[str, Any], news: dict[str, Any], ignore: list[str] | None = None) -> DiffResult:
    """`olds`: the state's outputs; `news`: checked inputs (either may hold secrets/unknowns)."""
    old_plain = reveal(olds)
    cur = OUT.to_agent({k: v for k, v in old_plain.items() if k not in ("node", "migration", "status")})
    want = desired(news)
    res = DiffResult()
    for name in VirtualMachineSpec.model_fields:
        before, value = cur.get(name), want.get(name)
        if name == "disks":
            _disks(res, before or [], value)
        elif name == "networks":
            _networks(res, before or [], value)
        elif name == "labels":
            _labels(res, before or {}, value)
        elif _changed(before, value):
            res.add(camel(name), before, value, replace=(name == "name"))
    drift = (old_plain.get("status") or {}).get("drift") or []
    for field in drift:
        path = IN.path((field,))
        if not any(p == path or p.startswith((path + ".", path + "[")) for p in res.detailed):
            res.add(path, cur.get(field), want.get(field))
    _, node, migration = split(reveal(news))
    if node is not None and _changed(old_plain.get("node"), node):
        res.add("node", old_plain.get("node"), node)  # a live migration, never a replacement
    if _changed(old_plain.get("migration"), migration) and (migration or old_plain.get("migration")):
        res.add("migration", old_plain.get("migration"), migration)
    res.delete_before_replace = "name" not in res.replaces  # same name: the old VM must go first
    res.ignore(ignore or [])
    return res
