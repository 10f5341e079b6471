"""The VM's change rules for the providers, generated from the model's field metadata.

The Terraform and Pulumi providers cannot import the agent and plan without asking it, so each
gets the rules table as a generated file next to its schema (`vm_rules.json`), written by its
face's generator with the schema and checked with it (`--check`). The providers judge their plans
with `novacron_sdk.models.change_rules.judge`, the function the agent's diff uses.
"""

from __future__ import annotations

import json
import typing

from novacron.faces.fields import _unwrap_optional
from novacron_sdk.models.change_rules import Rule, rules_of, table_to_json
from novacron_sdk.models.vm import VirtualMachineSpec, VirtualMachineStatus

GENERATED = "by `python -m novacron.faces.{face}` from the VM model's field metadata; do not edit"


def vm_rules() -> dict[str, Rule]:
    return rules_of(VirtualMachineSpec, VirtualMachineStatus)


def render(face: str) -> str:
    doc = {"_generated": GENERATED.format(face=face), **table_to_json(vm_rules())}
    return json.dumps(doc, indent=1) + "\n"


def with_change(change: str) -> frozenset[str]:
    """Paths (`disks.bus`) whose every change is `change`."""
    return frozenset(p for p, r in vm_rules().items() if r.change == change and r.when is None)


def agent_filled() -> frozenset[str]:
    return frozenset(p for p, r in vm_rules().items() if r.agent_filled)


def owner_fields(change: str) -> set[tuple[str, str]]:
    """(model class name, field name) of the fields whose every change is `change`: the top-level
    ones under `VirtualMachine`, a list element's under its element model (`DiskSpec`)."""
    hints = typing.get_type_hints(VirtualMachineSpec)
    out = set()
    for path in with_change(change):
        head, _, leaf = path.partition(".")
        if not leaf:
            out.add(("VirtualMachine", head))
            continue
        inner, _ = _unwrap_optional(hints[head])
        (item,) = typing.get_args(inner)
        out.add((item.__name__, leaf))
    return out
