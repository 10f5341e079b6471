"""Changes that need a new VM are refused (409, naming the field) unless recreate=true."""

from __future__ import annotations

from typing import Any

import pytest

from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store
from novacron.vms.service import VmService
from novacron.vms.validate import spec_from_dict
from novacron_sdk.errors import Conflict

pytestmark = pytest.mark.asyncio


def spec(**kw: Any):  # type: ignore[no-untyped-def]
    d: dict[str, Any] = {
        "name": "r1",
        "disks": [{"name": "root", "size_gib": 2}, {"name": "data", "size_gib": 1}],
    }
    d.update(kw)
    return spec_from_dict(d)


@pytest.mark.parametrize(
    ("disks", "field", "words"),
    [
        (
            [{"name": "root", "size_gib": 2, "bus": "sata"}, {"name": "data", "size_gib": 1}],
            "disks.0.bus",
            "disks.0.bus",
        ),
        ([{"name": "root", "size_gib": 2}], "disks.1", "disks.1"),  # removing a disk
        (
            [{"name": "root", "size_gib": 1}, {"name": "data", "size_gib": 1}],
            "disks.0.size_gib",
            "disks.0.size_gib",
        ),
        # the test driver cannot resize volumes, so even growing is a recreate there (and says so)
        (
            [{"name": "root", "size_gib": 3}, {"name": "data", "size_gib": 1}],
            "disks.0.size_gib",
            "needs a new VM",
        ),
    ],
)
async def test_recreate_only_changes_are_refused_without_recreate(
    svc: VmService,
    snap,
    disks: list[dict[str, Any]],
    field: str,
    words: str,  # type: ignore[no-untyped-def]
) -> None:
    await svc.converge(spec())
    before = snap()
    for dry_run in (True, False):
        with pytest.raises(Conflict) as err:
            await svc.converge(spec(disks=disks, memory_mib=1024), dry_run=dry_run)
        assert err.value.field == field and err.value.status == 409
        assert words in str(err.value) and "recreate=true" in str(err.value)
    assert snap() == before  # not even the memory change was applied


async def test_recreate_true_replaces_the_vm(svc: VmService, driver: HypervisorDriver, store: Store) -> None:
    first = await svc.converge(spec())
    old_uuid = first.vm.status.uuid  # type: ignore[union-attr]
    want = spec(disks=[{"name": "root", "size_gib": 2, "bus": "scsi"}], memory_mib=1024)
    dry = await svc.converge(want, recreate=True, dry_run=True)
    assert {(c.field, c.apply) for c in dry.changes} >= {("disks.0.bus", "recreate"), ("disks.1", "recreate")}
    assert driver.conn.lookupByName("r1").UUIDString() == old_uuid
    res = await svc.converge(want, recreate=True)
    assert res.changed and res.action == "update"
    uuid_change = [c for c in res.changes if c.field == "uuid"]
    assert uuid_change and uuid_change[0].before == old_uuid and uuid_change[0].after != old_uuid
    assert any("new UUID" in w for w in res.warnings)
    new = driver.conn.lookupByName("r1")
    assert new.UUIDString() != old_uuid and new.isActive()
    obs = driver.observe("r1")
    assert obs is not None and [(d.target, d.bus) for d in obs.config.block_disks] == [("sda", "scsi")]
    assert driver.list_volumes("default") == ["r1-root.qcow2"]  # the removed disk's volume is gone
    rec = store.get_vm("r1")
    assert rec is not None and rec.uuid == new.UUIDString()
    assert rec.meta["volumes"] == [{"pool": "default", "volume": "r1-root.qcow2"}]
    assert not (await svc.converge(want)).changed
