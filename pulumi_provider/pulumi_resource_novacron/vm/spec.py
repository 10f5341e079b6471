"""VM inputs in their three shapes: the user's (Pulumi), the agent's spec, and the outputs.

Two inputs are the provider's own and never reach the agent's PUT body: `node` (where the VM
runs; a change is a live migration) and `migration` (the options of that migration).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import grpc
from pydantic import BaseModel

from novacron_sdk.models.migration import MigrationOptions
from novacron_sdk.models.node import NodeRef
from novacron_sdk.models.vm import VirtualMachine, VirtualMachineSpec
from pulumi_resource_novacron.errors import ProviderError
from pulumi_resource_novacron.names import camel
from pulumi_resource_novacron.schema import VM, Shapes
from pulumi_resource_novacron.validation import failures
from pulumi_resource_novacron.values import (
    UNKNOWN_VALUE,
    Unknown,
    has_unknown,
    mark_secret,
    reveal,
    secret_keys,
)

IN = Shapes.inputs(VM)
OUT = Shapes.outputs(VM)
SPEC_KEYS = tuple(camel(n) for n in VirtualMachineSpec.model_fields)
PROVIDER_KEYS = ("node", "migration")


def split(inputs: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """(spec part in Pulumi shape, node, migration) of plain inputs."""
    spec = {k: v for k, v in inputs.items() if k not in PROVIDER_KEYS}
    return spec, inputs.get("node"), inputs.get("migration")


def problems(inputs: dict[str, Any]) -> dict[str, str]:
    """Every input problem by property path (inputs plain, possibly with unknowns)."""
    spec, node, migration = split(reveal(inputs))
    out = failures(VirtualMachineSpec, IN.to_agent(spec), IN)
    if node is not None and not isinstance(node, Unknown):
        for path, why in failures(NodeRef, {"node_id": node}, IN).items():
            out[path.replace("nodeId", "node")] = why
    if migration is not None and not isinstance(migration, Unknown):
        if isinstance(migration, dict):
            out.update(failures(MigrationOptions, IN.to_agent({"migration": migration})["migration"],
                                IN, ("migration",)))
        else:
            out["migration"] = "must be an object of migration options"
    return out


def spec_of(inputs: dict[str, Any]) -> VirtualMachineSpec:
    """The validated agent spec of known inputs (a Check that passed makes this succeed)."""
    if has_unknown(inputs):
        raise ProviderError(grpc.StatusCode.INVALID_ARGUMENT,
                            "some inputs are not known yet; only a preview may carry unknown values")
    found = problems(inputs)
    if found:
        raise ProviderError(grpc.StatusCode.INVALID_ARGUMENT,
                            "invalid inputs: " + "; ".join(f"{p}: {r}" for p, r in found.items()), found)
    spec, _, _ = split(reveal(inputs))
    return VirtualMachineSpec.model_validate(IN.to_agent(spec))


def migration_options(inputs: dict[str, Any]) -> MigrationOptions:
    raw = reveal(inputs).get("migration")
    return MigrationOptions.model_validate(IN.to_agent({"migration": raw})["migration"] if raw else {})


def desired(inputs: dict[str, Any]) -> dict[str, Any]:
    """The spec the user asks for in agent shape, defaults filled; unknowns stay where they are."""
    spec, _, _ = split(reveal(inputs))
    data = IN.to_agent(spec)
    if not has_unknown(data):
        try:
            return VirtualMachineSpec.model_validate(data).model_dump(mode="json")
        except ValueError:
            pass  # Check reports it; diff what we have
    return _with_defaults(data)


def _with_defaults(data: Any, model: type[BaseModel] = VirtualMachineSpec) -> Any:
    """Fill the model's defaults into `data`, nested models too, leaving unknowns alone."""
    if not isinstance(data, dict):
        return data
    hints = typing.get_type_hints(model)
    out = dict(data)
    for name, info in model.model_fields.items():
        if name not in out:
            if not info.is_required():
                out[name] = info.get_default(call_default_factory=True)
            continue
        inner, is_list = _model_of(hints[name])
        if inner is not None and is_list and isinstance(out[name], list):
            out[name] = [_with_defaults(x, inner) for x in out[name]]
        elif inner is not None and not is_list:
            out[name] = _with_defaults(out[name], inner)
    return out


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(nested model, is it a list of them) behind Optional[...] / list[...]."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _model_of(args[0])
    if typing.get_origin(annotation) is list:
        inner, _ = _model_of(typing.get_args(annotation)[0])
        return inner, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def outputs(vm: VirtualMachine, node: str, inputs: dict[str, Any],
            also_secret: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Output properties: the spec the agent holds, where it runs, and what it observes.

    A property the user marked secret (or the schema does) comes back secret.
    """
    data = vm.model_dump(mode="json")
    status = data.pop("status")
    out = OUT.to_pulumi(data)
    out["node"] = node
    out["status"] = OUT.to_pulumi({"status": status})["status"]
    migration = inputs.get("migration")
    if migration is not None:
        out["migration"] = reveal(migration)
    return mark_secret(out, secret_keys(inputs) | OUT.secret_names() | set(also_secret))


def import_inputs(vm: VirtualMachine) -> dict[str, Any]:
    """Inputs that reproduce an existing VM (for `pulumi import`): only what differs from defaults."""
    spec = VirtualMachineSpec.model_validate(vm.model_dump(exclude={"status"}))
    data = IN.to_pulumi(spec.model_dump(mode="json", exclude_defaults=True))
    data["name"] = spec.name
    return mark_secret(data, OUT.secret_names())


def predicted(inputs: dict[str, Any], node: Any) -> dict[str, Any]:
    """Outputs as preview shows them: the declared spec with defaults; what the agent observes is
    not known until it runs."""
    out = OUT.to_pulumi(desired(inputs))
    out["node"] = node if node else UNKNOWN_VALUE
    out["status"] = UNKNOWN_VALUE
    migration = reveal(inputs).get("migration")
    if migration is not None:
        out["migration"] = migration
    return mark_secret(out, secret_keys(inputs) | OUT.secret_names())
