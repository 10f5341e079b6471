"""The DWCP mode: what detection decided per peer, and operator overrides."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from novacron.api.services import AgentServices, services
from novacron_sdk.models.mode import ModeSettings, ModeStatus

router = APIRouter(prefix="/mode", tags=["mode"])


@router.get("", response_model=ModeStatus)
async def get_mode(svc: AgentServices = Depends(services)) -> ModeStatus:
    return svc.require("mode").status()


@router.put("", response_model=ModeStatus)
async def put_mode(settings: ModeSettings, svc: AgentServices = Depends(services)) -> ModeStatus:
    return svc.require("mode").update(settings)
