"""The example stacks: the Python program under `pulumi.runtime.set_mocks`, and both programs'
resource inputs accepted by the real provider's Check (the YAML one read straight from Pulumi.yaml)."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi_resource_novacron import SCHEMA_PATH

from tests.pulumi.harness import MODE, VM, ProviderProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "pulumi_provider" / "examples"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


class Mocks(pulumi.runtime.Mocks):
    """Answers like the provider would: id = VM name / node_id, plus the observed outputs."""

    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        state = dict(args.inputs)
        if args.typ == VM:
            state["node"] = state.get("node") or "node-1"
            state["status"] = {"node": state["node"], "actualState": "running", "drift": []}
            return state["name"], state
        if args.typ == MODE:
            state["node"] = "node-1"
            state["status"] = {"mode": state.get("mode", "datacenter"), "forced": True}
            return "node-1", state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def test_python_example_under_mocks(pure_provider: ProviderProcess) -> None:
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="novacron-python-example", stack="test", preview=False)
    program = runpy.run_path(str(EXAMPLES / "python" / "__main__.py"))

    @pulumi.runtime.test
    def outputs() -> Any:
        web, db, dwcp = program["web"], program["db"], program["dwcp"]
        return pulumi.Output.all(web.node, web.status.actual_state, dwcp.status.mode, db.labels).apply(check)

    def check(values: list[Any]) -> None:
        node, state, mode, labels = values
        assert (node, state, mode) == ("node-1", "running", "datacenter")
        assert labels["backs"] == "web-1"  # an output of one resource feeding another

    outputs()
    by_name = {r.name: r for r in mocks.registered}
    assert {r.typ for r in mocks.registered} >= {VM, MODE}
    web = by_name["web"].inputs
    assert web["memoryMib"] == 1024 and web["disks"] == [{"name": "root", "sizeGib": 10}]
    assert web["migration"] == {"maxDowntimeMs": 200, "compression": "zstd"}
    assert "memory_mib" not in web  # the SDK speaks the schema's camelCase on the wire
    for name in ("web", "db", "dwcp"):  # what the SDK registers, the real provider accepts
        resp = pure_provider.check(name, dict(by_name[name].inputs), type_=by_name[name].typ)
        assert not resp.failures, [(f.property, f.reason) for f in resp.failures]


def _resolve(value: Any, config: dict[str, Any]) -> Any:
    if isinstance(value, str) and (m := re.fullmatch(r"\$\{(\w+)\}", value)):
        return config[m.group(1)]
    if isinstance(value, dict):
        return {k: _resolve(v, config) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, config) for v in value]
    return value


def _output_path_exists(token: str, path: list[str]) -> bool:
    props = SCHEMA["resources"][token]["properties"]
    for part in path:
        if part not in props:
            return False
        spec = props[part]
        ref = spec.get("$ref", "").removeprefix("#/types/")
        props = SCHEMA["types"][ref]["properties"] if ref else {}
    return True


def test_yaml_example_matches_the_schema_and_passes_check(pure_provider: ProviderProcess) -> None:
    doc = yaml.safe_load((EXAMPLES / "yaml" / "Pulumi.yaml").read_text())
    assert doc["runtime"] == "yaml"
    config = {k: v["default"] for k, v in doc.get("config", {}).items()}
    for name, res in doc["resources"].items():
        assert res["type"] in SCHEMA["resources"], res["type"]
        resp = pure_provider.check(name, _resolve(res["properties"], config), type_=res["type"])
        assert not resp.failures, [(f.property, f.reason) for f in resp.failures]
    for expr in doc["outputs"].values():
        resource, *path = re.fullmatch(r"\$\{([\w.]+)\}", expr).group(1).split(".")
        assert _output_path_exists(doc["resources"][resource]["type"], path), expr
