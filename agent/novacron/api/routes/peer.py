"""The peer API: the destination half of a migration and VM lookups, for other nodes only.

The middleware lets only node credentials in here (auth/scopes.py); each handler passes the
calling node's id, as its certificate proves it, to the service, which checks it against the
migration it names. Not in the public OpenAPI document: no client can call these.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from novacron.api.services import AgentServices, services
from novacron_sdk.errors import Forbidden
from novacron_sdk.models.migration import MIGRATION_ID_PATTERN
from novacron_sdk.models.peer import (
    PeerAbort,
    PeerAborted,
    PeerComplete,
    PeerCompleted,
    PeerPrepare,
    PeerPrepared,
    PeerVm,
)
from novacron_sdk.models.vm import VM_NAME_PATTERN

router = APIRouter(prefix="/peer", include_in_schema=False)
VmName = Annotated[str, Path(pattern=VM_NAME_PATTERN)]
MigId = Annotated[str, Path(pattern=MIGRATION_ID_PATTERN)]


def caller(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.kind != "node" or not principal.node:
        raise Forbidden("the peer API takes node credentials only", field="Authorization")
    return str(principal.node)


@router.get("/vms/{name}", response_model=PeerVm)
async def peer_vm(name: VmName, svc: AgentServices = Depends(services), node: str = Depends(caller)) -> PeerVm:
    return await svc.require("migrations").peer_vm(name)


@router.post("/migrations/{mig_id}/prepare", response_model=PeerPrepared)
async def peer_prepare(
    mig_id: MigId, body: PeerPrepare, svc: AgentServices = Depends(services), node: str = Depends(caller)
) -> PeerPrepared:
    return await svc.require("migrations").incoming.prepare(mig_id, body, caller=node)


@router.post("/migrations/{mig_id}/complete", response_model=PeerCompleted)
async def peer_complete(
    mig_id: MigId, body: PeerComplete, svc: AgentServices = Depends(services), node: str = Depends(caller)
) -> PeerCompleted:
    return await svc.require("migrations").incoming.complete(mig_id, body, caller=node)


@router.post("/migrations/{mig_id}/abort", response_model=PeerAborted)
async def peer_abort(
    mig_id: MigId, body: PeerAbort, svc: AgentServices = Depends(services), node: str = Depends(caller)
) -> PeerAborted:
    return await svc.require("migrations").incoming.abort(mig_id, body, caller=node)
