"""How a change of a resource field is applied: the vocabulary of the `x-novacron-*` field metadata.

A rule is written once, on the model field it is about (`models/vm.py`), and travels with the
model's JSON schema (OpenAPI). The agent's diff decides each change with `judge`; the faces'
generators copy the table (`rules_of`) into the Terraform and Pulumi providers, which judge their
plans with the same function, so a plan shows what the agent will do.

Apply modes (`FieldChange.apply`, plus `migrate`):
  live             applied to the running VM and its config at once
  live_and_config  a hot change of the running guest, also written to its config
  next_boot        written to the config; the running guest sees it at its next boot
  recreate         never in place: the VM is rebuilt (new UUID, disks recreated)
  migrate          the VM moves live to another node (status `node`)

Keys on a field:
  x-novacron-change        the apply mode (when the condition below holds)
  x-novacron-change-when   a condition, `<predicate>:<host fact>`:
                             running_within:<limit>  the VM runs (and stays running) and the new
                                                     value is at most the running guest's <limit>
                             grows:<capability>      the new value is larger and the host has
                                                     <capability>; a side left unset is no change
  x-novacron-change-else   the apply mode when the condition does not hold
  x-novacron-item-key      list elements are matched by this field (else by position, each
                           element compared whole with the list's own rule)
  x-novacron-item-add      apply mode of an element added to a keyed list
  x-novacron-item-remove   apply mode of an element removed from a keyed list
  x-novacron-agent-filled  left unset, the agent fills the value in (or keeps the current one),
                           so an unset value is never a change
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel

Apply = Literal["live", "live_and_config", "next_boot", "recreate", "migrate"]
Kind = Literal["value", "object", "list", "map"]

CHANGE = "x-novacron-change"
WHEN = "x-novacron-change-when"
ELSE = "x-novacron-change-else"
ITEM_KEY = "x-novacron-item-key"
ITEM_ADD = "x-novacron-item-add"
ITEM_REMOVE = "x-novacron-item-remove"
AGENT_FILLED = "x-novacron-agent-filled"


def rule(change: Apply | None = None, *, when: str | None = None, otherwise: Apply | None = None,
         key: str | None = None, add: Apply | None = None, remove: Apply | None = None,
         agent_filled: bool = False) -> dict[str, Any]:
    """The `json_schema_extra` of one field: its rule in the keys above."""
    extra = {CHANGE: change, WHEN: when, ELSE: otherwise, ITEM_KEY: key, ITEM_ADD: add, ITEM_REMOVE: remove,
             AGENT_FILLED: agent_filled or None}
    return {k: v for k, v in extra.items() if v is not None}


@dataclass(frozen=True)
class Rule:
    """One field's rule, as read from its metadata (`kind` from its type)."""

    change: str | None = None
    when: str | None = None
    otherwise: str | None = None
    key: str | None = None
    add: str | None = None
    remove: str | None = None
    agent_filled: bool = False
    kind: str = "value"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Rule:
        return cls(**doc)


@dataclass(frozen=True)
class Host:
    """What the running guest and its hypervisor allow without a rebuild or reboot."""

    running: bool  # active now and meant to stay active
    memory_ceiling_mib: int = 0  # live <memory>: the balloon can go up to here
    max_vcpus: int = 0  # live <vcpu> maximum: hot-plug can go up to here
    can_resize_disks: bool = True


# A face planning without the agent: the most a change can be in place. A face takes the agent's
# dry run, which knows the real host, over this wherever the agent answers.
ANY_HOST = Host(running=False, can_resize_disks=True)


def _running_within(before: Any, after: Any, host: Host, limit: str) -> bool | None:
    return host.running and after <= getattr(host, limit)


def _grows(before: Any, after: Any, host: Host, capability: str) -> bool | None:
    if before is None or after is None:
        return None
    return after > before and bool(getattr(host, capability))


CONDITIONS: dict[str, Callable[[Any, Any, Host, str], bool | None]] = {
    "running_within": _running_within,
    "grows": _grows,
}


def judge(rule: Rule, before: Any, after: Any, host: Host) -> str | None:
    """The apply mode of changing one value from `before` to `after`; None: no change."""
    if before == after:
        return None
    if rule.agent_filled and after is None:
        return None
    if rule.when is None:
        return rule.change
    predicate, _, fact = rule.when.partition(":")
    holds = CONDITIONS[predicate](before, after, host, fact)
    if holds is None:
        return None
    return rule.change if holds else rule.otherwise


def _inner(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _inner(args[0]) if len(args) == 1 else annotation
    return annotation


def _kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """The shape of a field and, for a list of models or a model, that model."""
    inner = _inner(annotation)
    origin = typing.get_origin(inner)
    if origin is list:
        item = _inner(typing.get_args(inner)[0])
        return "list", item if isinstance(item, type) and issubclass(item, BaseModel) else None
    if origin is dict:
        return "map", None
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "object", inner
    return "value", None


def rules_of(*models: type[BaseModel], prefix: str = "") -> dict[str, Rule]:
    """Every rule of `models`' fields by dotted path (`disks.size_gib`), in field order.

    The fields of a list's element model are listed too, as `<list>.<field>`: with an item key
    they carry the element's rules; in a list compared by position only `agent_filled` counts."""
    out: dict[str, Rule] = {}
    for model in models:
        hints = typing.get_type_hints(model)
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            kind, item = _kind(hints[name])
            if extra:
                out[prefix + name] = Rule(
                    change=extra.get(CHANGE), when=extra.get(WHEN), otherwise=extra.get(ELSE),  # type: ignore[arg-type]
                    key=extra.get(ITEM_KEY), add=extra.get(ITEM_ADD), remove=extra.get(ITEM_REMOVE),  # type: ignore[arg-type]
                    agent_filled=bool(extra.get(AGENT_FILLED)), kind=kind,
                )
            if kind == "list" and item is not None:
                out.update(rules_of(item, prefix=f"{prefix}{name}."))
    return out


def item_rules(table: dict[str, Rule], name: str) -> dict[str, Rule]:
    """The rules of list `name`'s element fields, by field name."""
    head = name + "."
    return {path[len(head):]: r for path, r in table.items() if path.startswith(head)}


def fill_unset(table: dict[str, Rule], name: str, current: list[Any], wanted: list[Any]) -> list[Any]:
    """`wanted` with each element's agent-filled fields that are left unset taken from the current
    element it matches (by the list's item key, else by position): a MAC libvirt generated, the
    size of an overlay disk. Elements that are not plain dicts are left as they are."""
    filled = [f for f, r in item_rules(table, name).items() if r.agent_filled]
    key = table[name].key if name in table else None
    if key is not None:
        by_key = {c.get(key): c for c in current if isinstance(c, dict)}
        olds = [by_key.get(w.get(key)) if isinstance(w, dict) else None for w in wanted]
    else:
        olds = [current[i] if i < len(current) else None for i in range(len(wanted))]
    out = []
    for old, want in zip(olds, wanted, strict=True):
        if isinstance(old, dict) and isinstance(want, dict):
            want = {**want, **{f: old.get(f) for f in filled if want.get(f) is None}}
        out.append(want)
    return out


def table_to_json(table: dict[str, Rule]) -> dict[str, Any]:
    return {path: r.to_json() for path, r in table.items()}


def table_from_json(doc: dict[str, Any]) -> dict[str, Rule]:
    """A table as the faces' generators write it (keys starting with `_` are comments)."""
    return {path: Rule.from_json(r) for path, r in doc.items() if not path.startswith("_")}
