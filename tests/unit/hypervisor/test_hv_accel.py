"""Accelerator choice: KVM only when it can run a stock guest kernel; PVM hosts fall back to TCG."""

from __future__ import annotations

from pathlib import Path

import pytest

from novacron.hypervisor.accel import detect_accel, domain_type


def test_test_driver_is_test() -> None:
    assert detect_accel("test:///default") == ("test", "libvirt test driver")
    assert detect_accel("test:///default", "kvm")[0] == "test"


def test_pvm_module_means_tcg(tmp_path: Path) -> None:
    dev = tmp_path / "kvm"
    dev.write_bytes(b"")  # opens read-write, like a working /dev/kvm
    pvm = tmp_path / "kvm_pvm"
    pvm.mkdir()
    accel, why = detect_accel("qemu:///system", "auto", device=dev, pvm_module=pvm)
    assert accel == "tcg" and "PVM" in why


def test_usable_device_means_kvm_and_missing_device_tcg(tmp_path: Path) -> None:
    dev = tmp_path / "kvm"
    dev.write_bytes(b"")
    assert detect_accel("qemu:///system", "auto", device=dev, pvm_module=tmp_path / "none")[0] == "kvm"
    accel, why = detect_accel(
        "qemu:///system", "auto", device=tmp_path / "nokvm", pvm_module=tmp_path / "none"
    )
    assert accel == "tcg" and "does not exist" in why


def test_operator_override_wins(tmp_path: Path) -> None:
    assert detect_accel("qemu:///system", "tcg", device=tmp_path / "x", pvm_module=tmp_path / "y")[0] == "tcg"
    pvm = tmp_path / "kvm_pvm"
    pvm.mkdir()
    assert detect_accel("qemu:///system", "kvm", pvm_module=pvm)[0] == "kvm"


@pytest.mark.skipif(not Path("/sys/module/kvm_pvm").exists(), reason="this host is not a PVM host")
def test_this_pvm_host_is_detected_as_tcg() -> None:
    assert detect_accel("qemu:///system")[0] == "tcg"


def test_domain_types() -> None:
    assert [domain_type(a) for a in ("kvm", "tcg", "test")] == ["kvm", "qemu", "test"]  # type: ignore[arg-type]
