"""What the service writes for a VM is the agent's alone; configured image dirs are the only roots."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store
from novacron.vms.service import VmService
from novacron_sdk.errors import InvalidInput
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="genisoimage not installed")
async def test_seed_iso_and_vm_directory_ignore_a_permissive_umask(
    svc: VmService, driver: HypervisorDriver
) -> None:
    spec = VirtualMachineSpec(name="ci1", cloud_init={"user_data": "#cloud-config\npassword: hunter2\n"})
    old = os.umask(0)
    try:
        await svc.converge(spec)
        assert mode(driver.vm_dir("ci1")) == 0o700 and mode(driver.seed_path("ci1")) == 0o600
        changed = {**spec.model_dump(), "cloud_init": {"user_data": "#cloud-config\npassword: other\n"}}
        res = await svc.converge(VirtualMachineSpec.model_validate(changed))
        assert [c.field for c in res.changes] == ["cloud_init"]
        assert mode(driver.vm_dir("ci1")) == 0o700 and mode(driver.seed_path("ci1")) == 0o600
    finally:
        os.umask(old)


async def test_configured_image_dirs_replace_the_agents_own(
    cfg: AgentConfig, store: Store, tmp_path: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "base.raw").write_bytes(b"\0" * 4096)
    own = tmp_path / "images"
    own.mkdir()
    (own / "base.raw").write_bytes(b"\0" * 4096)
    cfg.hypervisor.image_dirs = [library]
    driver = HypervisorDriver(cfg.hypervisor, cfg.system.node_id, cfg.system.data_dir)
    driver.open()
    svc = VmService(driver, store, cfg)
    try:
        refused = VirtualMachineSpec(name="img1", disks=[{"name": "os", "base_image": str(own / "base.raw")}])
        with pytest.raises(InvalidInput) as err:
            await svc.converge(refused)
        assert err.value.field == "disks.0.base_image" and str(library) in err.value.detail
        assert [d.name() for d in driver.conn.listAllDomains(0)] == ["test"]
        accepted = VirtualMachineSpec(
            name="img1", disks=[{"name": "os", "base_image": str(library / "base.raw")}]
        )
        assert (await svc.converge(accepted)).changed
    finally:
        svc.close()
        driver.close()
