"""The agent-to-agent protocol of a migration (/api/v1/peer/...): one request and one answer model
per call, so both ends validate what crosses the boundary the way the API validates its input."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from novacron_sdk.models.migration import Migration
from novacron_sdk.models.vm import VM_NAME_PATTERN, VirtualMachineSpec

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
PEER_PREFIX = "/peer"


class _Peer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VmTransfer(_Peer):
    """What the destination records when it adopts the VM: its declared and applied spec."""

    spec: VirtualMachineSpec
    applied: VirtualMachineSpec | None = None
    uuid: str | None = Field(default=None, pattern=UUID_PATTERN)


class PeerPrepare(_Peer):
    migration: Migration
    memory_mib: int = Field(ge=0, le=4194304)
    vcpus: int = Field(ge=1, le=1024)
    port: int = Field(default=0, ge=0, le=65535)
    dry_run: bool = False
    record: VmTransfer | None = None


class PeerPrepared(_Peer):
    node: str
    ok: bool = True
    libvirt_uri: str | None = None
    console_log: str | None = None


class PeerComplete(_Peer):
    migration: Migration
    record: VmTransfer | None = None


class PeerCompleted(_Peer):
    node: str
    uuid: str | None = None


class PeerAbort(_Peer):
    phase: Literal["failed", "cancelled"] = "failed"
    error: str | None = Field(default=None, max_length=4096)


class PeerAborted(_Peer):
    node: str
    removed: bool


class PeerVm(_Peer):
    """Whether a node has a VM (a domain in its libvirt) and whether it owns it (its record)."""

    vm: str = Field(pattern=VM_NAME_PATTERN)
    node: str
    state: Literal["running", "paused", "stopped", "missing", "other"]
    owned: bool


def prepare_path(mig_id: str) -> str:
    return f"{PEER_PREFIX}/migrations/{mig_id}/prepare"


def complete_path(mig_id: str) -> str:
    return f"{PEER_PREFIX}/migrations/{mig_id}/complete"


def abort_path(mig_id: str) -> str:
    return f"{PEER_PREFIX}/migrations/{mig_id}/abort"


def vm_path(name: str) -> str:
    return f"{PEER_PREFIX}/vms/{name}"
