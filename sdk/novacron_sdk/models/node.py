"""What a node reports about itself: health during and after boot, capacity and identity."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HealthStatus = Literal["starting", "healthy", "degraded", "unhealthy"]
NODE_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$"
"""A node id: what certificates, configs, migrations and the faces all name a node by."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeRef(_Strict):
    """A reference to a node by its id (the faces validate a `node` argument with it)."""

    node_id: str = Field(pattern=NODE_ID_PATTERN, description="Unique name of a node in the cluster.")


class ComponentHealth(_Strict):
    state: str
    phase: int
    attempts: int = 0
    duration_s: float | None = None
    error: str | None = None


class Health(_Strict):
    """Answer of GET /health (unauthenticated: carries no secret and no VM data)."""

    status: HealthStatus
    node_id: str
    version: str
    phase: int | None = None
    phase_name: str = ""
    current: list[str] = Field(default_factory=list)
    components: dict[str, ComponentHealth] = Field(default_factory=dict)
    boot_time_s: float | None = None
    mode: str | None = None
    quarantined_records: int = Field(
        default=0, description="Stored records that failed their checks and were set aside (status degraded)."
    )


class Capacity(_Strict):
    cpus: int
    memory_mib: int
    vms: int
    vcpus_allocated: int
    memory_allocated_mib: int


class NodeInfo(_Strict):
    """Answer of GET /api/v1/node."""

    node_id: str
    version: str
    status: HealthStatus
    hypervisor_uri: str
    accel: str
    mode: str | None = None
    capacity: Capacity
