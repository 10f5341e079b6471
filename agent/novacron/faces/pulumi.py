"""Generate the Pulumi package schema (`schema.json`) of the native provider from the models.

`python -m novacron.faces.pulumi` rewrites
`pulumi_provider/pulumi_resource_novacron/schema.json`, the VM's change rules next to it
(`vm_rules.json`, see `change_rules.py`) and, from the schema, the Python SDK's generated
modules in `pulumi_provider/pulumi_novacron/` (`pulumi_sdk.py`); `--check` exits non-zero when
any of them is stale (a test runs it). Pulumi names are camelCase, the models' are snake_case; the provider's
`names.py` maps them at run time and a test checks both agree on every property.

What is not in the models is declared here, in one table each: the provider's own configuration
(endpoint, token, caCert, peers) and the VM's provider-side inputs (`node`, `migration`), because
they describe how the provider reaches agents rather than a resource the agent stores.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from novacron.faces import change_rules, pulumi_sdk
from novacron.faces.fields import FieldNode, node_for
from novacron_sdk.models.migration import MigrationOptions
from novacron_sdk.models.mode import ModeSettings, ModeStatus
from novacron_sdk.models.vm import VirtualMachineSpec, VirtualMachineStatus

REPO = Path(__file__).resolve().parents[3]
SCHEMA_JSON = REPO / "pulumi_provider" / "pulumi_resource_novacron" / "schema.json"
SDK_DIR = REPO / "pulumi_provider" / "pulumi_novacron"
RULES_JSON = SCHEMA_JSON.with_name("vm_rules.json")
PACKAGE = "novacron"
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}

# Properties that always travel as secrets (cloud-init user-data routinely carries keys/passwords).
SECRET = {("VirtualMachine", "cloudInit")}

def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Changes that always rebuild: the VM model's `recreate` rules, and the node of a DwcpMode.
REPLACE_ON_CHANGE = {(owner, camel(f)) for owner, f in change_rules.owner_fields("recreate")} | {("DwcpMode", "node")}


def tok(name: str) -> str:
    return f"{PACKAGE}:index:{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/types/{tok(name)}"}


def _inner(annotation: Any) -> Any:
    """The model class or datetime behind Optional[...] / list[...], else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _inner(args[0]) if len(args) == 1 else None
    if origin is list:
        return _inner(typing.get_args(annotation)[0])
    if annotation is datetime or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return annotation
    return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _describe(node: FieldNode, text: str) -> str:
    parts = [text.rstrip(".") + "." if text else f"The `{camel(node.name)}` field."]
    if node.choices is not None:
        parts.append("One of: " + ", ".join(f"`{c}`" for c in node.choices) + ".")
    if node.minimum is not None or node.maximum is not None:
        lo = "" if node.minimum is None else f"at least {_num(node.minimum)}"
        hi = "" if node.maximum is None else f"at most {_num(node.maximum)}"
        parts.append("Must be " + " and ".join(x for x in (lo, hi) if x) + ".")
    if node.pattern:
        parts.append(f"Must match `{node.pattern}`.")
    if node.default not in (None, [], {}):
        parts.append(f"Default: `{json.dumps(node.default)}`.")
    return " ".join(parts)


class _Builder:
    """Walks models into Pulumi property specs, collecting every nested model as a named type."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def prop(self, owner: str, name: str, annotation: Any, info: Any) -> dict[str, Any]:
        inner = _inner(annotation)
        if inner is datetime:
            spec: dict[str, Any] = {"type": "string", "description": (info.description or
                                    f"When the VM was {name.split('_')[0]} (RFC 3339).")}
        elif inner is not None:
            self.model(inner)
            ref = _ref(inner.__name__)
            is_list = typing.get_origin(_strip_optional(annotation)) is list
            spec = {"type": "array", "items": ref} if is_list else dict(ref)
            spec["description"] = (info.description or _first_line(inner.__doc__)).rstrip(".") + "."
        else:
            node = node_for(name, annotation, info)
            spec = self._leaf(node)
            spec["description"] = _describe(node, node.description)
        if (owner, camel(name)) in SECRET:
            spec["secret"] = True
        if (owner, camel(name)) in REPLACE_ON_CHANGE:
            spec["willReplaceOnChanges"] = True
        return spec

    def _leaf(self, node: FieldNode) -> dict[str, Any]:
        if node.kind == "map":
            return {"type": "object", "additionalProperties": {"type": "string"}}
        if node.kind == "list":
            assert node.items is not None
            return {"type": "array", "items": {"type": _TYPES[node.items.kind]}}
        return {"type": _TYPES[node.kind]}

    def properties(self, owner: str, model: type[BaseModel], exclude: frozenset[str] = frozenset()
                   ) -> tuple[dict[str, Any], list[str]]:
        hints = typing.get_type_hints(model)
        props, required = {}, []
        for name, info in model.model_fields.items():
            if name in exclude:
                continue
            props[camel(name)] = self.prop(owner, name, hints[name], info)
            if info.is_required():
                required.append(camel(name))
        return props, required

    def model(self, model: type[BaseModel]) -> None:
        name = model.__name__
        if name in self.types:
            return
        self.types[name] = {}  # reserve: recursion guard
        props, required = self.properties(name, model)
        spec: dict[str, Any] = {"type": "object", "description": _first_line(model.__doc__) or name,
                                "properties": props}
        if required:
            spec["required"] = required
        self.types[name] = spec


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


ENDPOINT_DOC = "URL of the agent's REST API, e.g. `https://node-1:8080`."
PROVIDER_CONFIG: dict[str, dict[str, Any]] = {
    "endpoint": {"type": "string", "description": ENDPOINT_DOC + " Environment: `NOVACRON_ENDPOINT`.",
                 "defaultInfo": {"environment": ["NOVACRON_ENDPOINT"]}},
    "token": {"type": "string", "secret": True,
              "description": "Bearer token (`novacron token create`). Environment: `NOVACRON_TOKEN`.",
              "defaultInfo": {"environment": ["NOVACRON_TOKEN"]}},
    "caCert": {"type": "string", "description": "PEM file that signs the agents' TLS certificates. "
               "Environment: `NOVACRON_CA_CERT`.", "defaultInfo": {"environment": ["NOVACRON_CA_CERT"]}},
    "peers": {"type": "array", "items": _ref("ProviderPeer"),
              "description": "The other agents of the cluster: where VMs may be placed (`node`), "
                             "migrated to, and looked up when they moved out of band."},
}
PROVIDER_PEER: dict[str, Any] = {
    "type": "object", "description": "Another agent of the cluster.",
    "properties": {
        "endpoint": {"type": "string", "description": ENDPOINT_DOC},
        "token": {"type": "string", "secret": True,
                  "description": "Bearer token for this agent; default: the provider's token."},
        "caCert": {"type": "string", "description": "PEM CA file for this agent; default: the provider's."},
    },
    "required": ["endpoint"],
}
NODE_DOC = ("node_id of the agent that runs the VM. Left out: the provider's `endpoint` agent at "
            "creation, and wherever the VM runs afterwards. Changing it live-migrates the VM (an update, "
            "never a replacement).")


def build() -> dict[str, Any]:
    b = _Builder()
    vm_in, _ = b.properties("VirtualMachine", VirtualMachineSpec)
    b.model(MigrationOptions)
    vm_in["node"] = {"type": "string", "description": NODE_DOC}
    vm_in["migration"] = {**_ref("MigrationOptions"),
                          "description": "How a change of `node` migrates the VM (options of the migration)."}
    vm_out = {**vm_in, "status": b.prop("VirtualMachine", "status", VirtualMachineStatus, _Info(
        "What the agent observes (read-only)."))}
    mode_in, _ = b.properties("DwcpMode", ModeSettings)
    mode_in["node"] = {"type": "string", "willReplaceOnChanges": True,
                       "description": "node_id of the agent whose data plane this sets; default: `endpoint`."}
    mode_out = {**mode_in, "status": b.prop("DwcpMode", "status", ModeStatus, _Info(
        "The data plane's effective mode, flags and peer links."))}
    b.types["ProviderPeer"] = PROVIDER_PEER
    spec_fields = [camel(n) for n in VirtualMachineSpec.model_fields]
    return {
        "name": PACKAGE,
        "displayName": "NovaCron",
        "description": "Native Pulumi provider for NovaCron agents: VMs on KVM/libvirt, live migration, DWCP mode.",
        "keywords": ["pulumi", "novacron", "kvm", "libvirt", "category/infrastructure", "kind/native"],
        "license": "Apache-2.0",
        "repository": "https://github.com/novacron/novacron",
        "publisher": "NovaCron",
        "meta": {"moduleFormat": "(.*)"},
        "language": {"python": {"packageName": "pulumi_novacron", "requires": {"pulumi": ">=3.0.0,<4.0.0"}}},
        "config": {"variables": PROVIDER_CONFIG},
        "provider": {"description": "The NovaCron provider: which agents to talk to, and how.",
                     "inputProperties": PROVIDER_CONFIG, "properties": PROVIDER_CONFIG},
        "types": {tok(name): spec for name, spec in sorted(b.types.items())},
        "resources": {
            tok("VirtualMachine"): {
                "description": _first_line(VirtualMachineSpec.__doc__) + " A VM on a NovaCron agent "
                               "(import with its name).",
                "inputProperties": vm_in, "properties": vm_out,
                "required": [*spec_fields, "node", "status"],
            },
            tok("DwcpMode"): {
                "description": "The DWCP data-plane mode of one agent (a singleton per node; import with "
                               "its node_id). Deleting it returns the node to automatic detection.",
                "inputProperties": mode_in, "properties": mode_out, "required": ["node", "status"],
            },
        },
    }


class _Info:
    """Stand-in for a pydantic FieldInfo where only a description is needed."""

    def __init__(self, description: str) -> None:
        self.description = description


def render() -> dict[Path, str]:
    """Every generated file: the schema and the SDK modules rendered from it."""
    schema = build()
    files = {SCHEMA_JSON: json.dumps(schema, indent=2, sort_keys=False) + "\n",
             RULES_JSON: change_rules.render("pulumi")}
    for name, text in pulumi_sdk.render(schema).items():
        files[SDK_DIR / name] = text
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print("stale (run python -m novacron.faces.pulumi): "
              + ", ".join(str(p.relative_to(REPO)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
