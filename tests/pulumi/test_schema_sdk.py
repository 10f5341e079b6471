"""schema.json and the Python SDK against the models they come from, property by property.

The schema is generated from the pydantic models (`python -m novacron.faces.pulumi`); these tests
check it is current, valid, complete both ways, that the provider's one name mapping agrees with
it, and that every SDK class (resources, Args, nested input and output types) matches it.
"""

from __future__ import annotations

import collections.abc
import json
import subprocess
import sys
import types
import typing
from typing import Any

import pulumi
import pytest
from pulumi import _types
from pulumi_resource_novacron import SCHEMA_PATH
from pulumi_resource_novacron.names import camel, snake

import pulumi_novacron
from novacron_sdk.models.migration import MigrationOptions
from novacron_sdk.models.mode import ModeSettings, ModeStatus, PeerLink
from novacron_sdk.models.vm import (
    BootSpec,
    CloudInitSpec,
    DiskSpec,
    NetworkSpec,
    VirtualMachineSpec,
    VirtualMachineStatus,
)
from pulumi_novacron import outputs as sdk_outputs

SCHEMA = json.loads(SCHEMA_PATH.read_text())
MODELS = {"DiskSpec": DiskSpec, "NetworkSpec": NetworkSpec, "CloudInitSpec": CloudInitSpec, "BootSpec": BootSpec,
          "VirtualMachineStatus": VirtualMachineStatus, "MigrationOptions": MigrationOptions,
          "ModeStatus": ModeStatus, "PeerLink": PeerLink}
PRIM = {"string": str, "integer": int, "number": float, "boolean": bool}


def tname(ref: str) -> str:
    return ref.removeprefix("#/types/").rsplit(":", 1)[-1]


def test_generated_files_are_current() -> None:
    result = subprocess.run([sys.executable, "-m", "novacron.faces.pulumi", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_schema_is_valid_and_every_reference_resolves() -> None:
    assert SCHEMA["name"] == "novacron"
    refs: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if "$ref" in v:
                refs.append(v["$ref"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(SCHEMA)
    assert refs and all(r.removeprefix("#/types/") in SCHEMA["types"] for r in refs)
    for spec in [*SCHEMA["types"].values(), *SCHEMA["resources"].values()]:
        props = spec.get("properties") or spec.get("inputProperties")
        for prop in props.values():
            assert prop.get("type") in (*PRIM, "array", "object") or "$ref" in prop
            assert prop.get("description")
    assert set(SCHEMA["resources"]) == {"novacron:index:VirtualMachine", "novacron:index:DwcpMode"}
    assert SCHEMA["config"]["variables"]["token"]["secret"] is True
    assert set(SCHEMA["config"]["variables"]) == {"endpoint", "token", "caCert", "peers"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_types_match_their_models_both_ways(name: str) -> None:
    model, spec = MODELS[name], SCHEMA["types"][f"novacron:index:{name}"]
    assert set(spec["properties"]) == {camel(f) for f in model.model_fields}
    assert {snake(p) for p in spec["properties"]} == set(model.model_fields)
    assert set(spec.get("required", [])) == {camel(f) for f, i in model.model_fields.items() if i.is_required()}


def test_resources_match_their_models() -> None:
    vm = SCHEMA["resources"]["novacron:index:VirtualMachine"]
    assert set(vm["inputProperties"]) == {camel(f) for f in VirtualMachineSpec.model_fields} | {"node", "migration"}
    assert set(vm["properties"]) == set(vm["inputProperties"]) | {"status"}
    assert {snake(p) for p in vm["inputProperties"]} - {"node", "migration"} == set(VirtualMachineSpec.model_fields)
    assert vm["properties"]["cloudInit"]["secret"] is True
    assert vm["inputProperties"]["name"]["willReplaceOnChanges"] is True
    assert "willReplaceOnChanges" not in vm["inputProperties"]["memoryMib"]
    assert "willReplaceOnChanges" not in vm["inputProperties"]["node"]  # a migration, not a rebuild
    mode = SCHEMA["resources"]["novacron:index:DwcpMode"]
    assert set(mode["inputProperties"]) == {camel(f) for f in ModeSettings.model_fields} | {"node"}
    assert set(mode["properties"]) == set(mode["inputProperties"]) | {"status"}


def _shape_of_schema(spec: dict[str, Any], flavor: str) -> Any:
    if "$ref" in spec:
        return tname(spec["$ref"]) + ("Args" if flavor == "input" else "")
    if spec["type"] == "array":
        return ("array", _shape_of_schema(spec["items"], flavor))
    if spec["type"] == "object":
        return ("map", _shape_of_schema(spec.get("additionalProperties", {"type": "string"}), flavor))
    return PRIM[spec["type"]]


def _shape_of_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # Input[T] = T | Awaitable | Output
        tp = typing.get_args(tp)[0]
        origin = typing.get_origin(tp)
    if origin is collections.abc.Sequence:
        return ("array", _shape_of_type(typing.get_args(tp)[0]))
    if origin is collections.abc.Mapping:
        return ("map", _shape_of_type(typing.get_args(tp)[1]))
    return tp if tp in PRIM.values() else tp.__name__


def _assert_same(props: dict[str, Any], types: dict[str, Any], flavor: str, where: str) -> None:
    assert set(types) == set(props), where
    for name, spec in props.items():
        assert _shape_of_type(types[name]) == _shape_of_schema(spec, flavor), f"{where}.{name}"


def test_sdk_resources_match_the_schema_property_by_property() -> None:
    for token, res in SCHEMA["resources"].items():
        cls_name = tname(token)
        cls, args = getattr(pulumi_novacron, cls_name), getattr(pulumi_novacron, f"{cls_name}Args")
        _assert_same(res["inputProperties"], _types.input_type_types(args), "input", f"{cls_name}Args")
        assert _types.input_type_py_to_pulumi_names(args) == {snake(p): p for p in res["inputProperties"]}
        _assert_same(res["properties"], _types.resource_types(cls), "output", cls_name)
        assert _types.resource_pulumi_to_py_names(cls) == {p: snake(p) for p in res["properties"]}
    provider = SCHEMA["provider"]["inputProperties"]
    _assert_same(provider, _types.input_type_types(pulumi_novacron.ProviderArgs), "input", "ProviderArgs")


def test_sdk_nested_types_match_the_schema() -> None:
    for token, spec in SCHEMA["types"].items():
        name = tname(token)
        if hasattr(pulumi_novacron, f"{name}Args"):
            _assert_same(spec["properties"], _types.input_type_types(getattr(pulumi_novacron, f"{name}Args")),
                         "input", f"{name}Args")
        if hasattr(sdk_outputs, name):
            _assert_same(spec["properties"], _types.output_type_types(getattr(sdk_outputs, name)), "output", name)
        assert hasattr(pulumi_novacron, f"{name}Args") or hasattr(sdk_outputs, name), name


def test_sdk_marks_secrets_and_required_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def capture(self: Any, t: str, name: str, props: Any = None, opts: Any = None, *a: Any, **kw: Any) -> None:
        seen.update(type=t, props=props, opts=opts)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", capture)
    pulumi_novacron.VirtualMachine("x", name="vm-1", memory_mib=512,
                                   cloud_init=pulumi_novacron.CloudInitSpecArgs(user_data="secret"))
    assert seen["type"] == "novacron:index:VirtualMachine"
    assert "cloudInit" in seen["opts"].additional_secret_outputs
    assert isinstance(seen["props"].__dict__["cloud_init"], pulumi.Output)  # wrapped as a secret input
    assert seen["props"].__dict__["memory_mib"] == 512
