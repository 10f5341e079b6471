"""Migrations: the resource (POST with dry_run, GET, list, DELETE cancels) and finding a VM in the
cluster. The destination half's agent-to-agent endpoints are in peer.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from novacron.api.services import AgentServices, services
from novacron_sdk.models.migration import MIGRATION_ID_PATTERN, Migration, MigrationRequest
from novacron_sdk.models.vm import VM_NAME_PATTERN

router = APIRouter(tags=["migrations"])
VmName = Annotated[str, Path(pattern=VM_NAME_PATTERN, description="VM name")]
MigId = Annotated[str, Path(pattern=MIGRATION_ID_PATTERN, description="Migration id")]


class VmLocation(BaseModel):
    vm: str
    node: str
    api_url: str


def _svc(svc: AgentServices) -> Any:
    return svc.require("migrations")


@router.post("/migrations", response_model=Migration, status_code=202)
async def create_migration(
    request: MigrationRequest,
    dry_run: Annotated[bool, Query(description="Validate and predict; move nothing")] = False,
    svc: AgentServices = Depends(services),
) -> Migration:
    return await _svc(svc).create(request, dry_run=dry_run)


@router.get("/migrations", response_model=list[Migration])
async def list_migrations(
    vm: Annotated[str | None, Query(pattern=VM_NAME_PATTERN, description="Only this VM's")] = None,
    svc: AgentServices = Depends(services),
) -> list[Migration]:
    return await _svc(svc).list(vm)


@router.get("/migrations/{mig_id}", response_model=Migration)
async def get_migration(mig_id: MigId, svc: AgentServices = Depends(services)) -> Migration:
    return await _svc(svc).get(mig_id)


@router.delete("/migrations/{mig_id}", response_model=Migration)
async def cancel_migration(mig_id: MigId, svc: AgentServices = Depends(services)) -> Migration:
    return await _svc(svc).cancel(mig_id)


@router.get("/cluster/vms/{name}", response_model=VmLocation)
async def locate_vm(name: VmName, request: Request, svc: AgentServices = Depends(services)) -> VmLocation:
    own = str(request.base_url).rstrip("/")
    return VmLocation(**await _svc(svc).locate(name, own))
