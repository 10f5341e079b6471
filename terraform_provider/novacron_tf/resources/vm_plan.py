"""Planning novacron_vm, purely: defaults, what stays known, and what truly needs a rebuild.

Which change rebuilds the VM is not decided here: the VM model's field rules, generated into
`vm_rules.json`, are judged with `change_rules.judge`, the function the agent's own diff uses
(for a host that can do the most in place; the provider also asks the agent for a dry run
whenever the plan is fully known, and takes its word, so the two cannot silently disagree).
Today that makes a rebuild of a new name, a removed disk, or a disk whose pool, bus or base image
changes or which shrinks; everything else, and `node` (a live migration), is in place.
"""

from __future__ import annotations

import json
from typing import Any

from novacron_sdk.models.change_rules import ANY_HOST, Rule, item_rules, judge, table_from_json
from novacron_sdk.models.vm import FieldChange, VirtualMachineSpec, VirtualMachineStatus
from novacron_tf.cty import UNKNOWN, contains_unknown
from novacron_tf.diagnostics import dotted
from novacron_tf.planning import differs, plan_block, strip_nulls
from novacron_tf.schema import RULES_JSON, Block

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
RULES = table_from_json(json.loads(RULES_JSON.read_text()))
MATCH = {name: r.key for name, r in RULES.items() if r.key}  # list elements matched by their item key


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
    """Attribute paths whose change the rules make a rebuild (an unknown top-level value counts
    by the rule's best case; unknowns inside a list's elements are left to the apply)."""
    out: list[Path] = []
    for name in SPEC:
        rule, old, new = RULES[name], prior.get(name), planned.get(name)
        if rule.key is not None:
            out += _keyed_rebuilds(name, rule, old or [], new)
        elif rule.kind == "list" and isinstance(new, list):
            for i in range(max(len(old or []), len(new))):
                before = old[i] if i < len(old or []) else None
                after = new[i] if i < len(new) else None
                if judge(rule, before, after, ANY_HOST) == "recreate":
                    out.append((name, i))
        elif old != new and (rule.change if new is UNKNOWN else judge(rule, old, new, ANY_HOST)) == "recreate":
            out.append((name,))
    return out


def _keyed_rebuilds(name: str, rule: Rule, old: list[Obj], new: Any) -> list[Path]:
    if new is UNKNOWN:
        return []
    before = {d.get(rule.key): d for d in old}
    keys = {d.get(rule.key) for d in new if isinstance(d, dict)}
    out: list[Path] = []
    removed = any(k not in keys and UNKNOWN not in keys for k in before)
    added = any(k not in before and k is not UNKNOWN for k in keys)
    if (removed and rule.remove == "recreate") or (added and rule.add == "recreate"):
        out.append((name,))  # removing a disk: the agent rebuilds rather than detach data
    fields = item_rules(RULES, name)
    for i, item in enumerate(new):
        prev = before.get(item.get(rule.key)) if isinstance(item, dict) else None
        if prev is None:
            continue
        for field, field_rule in fields.items():
            value = item.get(field)
            if value is not UNKNOWN and judge(field_rule, prev.get(field), value, ANY_HOST) == "recreate":
                out.append((name, i, field))
    return out


def recreate_paths(changes: list[FieldChange]) -> list[Path]:
    """The agent's dry run, as attribute paths: each change it can only make by rebuilding."""
    out: list[Path] = []
    for change in changes:
        if change.apply != "recreate":
            continue
        path = dotted(change.field) or ()
        if len(path) == 2 and path[0] in MATCH:  # a whole disk added/removed: index is the agent's
            path = (path[0],)
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
