"""The Terraform schemas are derived from the agent's pydantic models, and stay in step with them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Literal

from pydantic import BaseModel, Field

from novacron.faces import terraform as face
from novacron.faces.fields import model_fields
from novacron_sdk.models.mode import ModeSettings
from novacron_sdk.models.node import NodeInfo
from novacron_sdk.models.vm import VirtualMachine, VirtualMachineSpec, VirtualMachineStatus
from novacron_tf.protos import stubs
from novacron_tf.provider import Provider
from novacron_tf.schema import Block, load

SCALAR = {str: "string", int: "number", float: "number", bool: "bool"}


def test_generated_schema_file_is_current() -> None:
    proc = subprocess.run([sys.executable, "-m", "novacron.faces.terraform", "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def _attr_or_block(block: Block, name: str) -> Any:
    return block.attr_index.get(name) or block.block_index.get(name)


def test_every_spec_field_is_in_novacron_vm_with_the_models_rules() -> None:
    block = load().resources["novacron_vm"].block
    for name, info in VirtualMachineSpec.model_fields.items():
        item = _attr_or_block(block, name)
        assert item is not None, f"{name} missing from novacron_vm"
        if name in block.attr_index:
            assert item.required == info.is_required()
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
                assert item.optional and item.computed and item.default == default, name
        else:
            assert item.nesting == ("list" if name in ("disks", "networks") else "single")
    assert block.attr_index["memory_mib"].type == "number"
    assert block.attr_index["labels"].type == ["map", "string"]
    disk = block.block_index["disks"].block
    assert disk.attr_index["name"].required and disk.attr_index["pool"].default == "default"
    assert disk.attr_index["size_gib"].optional and disk.attr_index["size_gib"].computed  # agent-filled


def test_status_is_computed_except_node_which_migrates() -> None:
    block = load().resources["novacron_vm"].block
    for name in VirtualMachineStatus.model_fields:
        attr = block.attr_index[name]
        assert attr.computed and not attr.required
        assert attr.optional == (name == "node"), name
    assert "migrat" in block.attr_index["node"].description


def test_data_sources_and_mode_cover_their_models() -> None:
    schemas = load()
    vm = schemas.data_sources["novacron_vm"].block
    assert set(VirtualMachine.model_fields) - {"status"} | set(VirtualMachineStatus.model_fields) <= set(vm.attr_index)
    assert vm.attr_index["name"].required and all(a.computed for a in vm.attributes if a.name != "name")
    assert vm.attr_index["disks"].type[0] == "list" and vm.attr_index["disks"].type[1][0] == "object"
    node = schemas.data_sources["novacron_node"].block
    assert set(NodeInfo.model_fields) <= set(node.attr_index)
    mode = schemas.resources["novacron_dwcp_mode"].block
    for name in ModeSettings.model_fields:
        assert mode.attr_index[name].optional and mode.attr_index[name].computed  # left out: keep current
    provider = schemas.provider.block
    assert provider.attr_index["token"].sensitive and not provider.attr_index["endpoint"].sensitive


class Part(BaseModel):
    label: str
    weight: float = 1.0


class Thing(BaseModel):
    name: str = Field(pattern="^[a-z]+$", description="Name.")
    size: int = Field(default=3, ge=1, le=9)
    color: Literal["red", "blue"] = "red"
    parts: list[Part] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


def test_a_new_model_field_derives_without_provider_changes() -> None:
    block = face.block(model_fields(Thing), mode="input")
    attrs = {a["name"]: a for a in block["attributes"]}
    assert attrs["size"]["type"] == "number" and attrs["size"]["default"] == 3
    assert "at least 1 and at most 9" in attrs["size"]["description"]
    assert "`red`, `blue`" in attrs["color"]["description"]
    assert attrs["tags"]["type"] == ["list", "string"]
    (parts,) = block["block_types"]
    assert parts["type_name"] == "parts" and parts["nesting"] == "list"
    assert {a["name"]: a["required"] for a in parts["block"]["attributes"]} == {"label": True, "weight": False}


def test_get_provider_schema_speaks_tfplugin6() -> None:
    pb = stubs().pb
    resp = Provider(env={}).GetProviderSchema(pb.GetProviderSchema.Request(), None)
    assert set(resp.resource_schemas) == {"novacron_vm", "novacron_dwcp_mode"}
    assert set(resp.data_source_schemas) == {"novacron_vm", "novacron_node"}
    vm = resp.resource_schemas["novacron_vm"].block
    types = {a.name: json.loads(a.type) for a in vm.attributes}
    assert types["memory_mib"] == "number" and types["ip_addresses"] == ["list", "string"]
    nested = {b.type_name: b for b in vm.block_types}
    assert nested["disks"].nesting == pb.Schema.NestedBlock.LIST
    assert nested["boot"].nesting == pb.Schema.NestedBlock.SINGLE
    assert next(a for a in resp.provider.block.attributes if a.name == "token").sensitive
    assert not resp.diagnostics
