"""Storage helpers and driver plumbing: volumes, seed ISO, error wrapping, observation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from novacron.config.model import HypervisorConfig
from novacron.hypervisor import storage
from novacron.hypervisor.driver import HypervisorDriver
from novacron_sdk.errors import HypervisorError, NotFound, Unavailable
from novacron_sdk.models.vm import CloudInitSpec


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
def test_image_info_reads_qcow2_and_raw(tmp_path: Path) -> None:
    q = tmp_path / "b.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(q), "3G"], check=True)
    assert storage.image_info(str(q)) == ("qcow2", 3 << 30)
    r = tmp_path / "b.raw"
    r.write_bytes(b"\1" * 8192)
    assert storage.image_info(str(r)) == ("raw", 8192)


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="genisoimage not installed")
def test_seed_iso_is_a_cidata_volume(tmp_path: Path) -> None:
    ci = CloudInitSpec(user_data="#cloud-config\n", network_config="version: 2\n")
    iso = storage.write_seed_iso(tmp_path / "vm" / "seed.iso", "vm1", ci)
    data = iso.read_bytes()
    assert data[32769:32774] == b"CD001" and data[32808:32814] == b"cidata"
    assert b"instance-id: vm1" in data and b"version: 2" in data
    assert [p.name for p in iso.parent.iterdir()] == ["seed.iso"]  # no temporary files left


def test_missing_configured_pool_is_created_under_data_dir(driver: HypervisorDriver, tmp_path: Path) -> None:
    pool = driver.conn.storagePoolLookupByName("default")
    assert pool.isActive() and str(tmp_path / "pools" / "default") in pool.XMLDesc(0)


def define_inactive_pool(driver: HypervisorDriver, name: str, directory: Path) -> None:
    xml = f"<pool type='dir'><name>{name}</name><target><path>{directory}</path></target></pool>"
    assert not driver.conn.storagePoolDefineXML(xml, 0).isActive()


def test_an_inactive_pool_whose_own_directory_vanished_is_rebuilt(driver: HypervisorDriver, tmp_path: Path) -> None:
    # A pool left defined by an earlier agent on this data dir whose directory was wiped since.
    own = tmp_path / "pools" / "left"
    define_inactive_pool(driver, "left", own)
    pool = storage.ensure_pool(driver.conn, "left", own)
    assert pool.isActive() and own.is_dir()


def test_an_inactive_pool_whose_foreign_directory_is_missing_is_refused(
    driver: HypervisorDriver, tmp_path: Path
) -> None:
    # Elsewhere the directory may be a mount that is not up yet: never write disks onto the bare
    # mount point, say what is missing and how to go on.
    foreign = tmp_path / "mnt" / "san"
    define_inactive_pool(driver, "san", foreign)
    with pytest.raises(HypervisorError) as err:
        storage.ensure_pool(driver.conn, "san", tmp_path / "pools" / "san")
    assert f"storage pool 'san': its directory {foreign} does not exist" in str(err.value)
    assert "hypervisor.storage_pool" in str(err.value)
    assert not foreign.exists() and not driver.conn.storagePoolLookupByName("san").isActive()


def test_volumes_and_overlays(driver: HypervisorDriver, tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * (2 << 20))
    path = driver.create_volume("default", "v-os.qcow2", None, str(base))
    facts = storage.volume_facts(driver.conn, path)
    assert facts is not None and facts.backing == str(base) and facts.capacity_bytes == 2 << 20
    assert driver.volume_exists("default", "v-os.qcow2")
    assert driver.delete_volume("default", "v-os.qcow2") and not driver.delete_volume("default", "v-os.qcow2")
    with pytest.raises(NotFound):
        driver.list_volumes("nopool")


def test_libvirt_errors_say_what_we_were_doing(driver: HypervisorDriver) -> None:
    with pytest.raises(HypervisorError) as err:
        driver.define("<domain type='test'><name>broken</name></domain>")
    assert str(err.value).startswith("defining the domain: ") and err.value.status == 502
    assert driver.observe("nosuch") is None and driver.state("nosuch") == "missing"
    with pytest.raises(NotFound):
        driver.start("nosuch")


def test_unreachable_libvirt_is_unavailable(tmp_path: Path) -> None:
    d = HypervisorDriver(HypervisorConfig(uri="qemu+unix:///system?socket=/nonexistent/sock"), "n", tmp_path)
    with pytest.raises(Unavailable) as err:
        d.open()
    assert "connecting to libvirt" in str(err.value)


def test_observe_and_addresses_of_a_running_domain(driver: HypervisorDriver) -> None:
    obs = driver.observe("test")  # the test host's built-in, running, unmanaged domain
    assert obs is not None and obs.state == "running" and obs.active and not obs.config.managed
    assert obs.spec("default")["state"] == "running"
    assert isinstance(driver.ip_addresses("test"), list)
    driver.shutdown("test")
    assert driver.state("test") == "stopped" and driver.ip_addresses("test") == []
    assert driver.shutdown("test") == "already_stopped"
