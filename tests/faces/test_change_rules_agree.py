"""The three consumers of the VM's change rules agree with the model, field by field.

For every field the model carries a rule for, one change of that field goes through the agent's
diff, Terraform's plan and Pulumi's Diff. The apply mode the model's rule gives (`judge`, for a
host that can do the most in place, as the faces assume) must be what the agent reports, and a
face must plan a replacement exactly where that mode is `recreate`, at that field's path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_resource_novacron.diffing import _REPLACE, UPDATE, top
from pulumi_resource_novacron.names import camel
from pulumi_resource_novacron.vm import diff as pulumi_diff
from pulumi_resource_novacron.vm.spec import IN, outputs

from novacron.faces.change_rules import vm_rules
from novacron.vms.diff import compute_changes, normalize_desired
from novacron_sdk.models.change_rules import ANY_HOST, judge
from novacron_sdk.models.vm import VirtualMachine, VirtualMachineSpec
from novacron_tf.planning import shape
from novacron_tf.resources.vm_plan import RULES as TF_RULES
from novacron_tf.resources.vm_plan import plan_vm
from novacron_tf.schema import load

MODEL = vm_rules()
BLOCK = load().resources["novacron_vm"].block
BASE: dict[str, Any] = {
    "name": "web-1", "vcpus": 2, "memory_mib": 512,
    "disks": [{"name": "root", "size_gib": 4}, {"name": "data", "size_gib": 4, "base_image": "/img/a.qcow2"}],
    "networks": [{"network": "default", "mac": "52:54:00:12:34:56"}],
    "cloud_init": {"user_data": "a"}, "boot": {"kernel": "/img/k1"},
    "state": "running", "autostart": False, "labels": {"app": "web"},
}  # fmt: skip
Edit = Callable[[dict[str, Any]], None]


def _set(*path: Any, value: Any) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        if value is _UNSET:
            del d[path[-1]]
        else:
            d[path[-1]] = value
    return edit


_UNSET = object()
# rule path -> (what the change does, the agent's change path, how the model's rule reads it)
SAMPLES: dict[str, list[tuple[Edit, str | None, str]]] = {
    "name": [(_set("name", value="web-2"), "name", "value")],
    "vcpus": [(_set("vcpus", value=4), "vcpus", "value")],
    "memory_mib": [(_set("memory_mib", value=1024), "memory_mib", "value")],
    "disks": [(lambda d: d["disks"].append({"name": "logs", "size_gib": 1}), "disks.2", "add"),
              (lambda d: d["disks"].pop(1), "disks.1", "remove"),
              (_set("disks", 1, "name", value="renamed"), "disks.1", "rename")],
    "disks.size_gib": [(_set("disks", 0, "size_gib", value=8), "disks.0.size_gib", "value"),
                       (_set("disks", 0, "size_gib", value=2), "disks.0.size_gib", "value"),
                       (_set("disks", 1, "size_gib", value=_UNSET), None, "value")],
    "disks.base_image": [(_set("disks", 1, "base_image", value="/img/b.qcow2"), "disks.1.base_image", "value")],
    "disks.pool": [(_set("disks", 0, "pool", value="fast"), "disks.0.pool", "value")],
    "disks.bus": [(_set("disks", 0, "bus", value="sata"), "disks.0.bus", "value")],
    "networks": [(_set("networks", 0, value={"bridge": "br0"}), "networks.0", "value"),
                 (lambda d: d["networks"].append({"network": "default"}), "networks.1", "value")],
    "networks.mac": [(_set("networks", 0, "mac", value=_UNSET), None, "value")],
    "cloud_init": [(_set("cloud_init", "user_data", value="b"), "cloud_init", "value")],
    "boot": [(_set("boot", "kernel", value="/img/k2"), "boot", "value")],
    "state": [(_set("state", value="paused"), "state", "value")],
    "autostart": [(_set("autostart", value=True), "autostart", "value")],
    "labels": [(_set("labels", "app", value="api"), "labels", "value")],
}
CASES = [pytest.param(path, edit, field, how, id=f"{path}-{i}")
         for path, samples in SAMPLES.items() for i, (edit, field, how) in enumerate(samples)]


def _after(edit: Edit) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    edit(d)
    return d


def _value(spec: dict[str, Any], dotted: str) -> Any:
    doc: Any = VirtualMachineSpec.model_validate(spec).model_dump(mode="json")
    for part in dotted.split("."):
        if part.isdigit():
            doc = doc[int(part)] if int(part) < len(doc) else None
        else:
            doc = doc.get(part) if doc is not None else None
    return doc


def _expected(path: str, field: str | None, how: str, after: dict[str, Any]) -> list[tuple[str, str]]:
    """The changes the model's rules make of this edit: (agent path, apply mode)."""
    if field is None:
        return []
    rule = MODEL[path]
    modes = {"add": [rule.add], "remove": [rule.remove], "rename": [rule.add, rule.remove],
             "value": [judge(rule, _value(BASE, field), _value(after, field), ANY_HOST)]}[how]
    return [(field, mode) for mode in modes if mode is not None]


def _agent(after: dict[str, Any]) -> list[tuple[str, str]]:
    current = normalize_desired(VirtualMachineSpec.model_validate(BASE), None)
    desired = normalize_desired(VirtualMachineSpec.model_validate(after), current)
    return [(c.field, c.apply) for c in compute_changes(current, desired, ANY_HOST)]


def _terraform(after: dict[str, Any], node: str = "node-1") -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    vm = VirtualMachine.model_validate({**BASE, "status": {"node": "node-1", "uuid": "u-1"}}).model_dump(mode="json")
    status = vm.pop("status")
    prior = shape(BLOCK, {**vm, **status, "id": vm["name"], "force_stop": False, "keep_storage": False})
    return plan_vm(BLOCK, prior, shape(BLOCK, {**after, "node": node}))


def _pulumi(after: dict[str, Any], node: str | None = None) -> dict[str, int]:
    olds = outputs(VirtualMachine.model_validate({**BASE, "status": {"node": "node-1"}}), "node-1", {})
    news = IN.to_pulumi(VirtualMachineSpec.model_validate(after).model_dump(mode="json", exclude_none=True))
    if node:
        news["node"] = node
    return pulumi_diff.diff(olds, news).detailed


def _tf_path(field: str) -> tuple[Any, ...]:
    parts = tuple(int(p) if p.isdigit() else p for p in field.split("."))
    return parts[:1] if len(parts) == 2 and MODEL[parts[0]].key else parts


def test_every_field_with_a_rule_has_a_sample_and_the_providers_hold_the_models_rules() -> None:
    assert set(SAMPLES) | {"node"} == set(MODEL)
    assert TF_RULES == MODEL and pulumi_diff.RULES == MODEL


@pytest.mark.parametrize(("path", "edit", "field", "how"), CASES)
def test_agent_terraform_and_pulumi_judge_each_change_as_the_model_does(
        path: str, edit: Edit, field: str | None, how: str) -> None:
    after = _after(edit)
    expected = _expected(path, field, how, after)
    rebuilds = [f for f, mode in expected if mode == "recreate"]

    assert _agent(after) == expected

    _, replace = _terraform(after)
    assert replace == list(dict.fromkeys(_tf_path(f) for f in rebuilds))

    detailed = _pulumi(after)
    assert {top(p) for p in detailed} == {camel(f.split(".")[0]) for f, _ in expected}
    replaced = {p for p, kind in detailed.items() if kind in _REPLACE.values()}
    assert bool(replaced) == bool(rebuilds), detailed


def test_a_node_change_is_a_migration_in_both_providers() -> None:
    assert MODEL["node"].change == "migrate"
    planned, replace = _terraform(BASE, node="node-2")
    assert replace == [] and planned["node"] == "node-2" and planned["uuid"] == "u-1"
    assert _pulumi(BASE, node="node-2") == {"node": UPDATE}  # an update, never a replacement
