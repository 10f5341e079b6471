"""Start-up reconciliation records drift instead of hiding it, and never rewrites the spec."""

from __future__ import annotations

import libvirt
import pytest

from novacron.config.model import AgentConfig
from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store, open_store
from novacron.vms.service import VmService
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio

SPEC = VirtualMachineSpec.model_validate(
    {
        "name": "rc1",
        "memory_mib": 512,
        "vcpus": 2,
        "disks": [{"name": "root", "size_gib": 1}],
        "labels": {"a": "b"},
    }
)


async def test_out_of_band_change_is_recorded_as_drift(
    svc: VmService, driver: HypervisorDriver, store: Store, cfg: AgentConfig
) -> None:
    await svc.converge(SPEC)
    rec_before = store.get_vm("rc1")
    dom = driver.conn.lookupByName("rc1")  # an operator with virsh, behind the agent's back
    dom.setMemoryFlags(768 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    dom.setVcpusFlags(3, libvirt.VIR_DOMAIN_AFFECT_CONFIG)

    restarted = VmService(driver, store, cfg)  # the agent starting up again
    try:
        findings = await restarted.reconcile()
        (f,) = [f for f in findings if f["vm"] == "rc1"]
        assert f["kind"] == "changed" and f["fields"] == ["vcpus", "memory_mib"]
        assert f["expected"] == {"vcpus": 2, "memory_mib": 512} and f["observed"] == {
            "vcpus": 3,
            "memory_mib": 768,
        }
        events = store.list_events(subject="rc1", kind="drift")
        assert len(events) == 1 and events[0].detail["fields"] == ["vcpus", "memory_mib"]
        rec = store.get_vm("rc1")
        assert rec is not None and rec_before is not None
        assert rec.spec == rec_before.spec and rec.applied == rec_before.applied  # not silently rewritten
        assert rec.meta["drift"] == ["vcpus", "memory_mib"]
        vm = await restarted.get("rc1")
        assert vm.status.drift == ["vcpus", "memory_mib"] and vm.memory_mib == 768  # shows libvirt's truth
        assert driver.conn.lookupByName("rc1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).count("786432") >= 1
        # converging the stored spec again repairs it and clears the drift
        res = await restarted.converge(SPEC)
        assert {c.field for c in res.changes} == {"vcpus", "memory_mib"}
        assert (await restarted.get("rc1")).status.drift == []
        assert store.get_vm("rc1").meta["drift"] == []  # type: ignore[union-attr]
    finally:
        restarted.close()


async def test_vanished_domain_is_marked_missing(
    svc: VmService, driver: HypervisorDriver, store: Store
) -> None:
    await svc.converge(SPEC)
    dom = driver.conn.lookupByName("rc1")
    dom.destroy()
    dom.undefine()
    findings = await svc.reconcile()
    assert {"vm": "rc1", "kind": "missing"}.items() <= findings[0].items()
    rec = store.get_vm("rc1")
    assert rec is not None and rec.meta["missing"] is True and rec.spec == SPEC.model_dump(mode="json")
    vm = await svc.get("rc1")
    assert vm.status.actual_state == "missing" and vm.memory_mib == 512
    assert store.list_events(subject="rc1", kind="drift")[0].detail["kind"] == "missing"


async def test_stopped_out_of_band_is_state_drift(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(SPEC)
    driver.conn.lookupByName("rc1").destroy()
    (f,) = [f for f in await svc.reconcile() if f["vm"] == "rc1"]
    assert f["fields"] == ["state"] and f["observed"] == {"state": "stopped"}


async def test_our_domain_unknown_to_the_store_is_adopted(
    svc: VmService, driver: HypervisorDriver, cfg: AgentConfig
) -> None:
    await svc.converge(SPEC)
    fresh = open_store("sqlite://:memory:")  # the store was lost; libvirt still has the VM
    other = VmService(driver, fresh, cfg)
    try:
        findings = await other.reconcile()
        kinds = {f["vm"]: f["kind"] for f in findings}
        assert kinds == {"rc1": "adopted"}  # the host's own "test" domain is not ours: left alone
        rec = fresh.get_vm("rc1")
        assert rec is not None and rec.meta["adopted"] is True
        assert VirtualMachineSpec.model_validate(rec.spec).memory_mib == 512
        assert rec.meta["volumes"] == [{"pool": "default", "volume": "rc1-root.qcow2"}]
        assert [e.detail["kind"] for e in fresh.list_events(kind="drift")] == [
            "adopted"
        ]  # no event for "test"
        again = await other.converge(SPEC)
        assert not again.changed
    finally:
        other.close()
        fresh.close()
