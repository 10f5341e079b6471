"""Bad input: a 422/409 naming the field and the reason, and nothing half-created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from novacron.hypervisor.driver import HypervisorDriver
from novacron.store import Store
from novacron.vms.service import VmService
from novacron.vms.validate import spec_from_dict
from novacron_sdk.errors import Conflict, HypervisorError, InvalidInput, NovacronError
from novacron_sdk.models.vm import VirtualMachineSpec

pytestmark = pytest.mark.asyncio


def doc(**kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "bad1",
        "disks": [{"name": "root", "size_gib": 1}],
        "networks": [{"network": "default"}],
    }
    d.update(kw)
    return d


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (doc(colour="red"), "colour", "unknown field"),
        (doc(disks=[{"name": "root", "size_gib": 1, "sizee": 2}]), "disks.0.sizee", "unknown field"),
        (doc(memory_mib=8), "memory_mib", "greater than or equal to 16"),
        (doc(disks=[{"name": "root", "size_gib": 0}]), "disks.0.size_gib", "greater than or equal to 1"),
        (doc(disks=[{"name": "root", "size_gib": 70000}]), "disks.0.size_gib", "less than or equal to 65536"),
        (doc(name="web/1"), "name", "should match pattern"),
        (doc(name="-lead"), "name", "should match pattern"),
        (doc(name="x" * 64), "name", "should match pattern"),
    ],
)
async def test_request_body_errors_name_the_field(body: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        spec_from_dict(body)
    assert err.value.field == field and reason in err.value.detail and err.value.status == 422


def _base(tmp_path: Path) -> str:
    p = tmp_path / "images" / "base.raw"  # data_dir/images: one of the agent's own image roots
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(b"\0" * 4096)
    return str(p)


CASES: list[tuple[str, dict[str, Any], type[NovacronError], str, str]] = [
    ("memory over max", doc(memory_mib=8192), InvalidInput, "memory_mib", "exceeds hypervisor.max_memory_mib"),
    ("vcpus over max", doc(vcpus=9), InvalidInput, "vcpus", "exceeds hypervisor.max_vcpus"),
    (
        "missing base image",
        doc(disks=[{"name": "root", "size_gib": 1}, {"name": "os", "base_image": "/nonexistent/debian.qcow2"}]),
        InvalidInput, "disks.1.base_image", "inside hypervisor.image_dirs",
    ),
    (
        "unknown network",
        doc(networks=[{"network": "default"}, {"network": "nosuchnet"}]),
        InvalidInput, "networks.1.network", "'nosuchnet' does not exist",
    ),
    ("unknown bridge", doc(networks=[{"bridge": "nvbr404"}]), InvalidInput, "networks.0.bridge", "does not exist"),
    (
        "unknown pool",
        doc(disks=[{"name": "root", "size_gib": 1}, {"name": "d", "size_gib": 1, "pool": "nopool"}]),
        InvalidInput, "disks.1.pool", "'nopool' does not exist",
    ),
    ("kernel outside the image dirs", doc(boot={"kernel": "/nonexistent/vmlinuz"}), InvalidInput, "boot.kernel",
     "inside hypervisor.image_dirs"),
    (
        "duplicate MAC",
        doc(networks=[{"network": "default", "mac": "52:54:00:00:00:01"}] * 2),
        InvalidInput, "networks", "same MAC",
    ),
    ("name of a foreign domain", doc(name="test"), Conflict, "name", "not managed by novacron"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "exc", "field", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_bad_spec_is_refused_before_anything_is_touched(
    svc: VmService,
    snap,
    case: str,
    body: dict[str, Any],
    exc: type,
    field: str,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    spec = spec_from_dict(body)
    before = snap()
    for dry_run in (True, False):
        with pytest.raises(exc) as err:
            await svc.converge(spec, dry_run=dry_run)
        assert err.value.field == field, case
        assert reason in err.value.detail, err.value.detail
    assert snap() == before


async def test_name_libvirt_would_reject_is_refused(svc: VmService, snap) -> None:  # type: ignore[no-untyped-def]
    spec = VirtualMachineSpec.model_construct(**{**VirtualMachineSpec(name="ok").__dict__, "name": "a/b"})
    before = snap()
    with pytest.raises(InvalidInput) as err:
        await svc.converge(spec)
    assert err.value.field == "name" and "libvirt" in err.value.detail
    assert snap() == before


async def test_base_image_smaller_size_is_refused(svc: VmService, snap, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "images" / "big.raw"
    base.parent.mkdir()
    with open(base, "wb") as f:
        f.truncate(3 << 30)  # sparse 3 GiB
    spec = spec_from_dict(doc(disks=[{"name": "root", "base_image": str(base), "size_gib": 2}]))
    before = snap()
    with pytest.raises(InvalidInput) as err:
        await svc.converge(spec)
    assert err.value.field == "disks.0.size_gib" and "smaller than the base image" in err.value.detail
    assert snap() == before


async def test_volume_name_clash_is_a_conflict(svc: VmService, driver: HypervisorDriver, snap) -> None:  # type: ignore[no-untyped-def]
    pool = driver.conn.storagePoolLookupByName("default")
    pool.createXML("<volume><name>bad1-root.qcow2</name><capacity unit='G'>1</capacity></volume>", 0)
    before = snap()
    with pytest.raises(Conflict) as err:
        await svc.converge(spec_from_dict(doc()))
    assert err.value.field == "disks.0.name" and err.value.status == 409
    assert snap() == before


async def test_failure_midway_through_create_rolls_everything_back(
    svc: VmService,
    driver: HypervisorDriver,
    store: Store,
    snap,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    def broken_start(name: str, timeout: float = 60.0) -> None:
        raise HypervisorError(f"starting {name!r}: simulated QEMU failure")

    monkeypatch.setattr(driver, "start", broken_start)
    spec = spec_from_dict(
        doc(
            disks=[{"name": "root", "size_gib": 1}, {"name": "os", "base_image": _base(tmp_path)}],
            cloud_init={"user_data": "x"},
            autostart=True,
        )
    )
    before = snap()
    with pytest.raises(HypervisorError, match="simulated QEMU failure"):
        await svc.converge(spec)
    after = snap()
    assert after == before  # no domain, no volume, no seed ISO, no record
    assert [e.kind for e in store.list_events(subject="bad1")] == ["vm.error"]
