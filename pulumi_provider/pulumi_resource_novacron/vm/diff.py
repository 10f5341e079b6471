"""Diff a VM's state (old outputs) against the new inputs, purely: no agent is asked.

Which change is a replacement is not decided here: the VM model's field rules, generated into
`vm_rules.json`, are judged with `change_rules.judge`, the function the agent's own diff uses,
for a host that can do the most in place (where the agent is reachable, the resource confirms the
result with its dry run, which knows what this hypervisor can do). Today: vCPUs and memory are
updates (live or at next boot, never a rebuild), a new disk is an update, and only a new `name`,
a changed disk bus/pool/base image, a shrunk disk or a removed disk rebuild the VM. A new `node` is
a live migration (an update). Fields the agent reports as drifted (libvirt changed behind its
back) count as changed, so `up` converges them. An unknown value is judged by its rule's best case;
an unknown element of a keyed list by its worst.
"""

from __future__ import annotations

import json
from typing import Any

from novacron_sdk.models.change_rules import ANY_HOST, Rule, fill_unset, item_rules, judge, table_from_json
from novacron_sdk.models.vm import VirtualMachineSpec
from pulumi_resource_novacron import RULES_PATH
from pulumi_resource_novacron.diffing import DiffResult
from pulumi_resource_novacron.names import camel, join
from pulumi_resource_novacron.values import Unknown, has_unknown, reveal
from pulumi_resource_novacron.vm.spec import IN, OUT, desired, split

RULES = table_from_json(json.loads(RULES_PATH.read_text()))


def _prune(v: Any) -> Any:
    """Drop None members: outputs omit them, a validated spec spells them out."""
    if isinstance(v, dict):
        return {k: _prune(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def _changed(a: Any, b: Any) -> bool:
    return isinstance(b, Unknown) or has_unknown(b) or _prune(a) != _prune(b)


def _replaces(rule: Rule, before: Any, after: Any) -> bool:
    """Whether the rules make this change a rebuild (an unknown value: if its rule always does)."""
    if isinstance(after, Unknown) or has_unknown(after):
        return rule.change == "recreate"
    return judge(rule, _prune(before), _prune(after), ANY_HOST) == "recreate"


def _may_replace(name: str) -> bool:
    """Whether some change of list `name` rebuilds: the worst case of an element not known yet."""
    rule = RULES[name]
    modes = {rule.change, rule.otherwise, rule.add, rule.remove}
    for r in item_rules(RULES, name).values():
        modes |= {r.change, r.otherwise}
    return "recreate" in modes


def _keyed(res: DiffResult, name: str, cur: list[dict[str, Any]], want: Any) -> None:
    rule = RULES[name]
    if isinstance(want, Unknown):
        res.add(name, cur, want, replace=_may_replace(name))
        return
    key, fields = rule.key, item_rules(RULES, name)
    by_key = {d.get(key): d for d in cur}
    keys = set()
    for i, item in enumerate(want):
        path = join(name, i)
        if isinstance(item, Unknown) or isinstance(item.get(key), Unknown):
            res.add(path, None, item, replace=_may_replace(name))
            continue
        keys.add(item[key])
        old = by_key.get(item[key])
        if old is None:
            res.add(path, None, item, replace=rule.add == "recreate")
            continue
        for field, field_rule in fields.items():
            before, after = old.get(field), item.get(field)
            if field_rule.agent_filled and after is None:
                continue  # left unset: the agent keeps what it has
            if _changed(before, after):
                res.add(join(path, camel(field)), before, after, replace=_replaces(field_rule, before, after))
    for j, old in enumerate(cur):
        if old.get(key) not in keys:
            res.add(join(name, j), old, None, replace=rule.remove == "recreate")


def _positional(res: DiffResult, name: str, cur: list[dict[str, Any]], want: Any) -> None:
    rule = RULES[name]
    if isinstance(want, Unknown):
        res.add(name, cur, want, replace=_may_replace(name))
        return
    want = fill_unset(RULES, name, cur, want)  # e.g. libvirt chose the MAC; an unset one keeps it
    for i in range(max(len(cur), len(want))):
        old = cur[i] if i < len(cur) else None
        new = want[i] if i < len(want) else None
        if _changed(old, new):
            res.add(join(name, i), old, new, replace=_replaces(rule, old, new))


def _mapping(res: DiffResult, name: str, cur: dict[str, str], want: Any) -> None:
    rule = RULES[name]
    if not isinstance(want, dict):
        res.add(name, cur, want, replace=_replaces(rule, cur, want))
        return
    for key in sorted(set(cur) | set(want)):
        if _changed(cur.get(key), want.get(key)):
            res.add(join(name, key), cur.get(key), want.get(key),
                    replace=_replaces(rule, cur, {**cur, key: want.get(key)}))


def _field(res: DiffResult, name: str, before: Any, value: Any) -> None:
    rule = RULES[name]
    if rule.key is not None:
        _keyed(res, name, before or [], value)
    elif rule.kind == "list":
        _positional(res, name, before or [], value)
    elif rule.kind == "map":
        _mapping(res, name, before or {}, value)
    elif _changed(before, value):
        res.add(camel(name), before, value, replace=_replaces(rule, before, value))


def diff(olds: dict[str, Any], news: dict[str, Any], ignore: list[str] | None = None) -> DiffResult:
    """`olds`: the state's outputs; `news`: checked inputs (either may hold secrets/unknowns)."""
    old_plain = reveal(olds)
    cur = OUT.to_agent({k: v for k, v in old_plain.items() if k not in ("node", "migration", "status")})
    want = desired(news)
    res = DiffResult()
    for name in VirtualMachineSpec.model_fields:
        _field(res, name, cur.get(name), want.get(name))
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
