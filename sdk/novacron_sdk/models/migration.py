"""The Migration resource: moving a running VM to another node over DWCP."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from novacron_sdk.models.node import NODE_ID_PATTERN
from novacron_sdk.models.vm import VM_NAME_PATTERN

MIGRATION_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
MigrationPhase = Literal[
    "pending", "preparing", "transferring", "switchover", "completed", "failed", "cancelled"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MigrationOptions(_Strict):
    live: bool = Field(default=True, description="Live pre-copy; false suspends the VM first.")
    max_downtime_ms: int = Field(default=300, ge=1, le=60000, description="Switch-over downtime budget.")
    bandwidth_limit_mbps: int | None = Field(default=None, ge=1, le=400000, description="Cap in Mbit/s.")
    streams: int | None = Field(default=None, ge=4, le=512, description="Fixed AMST stream count.")
    compression: Literal["auto", "zstd", "lz4", "none"] = Field(
        default="auto",
        description="auto: DWCP picks per link; with multifd, auto and zstd compress in QEMU's multifd threads.",
    )
    multifd_channels: int | None = Field(
        default=None, ge=0, le=64,
        description="QEMU multifd channels; 0: off; null: DWCP decides (4 on a fast link outside the datacenter, "
        "else off), and the migration shows what it chose.",
    )
    timeout_s: float = Field(default=600.0, gt=0, le=86400, description="Give up and roll back after.")
    allow_postcopy: bool = Field(default=False, description="Switch to post-copy if pre-copy cannot converge.")


class MigrationRequest(_Strict):
    """Body of POST /api/v1/migrations."""

    vm: str = Field(pattern=VM_NAME_PATTERN, description="VM to move.")
    destination: str = Field(min_length=1, max_length=63, description="node_id of the destination.")
    options: MigrationOptions = Field(default_factory=MigrationOptions)


class MigrationProgress(_Strict):
    """Live figures: memory from libvirt's job statistics, wire figures from the DWCP tunnel."""

    bytes_total: int = 0
    bytes_sent: int = 0
    bytes_on_wire: int = 0
    compression_ratio: float = 1.0
    dirty_rate_bps: float = 0.0
    throughput_bps: float = 0.0
    streams: int = 0
    eta_s: float | None = None
    downtime_ms: float | None = None
    bytes_remaining: int = Field(default=0, description="Memory QEMU still has to send.")
    iteration: int = Field(default=0, description="Pre-copy pass over guest memory.")
    throttle_percent: int = Field(
        default=0, description="Auto-converge vCPU throttle (guest CPU taken); once finished, its peak."
    )
    elapsed_s: float = Field(default=0.0, description="Seconds since the transfer started.")


class Migration(_Strict):
    """A migration as the API returns it."""

    id: str = Field(pattern=MIGRATION_ID_PATTERN)
    vm: str = Field(pattern=VM_NAME_PATTERN)
    source: str = Field(pattern=NODE_ID_PATTERN)
    destination: str = Field(pattern=NODE_ID_PATTERN)
    options: MigrationOptions = Field(default_factory=MigrationOptions)
    phase: MigrationPhase = "pending"
    error: str | None = None
    progress: MigrationProgress = Field(default_factory=MigrationProgress)
    predicted_duration_s: float | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
