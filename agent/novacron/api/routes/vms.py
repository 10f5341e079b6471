"""The VM resource: declarative PUT (converge, with dry_run), GET, list, DELETE."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from novacron.api.services import AgentServices, services
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.vm import VM_NAME_PATTERN, ConvergeResult, VirtualMachine, VirtualMachineSpec

router = APIRouter(prefix="/vms", tags=["vms"])
VmName = Annotated[str, Path(pattern=VM_NAME_PATTERN, description="VM name")]


def _parse_labels(selectors: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in selectors:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{item!r} must look like key=value", field="label")
        out[key] = value
    return out


@router.get("", response_model=list[VirtualMachine])
async def list_vms(
    label: Annotated[list[str], Query(description="Filter: key=value, repeatable (all must match)")] = [],  # noqa: B006
    svc: AgentServices = Depends(services),
) -> list[VirtualMachine]:
    return await svc.require("vms").list(labels=_parse_labels(label) or None)


@router.get("/{name}", response_model=VirtualMachine)
async def get_vm(name: VmName, svc: AgentServices = Depends(services)) -> VirtualMachine:
    return await svc.require("vms").get(name)


@router.put("/{name}", response_model=ConvergeResult)
async def put_vm(
    name: VmName,
    spec: VirtualMachineSpec,
    dry_run: Annotated[bool, Query(description="Compute the answer, change nothing")] = False,
    recreate: Annotated[bool, Query(description="Allow changes that rebuild the VM")] = False,
    force_stop: Annotated[bool, Query(description="Force off if graceful shutdown times out")] = False,
    svc: AgentServices = Depends(services),
) -> ConvergeResult:
    if spec.name != name:
        raise InvalidInput(f"{spec.name!r} does not match the name in the URL ({name!r})", field="name")
    return await svc.require("vms").converge(spec, dry_run=dry_run, recreate=recreate, force_stop=force_stop)


@router.delete("/{name}", response_model=ConvergeResult)
async def delete_vm(
    name: VmName,
    keep_storage: Annotated[bool, Query(description="Keep the volumes the agent created")] = False,
    dry_run: Annotated[bool, Query()] = False,
    force_stop: Annotated[bool, Query()] = False,
    svc: AgentServices = Depends(services),
) -> ConvergeResult:
    return await svc.require("vms").delete(
        name, keep_storage=keep_storage, dry_run=dry_run, force_stop=force_stop
    )
