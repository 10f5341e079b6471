"""PUT semantics on the test driver: create, no-op re-run, dry run, live changes."""

from __future__ import annotations

from pathlib import Path

import libvirt
import pytest

from novacron.hypervisor.driver import HypervisorDriver
from novacron.hypervisor.parse import parse_domain_xml
from novacron.store import Store
from novacron.vms.service import VmService
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio


def web(**kw: object) -> VirtualMachineSpec:
    doc: dict[str, object] = {
        "name": "web1",
        "vcpus": 2,
        "memory_mib": 512,
        "disks": [{"name": "root", "size_gib": 4}],
        "networks": [{"network": "default"}],
        "labels": {"app": "web"},
    }
    doc.update(kw)
    return VirtualMachineSpec.model_validate(doc)


def config_xml(driver: HypervisorDriver, name: str):  # type: ignore[no-untyped-def]
    return parse_domain_xml(driver.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def live_xml(driver: HypervisorDriver, name: str):  # type: ignore[no-untyped-def]
    return parse_domain_xml(driver.conn.lookupByName(name).XMLDesc(0))


async def test_create_defines_starts_and_records(
    svc: VmService, driver: HypervisorDriver, store: Store
) -> None:
    res = await svc.converge(web())
    assert res.changed and res.action == "create" and not res.dry_run
    assert res.diff["before"] == {} and res.diff["after"]["memory_mib"] == 512
    assert {c.apply for c in res.changes} == {"create"}
    dom = driver.conn.lookupByName("web1")
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    parsed = config_xml(driver, "web1")
    assert (parsed.memory_mib, parsed.vcpus, parsed.max_vcpus) == (512, 2, 8)
    assert parsed.managed and parsed.labels == {"app": "web"}
    assert driver.list_volumes("default") == ["web1-root.qcow2"]
    vm = res.vm
    assert vm is not None
    assert vm.status.uuid == dom.UUIDString() and vm.status.node == "node-a" and vm.status.accel == "test"
    assert vm.status.actual_state == "running" and vm.status.drift == [] and vm.status.pending_changes == []
    assert vm.disks[0].size_gib == 4 and vm.networks[0].mac  # libvirt generated a MAC
    rec = store.get_vm("web1")
    assert rec is not None and rec.uuid == dom.UUIDString() and rec.applied == web().model_dump(mode="json")
    assert rec.meta["volumes"] == [{"pool": "default", "volume": "web1-root.qcow2"}]
    assert rec.meta["definition"] == dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert [e.kind for e in store.list_events(subject="web1")] == ["vm.created"]
    got = await svc.get("web1")
    assert got.model_dump(exclude={"status"}) == vm.model_dump(exclude={"status"})


async def test_rerun_after_success_reports_no_change(
    svc: VmService, driver: HypervisorDriver, tmp_path: Path
) -> None:
    base = tmp_path / "images" / "base.raw"  # data_dir/images: one of the agent's own image roots
    base.parent.mkdir()
    base.write_bytes(b"\0" * (1 << 20))
    spec = web(
        disks=[{"name": "root", "base_image": str(base)}, {"name": "data", "size_gib": 2, "bus": "sata"}],
        networks=[{"network": "default"}, {"network": "default", "model": "e1000"}],
        cloud_init={"user_data": "#cloud-config\nhostname: web1\n"},
        autostart=True,
    )
    first = await svc.converge(spec)
    assert first.changed
    xml_before = driver.conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    for _ in range(2):
        again = await svc.converge(spec)
        assert not again.changed and again.action == "none" and again.changes == []
        assert again.diff == {"before": {}, "after": {}}
    assert driver.conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == xml_before
    vm = await svc.get("web1")
    assert vm.cloud_init == spec.cloud_init and vm.autostart is True
    assert vm.disks[0].base_image == str(base) and vm.disks[1].bus == "sata"


async def test_dry_run_create_touches_nothing(svc: VmService, snap) -> None:  # type: ignore[no-untyped-def]
    before = snap()
    res = await svc.converge(web(cloud_init={"user_data": "x"}), dry_run=True)
    assert res.changed and res.dry_run and res.action == "create"
    assert res.vm is not None and res.vm.memory_mib == 512
    assert snap() == before


async def test_dry_run_update_touches_nothing_and_matches_real_answer(svc: VmService, snap) -> None:  # type: ignore[no-untyped-def]
    await svc.converge(web())
    before = snap()
    want = web(memory_mib=768, labels={"app": "web", "tier": "1"}, autostart=True)
    dry = await svc.converge(want, dry_run=True)
    assert dry.changed and dry.dry_run and dry.action == "update"
    assert snap() == before
    real = await svc.converge(want)
    assert [c.model_dump() for c in real.changes] == [c.model_dump() for c in dry.changes]
    assert real.diff == dry.diff
    assert dry.diff == {
        "before": {"memory_mib": 512, "labels": {"app": "web"}, "autostart": False},
        "after": {"memory_mib": 768, "labels": {"app": "web", "tier": "1"}, "autostart": True},
    }


async def test_live_memory_change_keeps_vm_running(svc: VmService, driver: HypervisorDriver) -> None:
    created = await svc.converge(web())
    uuid = created.vm.status.uuid  # type: ignore[union-attr]
    ceiling = live_xml(driver, "web1").memory_ceiling_mib
    res = await svc.converge(web(memory_mib=ceiling))  # up to the balloon ceiling: live
    (change,) = res.changes
    assert (change.field, change.before, change.after) == ("memory_mib", 512, ceiling)
    dom = driver.conn.lookupByName("web1")
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING and dom.UUIDString() == uuid
    if change.apply == "live_and_config":
        assert live_xml(driver, "web1").memory_mib == ceiling
    else:  # the guest did not take it: the answer must say so
        assert change.apply == "next_boot" and res.warnings
    assert config_xml(driver, "web1").memory_mib == ceiling
    assert (await svc.converge(web(memory_mib=ceiling))).changed is False


async def test_memory_above_live_ceiling_is_next_boot(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(web())
    ceiling = live_xml(driver, "web1").memory_ceiling_mib
    res = await svc.converge(web(memory_mib=ceiling + 256))
    (change,) = res.changes
    assert change.apply == "next_boot"
    assert live_xml(driver, "web1").memory_mib == 512  # the running guest is untouched
    assert config_xml(driver, "web1").memory_mib == ceiling + 256
    assert driver.conn.lookupByName("web1").state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert res.vm is not None and res.vm.status.pending_changes == ["memory_mib"]
    await svc.converge(web(memory_mib=ceiling + 256, state="stopped"))
    vm = (await svc.converge(web(memory_mib=ceiling + 256))).vm
    assert (
        vm is not None
        and vm.status.pending_changes == []
        and live_xml(driver, "web1").memory_mib == ceiling + 256
    )


async def test_live_vcpu_hotplug_and_stopped_vm_changes(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(web())
    res = await svc.converge(web(vcpus=4))
    assert [(c.field, c.apply) for c in res.changes] == [("vcpus", "live_and_config")]
    assert live_xml(driver, "web1").vcpus == 4 and config_xml(driver, "web1").vcpus == 4
    await svc.converge(web(vcpus=4, state="stopped"))
    res = await svc.converge(web(vcpus=3, state="stopped"))
    assert [(c.field, c.apply) for c in res.changes] == [("vcpus", "next_boot")]
    assert config_xml(driver, "web1").vcpus == 3


async def test_cloud_init_change_rewrites_seed_for_next_boot(
    svc: VmService, driver: HypervisorDriver
) -> None:
    await svc.converge(web(cloud_init={"user_data": "one"}))
    seed = driver.seed_path("web1")
    assert seed.read_bytes()[32808:32814] == b"cidata"  # ISO9660 volume id
    old = seed.read_bytes()
    res = await svc.converge(web(cloud_init={"user_data": "two"}))
    assert [(c.field, c.apply) for c in res.changes] == [("cloud_init", "next_boot")]
    assert seed.read_bytes() != old
    res = await svc.converge(web())
    assert [c.field for c in res.changes] == ["cloud_init"] and not seed.exists()
    assert all(d.device != "cdrom" for d in config_xml(driver, "web1").disks)


async def test_adding_a_disk_and_a_nic(svc: VmService, driver: HypervisorDriver) -> None:
    await svc.converge(web())
    want = web(
        disks=[{"name": "root", "size_gib": 4}, {"name": "logs", "size_gib": 1}],
        networks=[{"network": "default"}, {"network": "default", "mac": "52:54:00:aa:bb:cc"}],
    )
    res = await svc.converge(want)
    assert [(c.field, c.apply) for c in res.changes] == [
        ("disks.1", "next_boot"),
        ("networks.1", "next_boot"),
    ]
    assert driver.list_volumes("default") == ["web1-logs.qcow2", "web1-root.qcow2"]
    nics = config_xml(driver, "web1").nics
    assert nics[1].mac == "52:54:00:aa:bb:cc"
    assert nics[0].mac == live_xml(driver, "web1").nics[0].mac  # the generated MAC is kept
    assert not (await svc.converge(want)).changed


async def test_list_filters_by_label(svc: VmService) -> None:
    await svc.converge(web())
    await svc.converge(web(name="db1", labels={"app": "db"}, disks=[]))
    assert [v.name for v in await svc.list()] == ["db1", "web1"]  # the test driver's own "test" is not ours
    assert [v.name for v in await svc.list(labels={"app": "db"})] == ["db1"]
    assert await svc.list(labels={"app": "none"}) == []
