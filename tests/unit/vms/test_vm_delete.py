"""DELETE: the domain and the storage the agent created go; keep_storage keeps the volumes."""

from __future__ import annotations

import pytest

from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store
from novacron.vms.service import VmService
from novacron_sdk.errors import Conflict
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio

SPEC = VirtualMachineSpec.model_validate(
    {
        "name": "d1",
        "disks": [{"name": "root", "size_gib": 2}, {"name": "data", "size_gib": 1}],
        "cloud_init": {"user_data": "#cloud-config\n"},
    }
)


async def test_delete_removes_domain_volumes_seed_and_record(
    svc: VmService, driver: HypervisorDriver, store: Store
) -> None:
    await svc.converge(SPEC)
    assert driver.list_volumes("default") == ["d1-data.qcow2", "d1-root.qcow2"]
    assert driver.seed_path("d1").exists()
    res = await svc.delete("d1")
    assert res.changed and res.action == "delete"
    assert [c.field for c in res.changes] == ["vm", "storage"]
    assert res.diff["after"] == {} and res.diff["before"]["storage"] == [
        "default/d1-root.qcow2",
        "default/d1-data.qcow2",
    ]
    assert driver.lookup("d1") is None
    assert driver.list_volumes("default") == []
    assert not driver.seed_path("d1").exists() and not driver.vm_dir("d1").exists()
    assert store.get_vm("d1") is None
    assert store.list_events(subject="d1")[0].kind == "vm.deleted"
    again = await svc.delete("d1")
    assert not again.changed and again.action == "none"


async def test_delete_keep_storage_keeps_volumes(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(SPEC)
    res = await svc.delete("d1", keep_storage=True)
    assert [c.field for c in res.changes] == ["vm"] and "kept storage" in res.warnings[0]
    assert driver.lookup("d1") is None
    assert driver.list_volumes("default") == ["d1-data.qcow2", "d1-root.qcow2"]


async def test_delete_dry_run_touches_nothing(svc: VmService, snap) -> None:  # type: ignore[no-untyped-def]
    await svc.converge(SPEC)
    before = snap()
    res = await svc.delete("d1", dry_run=True)
    assert res.changed and res.dry_run and res.action == "delete"
    assert snap() == before


async def test_delete_never_touches_storage_it_did_not_create(
    svc: VmService, driver: HypervisorDriver
) -> None:
    pool = driver.conn.storagePoolLookupByName("default")
    pool.createXML("<volume><name>foreign.qcow2</name><capacity unit='G'>1</capacity></volume>", 0)
    await svc.converge(SPEC)
    await svc.delete("d1")
    assert driver.list_volumes("default") == ["foreign.qcow2"]


async def test_delete_refuses_a_domain_we_do_not_manage(svc: VmService, driver: HypervisorDriver) -> None:
    with pytest.raises(Conflict) as err:
        await svc.delete("test")  # the test driver's built-in domain
    assert err.value.field == "name"
    assert driver.lookup("test") is not None
