"""Migrations: the resource (POST with dry_run, GET, list, DELETE cancels), finding a VM in the
cluster, and the agent-to-agent endpoints of a migration's destination half (/peer/...)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from novacron.api.services import AgentServices, services
from novacron.models.migration import Migration, MigrationRequest
from novacron.models.vm import VM_NAME_PATTERN

router = APIRouter(tags=["migrations"])
VmName = Annotated[str, Path(pattern=VM_NAME_PATTERN, description="VM name")]
MigId = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$", description="Migration id")]


class VmLocation(BaseModel):
    vm: str
    node: str
    api_url: str


class _Peer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeerPrepare(_Peer):
    migration: Migration
    memory_mib: int = Field(ge=0)
    vcpus: int = Field(ge=1)
    port: int = Field(default=0, ge=0, le=65535)
    dry_run: bool = False
    record: dict[str, Any] | None = None


class PeerComplete(_Peer):
    migration: Migration
    record: dict[str, Any] | None = None


class PeerAbort(_Peer):
    phase: Literal["failed", "cancelled"] = "failed"
    error: str | None = None


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


# -- agent to agent ------------------------------------------------------------------------------
@router.get("/peer/vms/{name}", include_in_schema=False)
async def peer_vm(name: VmName, svc: AgentServices = Depends(services)) -> dict[str, Any]:
    return await _svc(svc).peer_vm(name)


@router.post("/peer/migrations/{mig_id}/prepare", include_in_schema=False)
async def peer_prepare(mig_id: MigId, body: PeerPrepare, svc: AgentServices = Depends(services)) -> dict[str, Any]:
    return await _svc(svc).peer_prepare(mig_id, body.model_dump(mode="json"))


@router.post("/peer/migrations/{mig_id}/complete", include_in_schema=False)
async def peer_complete(mig_id: MigId, body: PeerComplete, svc: AgentServices = Depends(services)) -> dict[str, Any]:
    return await _svc(svc).peer_complete(mig_id, body.model_dump(mode="json"))


@router.post("/peer/migrations/{mig_id}/abort", include_in_schema=False)
async def peer_abort(mig_id: MigId, body: PeerAbort, svc: AgentServices = Depends(services)) -> dict[str, Any]:
    return await _svc(svc).peer_abort(mig_id, body.model_dump(mode="json"))
