"""A real guest on qemu:///system through VmService: boot, live memory change, graceful stop, delete.

The guest is the test-bed's tiny one (Debian cloud kernel + busybox initramfs, built locally; it
prints READY and HEARTBEAT lines on its serial console and powers off on the ACPI power button).
libvirt's view is read through a separate connection at every step, so the test does not trust
the service's own answers. On a PVM host /dev/kvm cannot run this kernel: the agent must pick TCG.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
import pytest_asyncio

from novacron.config.model import AgentConfig
from novacron.hypervisor.accel import detect_accel
from novacron.hypervisor.driver import HypervisorDriver
from novacron.hypervisor.parse import parse_domain_xml
from novacron.store import open_store
from novacron.vms.service import VmService
from novacron_sdk.errors import StateTimeout
from novacron_sdk.models.vm import VirtualMachineSpec
from tests.tooling.guest import GuestImage, SerialLog, build_guest, guest_image_dirs, kernel_cmdline
from tests.tooling.libvirtd import ensure_system_libvirtd, libvirt_skip_reason

pytestmark = [pytest.mark.integration, pytest.mark.root, pytest.mark.slow, pytest.mark.asyncio]

if reason := libvirt_skip_reason():
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def guest() -> GuestImage:
    return build_guest()


@pytest.fixture(scope="module")
def uri() -> str:
    return ensure_system_libvirtd()


@pytest.fixture
def lv(uri: str) -> Iterator[libvirt.virConnect]:
    """An independent connection: libvirt's own view, not the service's."""
    conn = libvirt.open(uri)
    yield conn
    conn.close()


@pytest_asyncio.fixture
async def svc(uri: str) -> AsyncIterator[VmService]:
    # QEMU runs as libvirt-qemu here: the data dir must be reachable (pytest's tmp_path is 0700).
    data = Path(tempfile.mkdtemp(prefix="novacron-it-", dir="/var/tmp"))
    os.chmod(data, 0o755)
    pool = f"nvtest-{uuid.uuid4().hex[:8]}"  # never touch (or leave behind) a real "default" pool
    cfg = AgentConfig.model_validate(
        {
            "system": {"node_id": "it-node", "data_dir": str(data)},
            "hypervisor": {"uri": uri, "storage_pool": pool, "max_vcpus": 2, "max_memory_mib": 1024,
                           "shutdown_timeout_s": 60, "image_dirs": [*guest_image_dirs(), str(data / "images")]},
        }
    )  # fmt: skip
    driver = HypervisorDriver(cfg.hypervisor, cfg.system.node_id, data)
    driver.open()
    store = open_store("sqlite://:memory:")
    service = VmService(driver, store, cfg)
    yield service
    # Best effort, each step on its own: a failed test must not leave a guest, pool or file behind.
    with contextlib.suppress(Exception):
        for name in driver.list_names():
            obs = driver.observe(name)
            if obs is not None and obs.config.managed and obs.config.node == "it-node":
                with contextlib.suppress(Exception):
                    driver.undefine(name)  # destroys it first
    with contextlib.suppress(Exception):
        p = driver.conn.storagePoolLookupByName(pool)
        for v in p.listAllVolumes(0):
            v.delete(0)
        p.destroy()
        p.undefine()
    service.close()
    store.close()
    driver.close()
    shutil.rmtree(data, ignore_errors=True)


def spec(guest: GuestImage, name: str, **kw: Any) -> VirtualMachineSpec:
    doc: dict[str, Any] = {
        "name": name,
        "vcpus": 1,
        "memory_mib": 256,
        "disks": [{"name": "root", "size_gib": 1}],
        "cloud_init": {"user_data": "#cloud-config\n"},
        "boot": {"kernel": str(guest.kernel), "initrd": str(guest.initrd), "cmdline": kernel_cmdline(16, 1)},
    }
    doc.update(kw)
    return VirtualMachineSpec.model_validate(doc)


def state(lv: libvirt.virConnect, name: str) -> list[int]:
    return lv.lookupByName(name).state()


async def test_real_guest_lifecycle(svc: VmService, lv: libvirt.virConnect, guest: GuestImage) -> None:
    driver = svc.driver
    base = driver.data_dir / "images" / "base.raw"  # an overlay's base image, never written to
    base.parent.mkdir()
    with open(base, "wb") as f:
        f.truncate(64 << 20)
    os.chmod(base, 0o644)
    disks: list[dict[str, Any]] = [{"name": "root", "size_gib": 1}, {"name": "os", "base_image": str(base)}]
    want = spec(guest, "it-life", disks=disks)

    # 1. create: defined, running, booted (READY and heartbeats on the serial console)
    res = await svc.converge(want)
    assert res.changed and res.action == "create"
    dom = lv.lookupByName("it-life")
    assert state(lv, "it-life")[0] == libvirt.VIR_DOMAIN_RUNNING
    root = dom.XMLDesc(0)
    expected_type = {"kvm": "kvm", "tcg": "qemu"}[detect_accel(lv)[0]]
    assert f"<domain type='{expected_type}'" in root and "<acpi/>" in root
    if Path("/sys/module/kvm_pvm").exists():
        assert expected_type == "qemu" and driver.accel == "tcg"  # PVM /dev/kvm: fall back to TCG
    uuid_ = dom.UUIDString()
    assert res.vm is not None and res.vm.status.uuid == uuid_ and res.vm.status.accel == driver.accel
    log = SerialLog(driver.console_log_path("it-life") or "")
    log.wait_for(r"^READY", timeout=120)
    beat = log.wait_for_heartbeat_after(-1, timeout=30)
    pool = lv.storagePoolLookupByName(driver.cfg.storage_pool)
    assert sorted(v.name() for v in pool.listAllVolumes(0)) == ["it-life-os.qcow2", "it-life-root.qcow2"]
    assert f"<path>{base}</path>" in pool.storageVolLookupByName("it-life-os.qcow2").XMLDesc(0)
    assert not (await svc.converge(want)).changed  # a re-run after success changes nothing
    # the seed ISO (user-data) and the VM's directory are no one else's, yet QEMU reached them
    vm_dir, seed = driver.vm_dir("it-life"), driver.seed_path("it-life")
    assert stat.S_IMODE(vm_dir.stat().st_mode) == 0o700 and stat.S_IMODE(seed.stat().st_mode) == 0o600
    owner = driver.qemu_owner()
    assert vm_dir.stat().st_uid == (owner[0] if owner else os.geteuid())

    # 2. memory 256 -> 384 MiB, within the balloon ceiling: live if the guest's balloon takes it
    res = await svc.converge(spec(guest, "it-life", memory_mib=384, disks=disks))
    (change,) = res.changes
    assert (change.field, change.before, change.after) == ("memory_mib", 256, 384)
    assert (
        state(lv, "it-life")[0] == libvirt.VIR_DOMAIN_RUNNING and dom.UUIDString() == uuid_
    )  # never destroyed
    config = parse_domain_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert config.memory_mib == 384
    if change.apply == "live_and_config":
        assert parse_domain_xml(dom.XMLDesc(0)).memory_mib == 384 and dom.info()[2] == 384 * 1024
    else:  # the guest did not answer the balloon: the answer must say so
        assert change.apply == "next_boot" and res.warnings
    log.wait_for_heartbeat_after(beat.counter, timeout=30)  # the guest runs on
    assert not log.kernel_errors() and not log.corruption()

    # 3. grow a disk while the guest runs (blockResize), 1 -> 2 GiB
    disks[0]["size_gib"] = 2
    res = await svc.converge(spec(guest, "it-life", memory_mib=384, disks=disks))
    assert [(c.field, c.apply) for c in res.changes] == [("disks.0.size_gib", "live")]
    assert pool.storageVolLookupByName("it-life-root.qcow2").info()[1] == 2 << 30
    assert state(lv, "it-life")[0] == libvirt.VIR_DOMAIN_RUNNING and dom.UUIDString() == uuid_
    assert not (await svc.converge(spec(guest, "it-life", memory_mib=384, disks=disks))).changed

    # 4. graceful stop: ACPI power button, the guest powers itself off (not destroyed)
    res = await svc.converge(spec(guest, "it-life", memory_mib=384, disks=disks, state="stopped"))
    assert [c.field for c in res.changes] == ["state"]
    assert state(lv, "it-life") == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN]
    assert "SHUTDOWN reason=power-button" in log.text()

    # 5. delete: domain, volumes and seed ISO gone (the base image stays)
    seed = driver.seed_path("it-life")
    assert seed.exists()
    res = await svc.delete("it-life")
    assert res.changed and res.action == "delete"
    with pytest.raises(libvirt.libvirtError):
        lv.lookupByName("it-life")
    assert lv.storagePoolLookupByName(driver.cfg.storage_pool).listAllVolumes(0) == []
    assert not seed.exists() and base.exists()


async def test_guest_ignoring_acpi_needs_force_stop(
    svc: VmService, lv: libvirt.virConnect, guest: GuestImage
) -> None:
    """Without its input driver the guest runs no acpid and ignores the power button: the graceful
    stop times out with an error saying so, nothing is forced until force_stop=true."""
    svc.driver.cfg.shutdown_timeout_s = 5
    cmdline = kernel_cmdline(16, 1, extra=["module_blacklist=evdev"])
    boot = {"kernel": str(guest.kernel), "initrd": str(guest.initrd), "cmdline": cmdline}
    await svc.converge(spec(guest, "it-deaf", boot=boot, disks=[], cloud_init=None))
    log = SerialLog(svc.driver.console_log_path("it-deaf") or "")
    log.wait_for(r"^READY", timeout=120)
    assert "ACPI power button unavailable" in log.text()
    stop = spec(guest, "it-deaf", boot=boot, disks=[], cloud_init=None, state="stopped")
    with pytest.raises(StateTimeout) as err:
        await svc.converge(stop)
    msg = str(err.value)
    assert "graceful shutdown of 'it-deaf' did not finish within 5s" in msg
    assert "'running'" in msg and "force_stop=true" in msg
    assert state(lv, "it-deaf")[0] == libvirt.VIR_DOMAIN_RUNNING  # nothing forced without asking
    res = await svc.converge(stop, force_stop=True)
    assert res.changed
    assert state(lv, "it-deaf") == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED]
    await svc.delete("it-deaf")
    with pytest.raises(libvirt.libvirtError):
        lv.lookupByName("it-deaf")
