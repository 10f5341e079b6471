"""Pydantic models: the one contract every face (REST, CLI, Ansible, Pulumi, Terraform) shares."""

from novacron.models.config import AgentConfig
from novacron.models.migration import Migration, MigrationOptions, MigrationRequest
from novacron.models.mode import ModeSettings, ModeStatus
from novacron.models.vm import (
    BootSpec,
    CloudInitSpec,
    ConvergeResult,
    DiskSpec,
    NetworkSpec,
    VirtualMachine,
    VirtualMachineSpec,
    VirtualMachineStatus,
)

__all__ = [
    "AgentConfig",
    "BootSpec",
    "CloudInitSpec",
    "ConvergeResult",
    "DiskSpec",
    "Migration",
    "MigrationOptions",
    "MigrationRequest",
    "ModeSettings",
    "ModeStatus",
    "NetworkSpec",
    "VirtualMachine",
    "VirtualMachineSpec",
    "VirtualMachineStatus",
]
