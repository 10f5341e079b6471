"""Power state: every transition waits for libvirt; stopping is ACPI first, force only if asked."""

from __future__ import annotations

import libvirt
import pytest

from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store
from novacron.vms.service import VmService
from novacron_sdk.errors import StateTimeout
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio


def spec(state: str) -> VirtualMachineSpec:
    return VirtualMachineSpec(name="p1", memory_mib=256, state=state)  # type: ignore[arg-type]


def lv_state(driver: HypervisorDriver) -> tuple[int, int]:
    s = driver.conn.lookupByName("p1").state()
    return s[0], s[1]


async def test_running_paused_running_stopped(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(spec("running"))
    assert lv_state(driver)[0] == libvirt.VIR_DOMAIN_RUNNING
    res = await svc.converge(spec("paused"))
    assert [(c.field, c.before, c.after) for c in res.changes] == [("state", "running", "paused")]
    assert lv_state(driver)[0] == libvirt.VIR_DOMAIN_PAUSED and res.vm.status.actual_state == "paused"  # type: ignore[union-attr]
    res = await svc.converge(spec("running"))
    assert lv_state(driver)[0] == libvirt.VIR_DOMAIN_RUNNING and res.vm.status.actual_state == "running"  # type: ignore[union-attr]
    res = await svc.converge(spec("stopped"))
    assert lv_state(driver) == (
        libvirt.VIR_DOMAIN_SHUTOFF,
        libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN,
    )  # graceful, not destroyed
    assert res.vm.status.actual_state == "stopped" and res.vm.state == "stopped"  # type: ignore[union-attr]
    assert not (await svc.converge(spec("stopped"))).changed


async def test_create_stopped_then_paused_from_stopped(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(spec("stopped"))
    assert lv_state(driver)[0] == libvirt.VIR_DOMAIN_SHUTOFF
    await svc.converge(spec("paused"))
    assert lv_state(driver)[0] == libvirt.VIR_DOMAIN_PAUSED
    await svc.converge(spec("stopped"))  # a paused guest is resumed so it can see the power button
    assert lv_state(driver) == (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN)


class DeafGuestDriver(HypervisorDriver):
    """A guest that ignores the ACPI power button (no acpid), as many minimal guests do."""

    def _press_power_button(self, dom: libvirt.virDomain) -> None:
        return None


async def test_stop_times_out_without_force_and_forces_when_asked(cfg: AgentConfig, store: Store) -> None:
    cfg.hypervisor.shutdown_timeout_s = 0.3
    drv = DeafGuestDriver(cfg.hypervisor, "node-a", cfg.system.data_dir)
    drv.open()
    svc = VmService(drv, store, cfg)
    try:
        await svc.converge(spec("running"))
        with pytest.raises(StateTimeout) as err:
            await svc.converge(spec("stopped"))
        msg = str(err.value)
        assert "graceful shutdown of 'p1'" in msg and "'running'" in msg and "force_stop=true" in msg
        assert err.value.field == "state"
        assert drv.conn.lookupByName("p1").state()[0] == libvirt.VIR_DOMAIN_RUNNING  # not forced
        res = await svc.converge(spec("stopped"), force_stop=True)
        assert res.changed
        assert drv.conn.lookupByName("p1").state() == [
            libvirt.VIR_DOMAIN_SHUTOFF,
            libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED,
        ]
        assert [e.kind for e in store.list_events(subject="p1")][:2] == ["vm.updated", "vm.error"]
    finally:
        svc.close()
        drv.close()


async def test_wait_for_state_says_where_it_got_stuck(driver: HypervisorDriver, svc: VmService) -> None:
    await svc.converge(spec("running"))
    with pytest.raises(StateTimeout) as err:
        driver.wait_for_state("p1", {"paused"}, 0.05, "pausing 'p1'")
    assert "pausing 'p1' did not finish within 0.05s" in str(err.value)
    assert "still reports 'p1' as 'running'" in str(err.value)
