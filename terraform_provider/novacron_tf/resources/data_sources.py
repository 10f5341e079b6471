"""Data sources: novacron_vm (a VM by name, wherever it runs) and novacron_node (an agent's report)."""

from __future__ import annotations

from typing import Any

from novacron_tf.diagnostics import Diagnostic, DiagnosticsError, error
from novacron_tf.planning import shape
from novacron_tf.resources.base import Context
from novacron_tf.schema import Schema

Obj = dict[str, Any]


class VmDataSource:
    type_name = "novacron_vm"

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def validate(self, config: Obj) -> list[Diagnostic]:
        return []

    def read(self, ctx: Context, config: Obj) -> Obj:
        name = config["name"]
        found = ctx.agents.find_vm(name)
        if found is None:
            raise DiagnosticsError([error("VM not found", f"name: no VM named {name!r} on any configured agent.",
                                          ("name",))])
        idx, vm = found
        doc = vm.model_dump(mode="json")
        status = doc.pop("status") or {}
        src = {**doc, **status, "id": vm.name}
        src["node"] = status.get("node") or ctx.agents.node_id(idx)
        return shape(self.schema.block, src)


class NodeDataSource:
    type_name = "novacron_node"

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def validate(self, config: Obj) -> list[Diagnostic]:
        return []

    def read(self, ctx: Context, config: Obj) -> Obj:
        idx = ctx.agents.index_of(config.get("node_id"), path=("node_id",))
        info = ctx.agents.client(idx).node()
        return shape(self.schema.block, {**info.model_dump(mode="json"), "id": info.node_id})
