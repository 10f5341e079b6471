"""Derive the Terraform provider's schemas from the models (tfplugin6 `Schema` shape, as JSON).

`python -m novacron.faces.terraform` rewrites `terraform_provider/novacron_tf/schemas.json` and
the VM's change rules next to it (`vm_rules.json`, see `change_rules.py`); `--check` exits
non-zero when either is stale (tests/terraform checks it). The provider turns that
file into `Schema` protobuf messages and plans defaults from it, so a field added to a model
shows up in Terraform (or fails a test) without editing the provider.

Mapping rules, per FieldNode:
  str/int/float/bool -> string/number/bool attributes; dict -> map(string); list of scalars ->
  list(T) attribute; writable objects -> nested blocks (SINGLE), writable lists of objects ->
  nested blocks (LIST); read-only objects and lists -> object/list(object) attributes.
  required -> required; a model default -> optional+computed, and the provider plans the default
  when the argument is left out (recorded as "default"); no default -> optional, or
  optional+computed where the agent fills the value in (AGENT_FILLED).
  The VM's observed status is flattened into computed attributes; `node` stays settable, and
  changing it migrates the VM in place (the same choice as the Pulumi provider).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from novacron.faces import change_rules
from novacron.faces.fields import FieldNode, _unwrap_optional, model_fields, node_for
from novacron_sdk.models.mode import ModeSettings, ModeStatus
from novacron_sdk.models.node import NodeInfo
from novacron_sdk.models.vm import VirtualMachineSpec, VirtualMachineStatus

REPO = Path(__file__).resolve().parents[3]
SCHEMAS_JSON = REPO / "terraform_provider" / "novacron_tf" / "schemas.json"
RULES_JSON = SCHEMAS_JSON.with_name("vm_rules.json")
_SCALARS = {"str": "string", "int": "number", "float": "number", "bool": "bool"}
# Left out, the agent picks these (libvirt generates a MAC; an overlay keeps its image's size).
AGENT_FILLED = change_rules.agent_filled()
SETTABLE_STATUS = change_rules.with_change("migrate")  # status fields a user may set: `node` migrates


def cty_type(node: FieldNode) -> Any:
    if node.kind in _SCALARS:
        return _SCALARS[node.kind]
    if node.kind == "map":
        return ["map", "string"]
    if node.kind == "list":
        assert node.items is not None
        return ["list", cty_type(node.items)]
    return ["object", {f.name: cty_type(f) for f in node.fields}]


def describe(node: FieldNode, *, default: bool) -> str:
    text = [node.description.rstrip(".") + "." if node.description else f"The `{node.name}` field."]
    if node.choices is not None:
        text.append("One of: " + ", ".join(f"`{c}`" for c in node.choices) + ".")
    bounds = [f"at least {_num(node.minimum)}" if node.minimum is not None else "",
              f"at most {_num(node.maximum)}" if node.maximum is not None else ""]
    if any(bounds):
        text.append("Must be " + " and ".join(b for b in bounds if b) + ".")
    if node.pattern:
        text.append(f"Must match `{node.pattern}`.")
    if default and not node.required and node.default is not None:
        text.append(f"Default: `{json.dumps(node.default)}`.")
    return " ".join(text)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def attribute(node: FieldNode, *, mode: str, path: str = "", description: str | None = None) -> dict[str, Any]:
    """mode: "input" (writable, defaults planned), "keep" (writable, left out keeps current),
    "computed" (read-only) or "settable" (optional+computed, no default)."""
    attr: dict[str, Any] = {"name": node.name, "type": cty_type(node),
                            "description": description or describe(node, default=mode == "input")}
    flags = {"required": False, "optional": False, "computed": False, "sensitive": False}
    if mode == "computed":
        flags["computed"] = True
    elif mode in ("keep", "settable"):
        flags.update(optional=True, computed=True)
    elif node.required:
        flags["required"] = True
    elif node.default not in (None,):
        flags.update(optional=True, computed=True)
        attr["default"] = node.default
    else:
        flags.update(optional=True, computed=f"{path}{node.name}" in AGENT_FILLED)
    attr.update(flags)
    return attr


def block(nodes: list[FieldNode], *, mode: str, description: str = "", path: str = "") -> dict[str, Any]:
    """A schema block: writable objects become nested blocks, everything else attributes."""
    attrs: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    for node in nodes:
        sub = node.items if node.kind == "list" and node.items is not None else node
        if mode == "input" and sub.kind == "object":
            nesting = "list" if node.kind == "list" else "single"
            inner = block(sub.fields, mode="input", description=node.description, path=f"{path}{node.name}.")
            blocks.append({"type_name": node.name, "nesting": nesting, "min_items": 0, "max_items": 0,
                           "block": inner})
        else:
            attrs.append(attribute(node, mode=mode, path=path))
    return {"description": description, "attributes": attrs, "block_types": blocks}


def status_nodes(model: type[BaseModel], exclude: frozenset[str] = frozenset()) -> list[FieldNode]:
    """Like `model_fields`, with datetimes as RFC 3339 strings (read-only fields only)."""
    hints = typing.get_type_hints(model)
    out = []
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        inner, _ = _unwrap_optional(hints[name])
        if inner is datetime:
            out.append(FieldNode(name, "str", description=info.description or f"When ({name}), RFC 3339.",
                                 nullable=True))
        else:
            out.append(node_for(name, hints[name], info))
    return out


def _computed(name: str, kind: str, description: str) -> dict[str, Any]:
    return attribute(FieldNode(name, kind, description=description), mode="computed")  # type: ignore[arg-type]


def vm_resource() -> dict[str, Any]:
    body = block(model_fields(VirtualMachineSpec), mode="input",
                 description="A NovaCron VM. Memory and vCPU changes apply in place; changing `node` "
                             "live-migrates it; destroy shuts the guest down gracefully.")
    for node in status_nodes(VirtualMachineStatus):
        settable = node.name in SETTABLE_STATUS
        desc = describe(node, default=False)
        if settable:
            desc += " Set it to place the VM on that node; changing it live-migrates the VM (no rebuild)."
        body["attributes"].append(attribute(node, mode="settable" if settable else "computed", description=desc))
    body["attributes"] += [
        _computed("id", "str", "The VM's name (its identity; also the import ID)."),
        attribute(FieldNode("force_stop", "bool", default=False,
                            description="On destroy or power-off, force the VM off if the graceful "
                                        "ACPI shutdown does not finish within the agent's timeout"),
                  mode="input"),
        attribute(FieldNode("keep_storage", "bool", default=False,
                            description="On destroy, keep the volumes the agent created"), mode="input"),
    ]
    return {"version": 0, "block": body}


def vm_data_source() -> dict[str, Any]:
    nodes = [n for n in model_fields(VirtualMachineSpec) if n.name != "name"] + status_nodes(VirtualMachineStatus)
    body = block(nodes, mode="computed", description="Look up a VM by name on whichever node runs it.")
    name = next(n for n in model_fields(VirtualMachineSpec) if n.name == "name")
    body["attributes"].insert(0, attribute(name, mode="input"))
    body["attributes"].append(_computed("id", "str", "The VM's name."))
    return {"version": 0, "block": body}


def node_data_source() -> dict[str, Any]:
    nodes = status_nodes(NodeInfo)
    body = block([n for n in nodes if n.name != "node_id"], mode="computed",
                 description="What a node's agent reports: identity, health, hypervisor and capacity.")
    node_id = next(n for n in nodes if n.name == "node_id")
    body["attributes"].insert(0, attribute(node_id, mode="settable", description=(
        "Node to ask; left out, the provider's `endpoint`. Other nodes need a `peer` block.")))
    body["attributes"].append(_computed("id", "str", "The node's id."))
    return {"version": 0, "block": body}


def dwcp_mode_resource() -> dict[str, Any]:
    body = block(model_fields(ModeSettings), mode="keep",
                 description="The DWCP data plane's mode and v3 feature flags on one node. Arguments left "
                             "out keep the agent's current value; destroy returns the mode to `auto`.")
    for node in status_nodes(ModeStatus, exclude=frozenset({"peers"})):
        if node.name == "mode":
            node = FieldNode("effective_mode", node.kind, description="Mode in effect now (detected or pinned).",
                             choices=node.choices)
        if node.name in ModeSettings.model_fields:
            continue
        body["attributes"].append(attribute(node, mode="computed"))
    body["attributes"] += [
        attribute(FieldNode("node", "str", description="Node to configure; left out, the provider's "
                                                       "`endpoint`. Changing it replaces the resource"),
                  mode="settable"),
        _computed("id", "str", "The node's id."),
    ]
    return {"version": 0, "block": body}


def provider_schema() -> dict[str, Any]:
    def opt(name: str, desc: str, sensitive: bool = False) -> dict[str, Any]:
        return {"name": name, "type": "string", "description": desc, "required": False, "optional": True,
                "computed": False, "sensitive": sensitive}

    peer = {"description": "Another node's agent, for VMs that run or move there.",
            "attributes": [
                opt("node_id", "The node's id; left out, the provider asks the agent."),
                {**opt("endpoint", "The node's agent URL."), "required": True, "optional": False},
                opt("token", "Bearer token for this agent; left out, the provider's `token`.", sensitive=True),
                opt("ca_cert", "PEM CA bundle (path or content); left out, the provider's `ca_cert`."),
            ], "block_types": []}
    body = {"description": "NovaCron agent connection.",
            "attributes": [
                opt("endpoint", "Agent URL, e.g. `https://node-1:8080`. Env: `NOVACRON_ENDPOINT`."),
                opt("token", "Bearer token (`novacron token create`). Env: `NOVACRON_TOKEN`.", sensitive=True),
                opt("ca_cert", "PEM CA bundle for an HTTPS agent: a file path or the PEM text. "
                               "Env: `NOVACRON_CA_CERT`."),
            ],
            "block_types": [{"type_name": "peer", "nesting": "list", "min_items": 0, "max_items": 0,
                             "block": peer}]}
    return {"version": 0, "block": body}


def build() -> dict[str, Any]:
    return {
        "provider": provider_schema(),
        "resources": {"novacron_vm": vm_resource(), "novacron_dwcp_mode": dwcp_mode_resource()},
        "data_sources": {"novacron_vm": vm_data_source(), "novacron_node": node_data_source()},
    }


def render() -> str:
    doc = {"_generated": "by `python -m novacron.faces.terraform` from agent/novacron/models; do not edit",
           **build()}
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in ((SCHEMAS_JSON, render()), (RULES_JSON, change_rules.render("terraform"))):
        if path.exists() and path.read_text() == text:
            continue
        stale.append(str(path.relative_to(REPO)))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"stale: {', '.join(stale)} (run python -m novacron.faces.terraform)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
