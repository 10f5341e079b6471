"""Pick the accelerator a guest really runs with: KVM, TCG, or the test driver.

`/dev/kvm` existing is not enough: under a PVM host (`kvm_pvm` loaded) the device opens but only
runs PVM-aware guest kernels, so a stock kernel would hang. Detection therefore checks that the
device opens read-write AND that it is not PVM, and falls back to TCG otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

Accel = Literal["kvm", "tcg", "test"]
Requested = Literal["auto", "kvm", "tcg"]

KVM_DEVICE = Path("/dev/kvm")
PVM_MODULE = Path("/sys/module/kvm_pvm")


def is_test_uri(uri: str) -> bool:
    return uri.startswith("test:")


def kvm_usable(device: Path = KVM_DEVICE, pvm_module: Path = PVM_MODULE) -> tuple[bool, str]:
    """(usable, why): KVM only counts when it can run an unmodified guest kernel."""
    if pvm_module.exists():
        return False, f"{pvm_module} exists: /dev/kvm is a PVM device that cannot run stock guest kernels"
    if not device.exists():
        return False, f"{device} does not exist"
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, f"cannot open {device} read-write: {e.strerror}"
    os.close(fd)
    return True, f"{device} opens read-write and is not PVM"


def detect_accel(
    conn: Any,
    requested: Requested = "auto",
    *,
    device: Path = KVM_DEVICE,
    pvm_module: Path = PVM_MODULE,
) -> tuple[Accel, str]:
    """(accel, reason) for a libvirt connection (or its URI).

    An explicit "kvm"/"tcg" is an operator override and is honoured as is.
    """
    uri = conn if isinstance(conn, str) else conn.getURI()
    if is_test_uri(uri):
        return "test", "libvirt test driver"
    if requested in ("kvm", "tcg"):
        return requested, f"hypervisor.accel={requested} (override)"
    ok, why = kvm_usable(device, pvm_module)
    return ("kvm", why) if ok else ("tcg", why)


def domain_type(accel: Accel) -> str:
    """The `<domain type=...>` value for an accelerator."""
    return {"kvm": "kvm", "tcg": "qemu", "test": "test"}[accel]
