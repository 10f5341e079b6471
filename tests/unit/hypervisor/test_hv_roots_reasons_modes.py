"""Image roots, libvirt's reasons without the document they quote, and the modes of VM files."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from novacron.config.model import AgentConfig, HypervisorConfig
from novacron.hypervisor import storage
from novacron.hypervisor.driver import HypervisorDriver
from novacron.hypervisor.reasons import REASON_MAX, brief
from novacron.vms import ops
from novacron_sdk.errors import HypervisorError
from novacron_sdk.models.vm import CloudInitSpec


def test_default_roots_are_the_pool_directory_and_data_dir_images(
    driver: HypervisorDriver, tmp_path: Path
) -> None:
    assert driver.image_roots() == [tmp_path / "pools" / "default", tmp_path / "images"]
    assert tmp_path / "jwt.key" not in driver.image_roots()


def test_the_roots_follow_an_existing_pools_own_directory(hv_cfg: HypervisorConfig, tmp_path: Path) -> None:
    # The test host's "default-pool" keeps its volumes in /default-pool, not under data_dir.
    cfg = hv_cfg.model_copy(update={"storage_pool": "default-pool"})
    d = HypervisorDriver(cfg, "n", tmp_path)
    d.open()
    try:
        assert d.image_roots() == [Path("/default-pool"), tmp_path / "images"]
    finally:
        d.close()


def test_configured_image_dirs_replace_the_defaults_with_symlinks_resolved(
    hv_cfg: HypervisorConfig, tmp_path: Path
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    cfg = hv_cfg.model_copy(update={"image_dirs": [tmp_path / "link", Path("/srv/images")]})
    d = HypervisorDriver(cfg, "n", tmp_path / "data")
    d.open()
    try:
        assert d.image_roots() == [real, Path("/srv/images")]
    finally:
        d.close()


def test_image_dirs_must_be_absolute_and_default_to_none() -> None:
    assert AgentConfig().hypervisor.image_dirs == []
    with pytest.raises(ValidationError, match="must be absolute paths: images"):
        HypervisorConfig.model_validate({"image_dirs": ["/srv/images", "images"]})


# -- libvirt's reasons ---------------------------------------------------------------------------
def test_a_rejected_definition_is_not_echoed(driver: HypervisorDriver) -> None:
    xml = (
        "<domain type='test'><name>leak</name><metadata><secret>TOPSECRET</secret></metadata>"
        "<memory>1024</memory><os><type>hvm</type><cmdline>a\x01b</cmdline></os></domain>"
    )
    with pytest.raises(HypervisorError) as err:
        driver.define(xml)
    detail = err.value.detail
    assert detail.startswith("defining the domain: ") and "invalid Char value 1" in detail
    assert "TOPSECRET" not in detail and "<domain" not in detail and "\n" not in detail
    assert len(detail) <= len("defining the domain: ") + REASON_MAX


def test_a_rejected_volume_is_not_echoed(driver: HypervisorDriver) -> None:
    with pytest.raises(HypervisorError) as err:
        driver.create_volume("default", "bad\x01name.qcow2", 1, None)
    detail = err.value.detail
    assert detail.startswith("creating volume") and "<volume" not in detail and "\n" not in detail


def test_brief_keeps_the_first_line_bounded_and_printable() -> None:
    assert brief("(domain_definition):1: Char 0xFFFE out of allowed range\n<domain>\n-----^") == (
        "(domain_definition):1: Char 0xFFFE out of allowed range"
    )
    assert brief("\n\n  second line first\nthird") == "second line first"
    assert brief("a\x00b\x1b[31mc") == "a?b?[31mc"
    long = brief("x" * 10_000)
    assert len(long) == REASON_MAX and long.endswith("...")
    assert brief("") == "no reason given" and brief(None, "none") == "none"


# -- modes ---------------------------------------------------------------------------------------
@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="genisoimage not installed")
@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_the_seed_iso_is_readable_by_its_owner_only(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        iso = storage.write_seed_iso(
            tmp_path / "vm" / "seed.iso", "vm1", CloudInitSpec(user_data="password: x\n")
        )
    assert mode(iso) == 0o600 and mode(iso.parent) == 0o700


@pytest.mark.parametrize("mask", [0o000, 0o022])
def test_a_vm_directory_is_the_agents_alone(driver: HypervisorDriver, mask: int) -> None:
    old = driver.vm_dir("old")
    old.mkdir(parents=True)
    old.chmod(0o755)  # as made before
    with umask(mask):
        ops._prepare_vm_dir(driver, "new")
        ops._prepare_vm_dir(driver, "old")
    assert mode(driver.vm_dir("new")) == 0o700 and mode(old) == 0o700


class _Caps:
    """Just the capabilities call, as a host whose QEMU runs as `label` reports it."""

    def __init__(self, label: str) -> None:
        self.xml = (
            "<capabilities><host><secmodel><model>none</model></secmodel><secmodel><model>dac</model>"
            f"<baselabel type='kvm'>{label}</baselabel><baselabel type='qemu'>{label}</baselabel>"
            "</secmodel></host></capabilities>"
        )

    def getCapabilities(self) -> str:  # noqa: N802 (libvirt's name)
        return self.xml


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may hand a directory to another user")
@pytest.mark.parametrize(("label", "owner"), [("+64055:+64055", (64055, 64055)), ("+0:+0", None),
                                              ("root:root", None), ("nobody:nogroup", (65534, 65534))])  # fmt: skip
def test_an_unprivileged_qemu_owns_the_vm_directory(
    hv_cfg: HypervisorConfig, tmp_path: Path, label: str, owner: tuple[int, int] | None
) -> None:
    d = HypervisorDriver(hv_cfg, "n", tmp_path)
    d._conn, d.accel = _Caps(label), "tcg"  # type: ignore[assignment]
    assert d.qemu_owner() == owner
    ops._prepare_vm_dir(d, "vm1")
    st = d.vm_dir("vm1").stat()
    assert (st.st_uid, st.st_gid) == (owner or (0, 0)) and stat.S_IMODE(st.st_mode) == 0o700


def test_the_test_driver_needs_no_owner(driver: HypervisorDriver) -> None:
    assert driver.qemu_owner() is None
