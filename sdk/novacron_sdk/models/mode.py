"""The DWCP mode resource: what the data plane believes about its links, and operator overrides."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ModeName = Literal["datacenter", "internet", "hybrid"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModeSettings(_Strict):
    """Body of PUT /api/v1/mode. Fields left out keep their current value."""

    mode: Literal["auto", "datacenter", "internet", "hybrid"] | None = Field(
        default=None, description="auto returns to detection; a mode name pins it."
    )
    enable_v3_transport: bool | None = None
    enable_v3_compression: bool | None = None
    enable_v3_prediction: bool | None = None
    v3_rollout_percentage: int | None = Field(default=None, ge=0, le=100)


class PeerLink(_Strict):
    node_id: str
    mode: ModeName
    rtt_ms: float | None = None
    rtt_var_ms: float | None = None
    bandwidth_mbps: float | None = None
    loss_ratio: float | None = None
    predicted_mbps: float | None = None


class ModeStatus(_Strict):
    """Answer of GET /api/v1/mode."""

    mode: ModeName
    forced: bool
    auto_detection: bool
    enable_v3_transport: bool
    enable_v3_compression: bool
    enable_v3_prediction: bool
    v3_rollout_percentage: int
    in_rollout: bool
    peers: list[PeerLink] = Field(default_factory=list)
    last_switch_ms: float | None = Field(default=None, description="Decision-to-effect time of the last switch.")
