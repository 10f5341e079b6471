"""Checks run before anything is touched, so a bad request leaves no trace.

Every failure is an `InvalidInput` (422) naming the dotted field (`disks.0.base_image`) and why;
a clash with something that already exists is a `Conflict` (409).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from novacron.hypervisor import storage
from novacron.hypervisor.driver import HypervisorDriver, Observation
from novacron_sdk.errors import Conflict, InvalidInput
from novacron_sdk.models.vm import VM_NAME_PATTERN, VirtualMachineSpec


def spec_from_dict(doc: Any) -> VirtualMachineSpec:
    """Parse a request body; pydantic's errors become one InvalidInput naming the first field."""
    try:
        return VirtualMachineSpec.model_validate(doc)
    except ValidationError as e:
        errors = e.errors()
        first = errors[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        reason = (
            "unknown field"
            if first["type"] == "extra_forbidden"
            else first["msg"].removeprefix("Value error, ")
        )
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"{reason}{more}", field=field) from e


def check_name(name: str) -> None:
    """libvirt refuses '/' and names longer than our pattern allows; the pattern covers both."""
    if not isinstance(name, str) or not re.fullmatch(VM_NAME_PATTERN, name):
        raise InvalidInput(
            f"{name!r} is not a valid VM name: 1-63 letters, digits, '_', '.', '-', starting with a "
            "letter or digit (libvirt and QEMU reject the rest)",
            field="name",
        )


def check_image_path(path: str, roots: list[Path], field: str) -> None:
    """`path` must name a readable regular file inside one of `roots`, symlinks followed.

    Confinement comes first and its refusal reads the same whatever is at `path`, so a caller
    learns nothing about files outside the roots (not even whether one exists). Only a path
    that resolves inside a root is looked at. Paths must be normalised: with `..` after a
    missing directory, the kernel and a lexical resolution would disagree.
    """
    shown = ", ".join(str(r) for r in roots) or "none configured"
    real = os.path.realpath(path) if os.path.isabs(path) and os.path.normpath(path) == path else None
    if real is None or not any(Path(real).is_relative_to(root) and Path(real) != root for root in roots):
        raise InvalidInput(
            f"must be a normalised absolute path to a file inside hypervisor.image_dirs ({shown})",
            field=field,
        )
    try:
        st = os.stat(path)
        same = os.path.realpath(path, strict=True) == real
    except OSError:
        st, same = None, False
    if st is None or not same or not stat.S_ISREG(st.st_mode) or not os.access(real, os.R_OK):
        raise InvalidInput(f"{path!r} does not exist or is not a readable file", field=field)


def validate_spec(
    driver: HypervisorDriver,
    spec: VirtualMachineSpec,
    current: Observation | None,
    *,
    recreating: bool = False,
) -> None:
    """Everything `spec` names must exist and fit the configured limits (blocking: libvirt calls).

    Disks the VM already has are not re-checked (their base image is in use) unless `recreating`;
    volumes the VM itself owns never count as a clash.
    """
    cfg = driver.cfg
    check_name(spec.name)
    wants_images = spec.boot is not None or any(d.base_image is not None for d in spec.disks)
    roots = driver.image_roots() if wants_images else []
    if spec.vcpus > cfg.max_vcpus:
        raise InvalidInput(f"{spec.vcpus} exceeds hypervisor.max_vcpus ({cfg.max_vcpus})", field="vcpus")
    if spec.memory_mib > cfg.max_memory_mib:
        raise InvalidInput(
            f"{spec.memory_mib} MiB exceeds hypervisor.max_memory_mib ({cfg.max_memory_mib})",
            field="memory_mib",
        )
    existing: set[str] = set()
    own: set[str] = set()
    if current is not None:
        observed = current.spec(cfg.storage_pool)["disks"]
        existing = set() if recreating else {d["name"] for d in observed}
        own = {m.volume for m in current.config.meta_disks if m.created}
    for i, disk in enumerate(spec.disks):
        pool = driver.resolve_pool(disk.pool)
        if not driver.pool_exists(pool):
            raise InvalidInput(f"storage pool {pool!r} does not exist", field=f"disks.{i}.pool")
        if disk.name in existing:
            continue  # already there; changes to it are judged by the diff
        if disk.base_image is not None:
            check_image_path(disk.base_image, roots, f"disks.{i}.base_image")
            _, virtual = storage.image_info(disk.base_image)
            if disk.size_gib is not None and disk.size_gib * storage.GIB < virtual:
                raise InvalidInput(
                    f"{disk.size_gib} GiB is smaller than the base image ({virtual} bytes)",
                    field=f"disks.{i}.size_gib",
                )
        volume = storage.volume_name(spec.name, disk.name)
        if volume not in own and driver.volume_exists(pool, volume):
            raise Conflict(
                f"volume {volume!r} already exists in pool {pool!r} and is not this VM's",
                field=f"disks.{i}.name",
            )
    for i, nic in enumerate(spec.networks):
        if nic.network is not None and not driver.network_exists(nic.network):
            raise InvalidInput(
                f"libvirt network {nic.network!r} does not exist", field=f"networks.{i}.network"
            )
        if nic.bridge is not None and not driver.bridge_exists(nic.bridge):
            raise InvalidInput(f"host bridge {nic.bridge!r} does not exist", field=f"networks.{i}.bridge")
    macs = [n.mac for n in spec.networks if n.mac]
    if len(macs) != len(set(macs)):
        raise InvalidInput("the same MAC address is used twice", field="networks")
    if spec.boot is not None:
        check_image_path(spec.boot.kernel, roots, "boot.kernel")
        if spec.boot.initrd is not None:
            check_image_path(spec.boot.initrd, roots, "boot.initrd")
