"""Pydantic models: the one contract every face (REST, CLI, Ansible, Pulumi, Terraform) shares."""

from novacron_sdk.models.migration import Migration, MigrationOptions, MigrationRequest
from novacron_sdk.models.mode import ModeSettings, ModeStatus
from novacron_sdk.models.vm import (
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
