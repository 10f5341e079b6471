"""GET /api/v1/node: identity, health, mode and capacity (what `node_info` and the providers read)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends

from novacron import __version__
from novacron.api.routes.health import health_report
from novacron.api.services import AgentServices, services
from novacron_sdk.models.node import Capacity, NodeInfo

router = APIRouter(tags=["node"])


def _host_memory_mib() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        return 0


@router.get("/node", response_model=NodeInfo)
async def get_node(svc: AgentServices = Depends(services)) -> NodeInfo:
    health = health_report(svc)
    vms = await svc.vms.list() if svc.vms is not None else []
    accel = getattr(svc.hypervisor, "accel", "unknown") if svc.hypervisor is not None else "unknown"
    return NodeInfo(
        node_id=svc.config.system.node_id,
        version=__version__,
        status=health.status,
        hypervisor_uri=svc.config.hypervisor.uri,
        accel=str(accel),
        mode=health.mode,
        capacity=Capacity(
            cpus=os.cpu_count() or 1,
            memory_mib=_host_memory_mib(),
            vms=len(vms),
            vcpus_allocated=sum(vm.vcpus for vm in vms),
            memory_allocated_mib=sum(vm.memory_mib for vm in vms),
        ),
    )
