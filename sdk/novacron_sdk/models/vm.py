"""The VirtualMachine resource: the one contract that REST, Ansible, Pulumi and Terraform share.

`VirtualMachineSpec` is what a user declares (every field writable); `VirtualMachine` adds what
the agent observes (read-only). Faces derive their schemas from these classes or are checked
against them by tests, so a field added here shows up everywhere or fails a test. How a change of
each field applies (live, at next boot, by a rebuild...) is written on the field itself
(`json_schema_extra=rule(...)`, vocabulary in `change_rules.py`), and every face plans with it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from novacron_sdk.models.change_rules import rule
from novacron_sdk.models.text import LINE_RULE, TEXT_RULE, Line

VM_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$"
MAC_PATTERN = r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$"
LABEL_KEY_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9_./-]{0,61}[a-zA-Z0-9])?$"
# libvirt pool and network names: no '/', and nothing a shell, a path or an XML attribute must quote.
POOL_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.:+-]{0,63}$"
NETWORK_NAME_PATTERN = POOL_NAME_PATTERN
# A Linux interface name: at most 15 bytes, no '/', ':' or space, never "." or "..".
BRIDGE_NAME_PATTERN = r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,14}$"
PATH_MAX = 4096
LABEL_VALUE_MAX = 256

HostPath = Annotated[str, StringConstraints(min_length=1, max_length=PATH_MAX), LINE_RULE]
LabelValue = Annotated[str, StringConstraints(max_length=LABEL_VALUE_MAX), LINE_RULE]
CloudInitDocument = Annotated[str, StringConstraints(max_length=65536), TEXT_RULE]

VmState = Literal["running", "stopped", "paused"]
ActualState = Literal["running", "stopped", "paused", "shutting_down", "crashed", "missing", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DiskSpec(_Strict):
    """One disk: a fresh volume of `size_gib`, or a copy-on-write overlay of `base_image`."""

    name: Line = Field(
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$", description="Disk name, unique within the VM."
    )
    size_gib: int | None = Field(
        default=None, ge=1, le=65536, description="Size of a new volume.",
        json_schema_extra=rule("live", when="grows:can_resize_disks", otherwise="recreate", agent_filled=True),
    )  # fmt: skip
    base_image: HostPath | None = Field(
        default=None,
        description="Absolute path of an image to overlay copy-on-write, inside the agent's "
        "hypervisor.image_dirs.",
        json_schema_extra=rule("recreate"),
    )
    pool: Line = Field(
        default="default", pattern=POOL_NAME_PATTERN, description="Storage pool.", json_schema_extra=rule("recreate")
    )
    bus: Literal["virtio", "sata", "scsi", "ide"] = Field(
        default="virtio", description="Disk bus.", json_schema_extra=rule("recreate")
    )

    @model_validator(mode="after")
    def _size_or_image(self) -> DiskSpec:
        if self.size_gib is None and self.base_image is None:
            raise ValueError("one of size_gib or base_image is required")
        return self


class NetworkSpec(_Strict):
    """One NIC on a libvirt network or a host bridge."""

    network: Line | None = Field(
        default=None, pattern=NETWORK_NAME_PATTERN, description="libvirt network name."
    )
    bridge: Line | None = Field(default=None, pattern=BRIDGE_NAME_PATTERN, description="Host bridge.")
    mac: Line | None = Field(
        default=None, pattern=MAC_PATTERN, description="Fixed MAC address.", json_schema_extra=rule(agent_filled=True)
    )
    model: Literal["virtio", "e1000", "rtl8139"] = Field(default="virtio", description="NIC model.")

    @model_validator(mode="after")
    def _one_source(self) -> NetworkSpec:
        if (self.network is None) == (self.bridge is None):
            raise ValueError("exactly one of network or bridge is required")
        return self

    @field_validator("mac")
    @classmethod
    def _lower_mac(cls, v: str | None) -> str | None:
        return v.lower() if v else v


class CloudInitSpec(_Strict):
    """NoCloud seed: becomes an ISO labelled `cidata` attached to the VM."""

    user_data: CloudInitDocument | None = Field(default=None, description="cloud-init user-data.")
    meta_data: CloudInitDocument | None = Field(default=None, description="cloud-init meta-data.")
    network_config: CloudInitDocument | None = Field(
        default=None, description="cloud-init network-config (v1 or v2)."
    )


class BootSpec(_Strict):
    """Direct kernel boot (`-kernel/-initrd/-append`), for appliances and test guests."""

    kernel: HostPath = Field(
        description="Absolute path of the kernel on the node, inside the agent's hypervisor.image_dirs."
    )
    initrd: HostPath | None = Field(
        default=None, description="Absolute path of the initramfs, inside the agent's hypervisor.image_dirs."
    )
    cmdline: Line = Field(default="", max_length=4096, description="Kernel command line.")


class VirtualMachineSpec(_Strict):
    """What the user declares. Every field here is writable from every face."""

    name: Line = Field(
        pattern=VM_NAME_PATTERN, description="VM name, unique per cluster.", json_schema_extra=rule("recreate")
    )
    vcpus: int = Field(
        default=1, ge=1, le=1024, description="Virtual CPUs.",
        json_schema_extra=rule("live_and_config", when="running_within:max_vcpus", otherwise="next_boot"),
    )  # fmt: skip
    memory_mib: int = Field(
        default=512, ge=16, le=4194304, description="Memory in MiB.",
        json_schema_extra=rule("live_and_config", when="running_within:memory_ceiling_mib", otherwise="next_boot"),
    )  # fmt: skip
    disks: list[DiskSpec] = Field(
        default_factory=list, max_length=26, description="Disks.",
        json_schema_extra=rule(key="name", add="next_boot", remove="recreate"),
    )  # fmt: skip
    networks: list[NetworkSpec] = Field(
        default_factory=list, max_length=16, description="NICs.", json_schema_extra=rule("next_boot")
    )
    cloud_init: CloudInitSpec | None = Field(
        default=None, description="NoCloud seed data.", json_schema_extra=rule("next_boot")
    )
    boot: BootSpec | None = Field(default=None, description="Direct kernel boot.", json_schema_extra=rule("next_boot"))
    state: VmState = Field(default="running", description="Desired power state.", json_schema_extra=rule("live"))
    autostart: bool = Field(default=False, description="Start with the host.", json_schema_extra=rule("live"))
    labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="Free-form string labels (one line each).", json_schema_extra=rule("live")
    )

    @field_validator("disks")
    @classmethod
    def _unique_disks(cls, v: list[DiskSpec]) -> list[DiskSpec]:
        names = [d.name for d in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"disk names must be unique, repeated: {', '.join(sorted(dup))}")
        return v

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys(cls, v: Any) -> Any:
        """Keys first, so a value's error path (`labels.<key>`) only ever names a valid key."""
        if isinstance(v, dict):
            for key in v:
                if isinstance(key, str) and not re.fullmatch(LABEL_KEY_PATTERN, key):
                    raise ValueError(f"label key {key[:64]!r} must match {LABEL_KEY_PATTERN}")
        return v


class VirtualMachineStatus(_Strict):
    """What the agent observes. Read-only on every face."""

    uuid: str | None = Field(default=None, description="libvirt domain UUID.")
    node: str | None = Field(
        default=None, description="Node that owns the VM now.", json_schema_extra=rule("migrate")
    )
    actual_state: ActualState = Field(default="unknown", description="State libvirt reports.")
    ip_addresses: list[str] = Field(default_factory=list, description="Guest addresses where known.")
    accel: Literal["kvm", "tcg", "test", "unknown"] = Field(default="unknown")
    pending_changes: list[str] = Field(
        default_factory=list, description="Fields applied to the config that take effect at next boot."
    )
    drift: list[str] = Field(default_factory=list, description="Fields where libvirt differs from the spec.")
    created_at: datetime | None = None
    updated_at: datetime | None = None


class VirtualMachine(VirtualMachineSpec):
    """A VM as the API returns it: the spec plus its observed status."""

    status: VirtualMachineStatus = Field(default_factory=VirtualMachineStatus)


class FieldChange(_Strict):
    """One difference between the current and desired VM, and how it is applied."""

    field: str
    before: object | None = None
    after: object | None = None
    apply: Literal["live", "next_boot", "live_and_config", "recreate", "create", "delete"] = "live"


class ConvergeResult(_Strict):
    """Answer to PUT /vms/{name} and DELETE: what changed (or would, under dry_run)."""

    changed: bool
    dry_run: bool = False
    action: Literal["create", "update", "delete", "none"] = "none"
    changes: list[FieldChange] = Field(default_factory=list)
    diff: dict[str, dict[str, object]] = Field(
        default_factory=lambda: {"before": {}, "after": {}}, description="before/after of changed fields"
    )
    vm: VirtualMachine | None = None
    warnings: list[str] = Field(default_factory=list)
