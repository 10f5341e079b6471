"""GET /health: unauthenticated, so load balancers and `novacron status` can read it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from novacron import __version__
from novacron.api.services import AgentServices, services
from novacron_sdk.models.node import Health

router = APIRouter()


def health_report(svc: AgentServices) -> Health:
    snap = svc.progress.snapshot()
    mode = None
    if svc.mode is not None:
        try:
            mode = svc.mode.status().mode
        except Exception:  # health must answer even if a service misbehaves
            mode = None
    quarantined = 0
    if svc.store is not None:
        try:
            quarantined = svc.store.count_quarantined()
        except Exception:  # health must answer even if the store does not
            quarantined = 0
    status = snap["status"]
    if quarantined and status == "healthy":
        status = "degraded"
    return Health(
        status=status,
        quarantined_records=quarantined,
        node_id=svc.config.system.node_id,
        version=__version__,
        phase=snap.get("phase"),
        phase_name=snap.get("phase_name", ""),
        current=list(snap.get("current", [])),
        components=snap.get("components", {}),
        boot_time_s=snap.get("boot_time_s"),
        mode=mode,
    )


@router.get("/health", response_model=Health, tags=["health"])
async def get_health(svc: AgentServices = Depends(services)) -> Health:
    return health_report(svc)
