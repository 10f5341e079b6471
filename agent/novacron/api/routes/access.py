"""Admin routes: client tokens (mint, revoke, list revoked), the audit log, the store's quarantine."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from novacron.api.services import AgentServices, services
from novacron.auth.issuing import describe
from novacron_sdk.errors import NotFound
from novacron_sdk.models.access import (
    TOKEN_ID_PATTERN,
    AuditRecord,
    IssuedToken,
    QuarantinedRecord,
    RevokedToken,
    TokenRequest,
)

router = APIRouter(tags=["access"])
TokenId = Annotated[str, Path(pattern=TOKEN_ID_PATTERN, description="A token's id (its jti)")]


def _who(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.who if principal is not None else "unknown"


@router.post("/tokens", response_model=IssuedToken, status_code=201)
async def create_token(body: TokenRequest, svc: AgentServices = Depends(services)) -> IssuedToken:
    token, claims = svc.require("tokens").mint(body.subject, body.scopes, body.ttl_s)
    return IssuedToken(token=token, **describe(claims))


@router.delete("/tokens/{token_id}", response_model=RevokedToken)
async def revoke_token(
    token_id: TokenId,
    request: Request,
    reason: Annotated[str, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = "",
    svc: AgentServices = Depends(services),
) -> RevokedToken:
    tokens = svc.require("tokens")
    await svc.run(tokens.revoke, token_id, reason=reason, by=_who(request))
    found = [r for r in await svc.run(svc.require("store").list_revoked) if r.token_id == token_id]
    return RevokedToken.model_validate(found[0], from_attributes=True)


@router.get("/tokens/revoked", response_model=list[RevokedToken])
async def list_revoked(svc: AgentServices = Depends(services)) -> list[RevokedToken]:
    rows = await svc.run(svc.require("store").list_revoked)
    return [RevokedToken.model_validate(r, from_attributes=True) for r in rows]


@router.get("/audit", response_model=list[AuditRecord])
async def list_audit(
    limit: Annotated[int, Query(ge=1, le=10000)] = 100, svc: AgentServices = Depends(services)
) -> list[AuditRecord]:
    rows = await svc.run(svc.require("store").list_audit, limit=limit)
    return [AuditRecord.model_validate(r, from_attributes=True) for r in rows]


@router.get("/store/quarantine", response_model=list[QuarantinedRecord])
async def list_quarantine(svc: AgentServices = Depends(services)) -> list[QuarantinedRecord]:
    rows = await svc.run(svc.require("store").list_quarantined)
    return [QuarantinedRecord.model_validate(r, from_attributes=True) for r in rows]


@router.delete("/store/quarantine/{item_id}", status_code=204)
async def drop_quarantined(
    item_id: Annotated[int, Path(ge=1, le=2**62)], svc: AgentServices = Depends(services)
) -> None:
    if not await svc.run(svc.require("store").drop_quarantined, item_id):
        raise NotFound(f"no quarantined record {item_id}", field="id")
