"""The pure diff: semantic comparison and the apply mode of each change."""

from __future__ import annotations

from typing import Any

from novacron.vms.diff import (
    LiveLimits,
    compute_changes,
    diff_doc,
    drift_fields,
    normalize_desired,
    pending_fields,
)
from novacron_sdk.models.vm import VirtualMachineSpec

RUNNING = LiveLimits(running=True, memory_ceiling_mib=1024, max_vcpus=8, can_resize_disks=True)
STOPPED = LiveLimits(running=False)


def spec(**kw: Any) -> VirtualMachineSpec:
    d: dict[str, Any] = {
        "name": "v",
        "memory_mib": 512,
        "vcpus": 2,
        "disks": [{"name": "root", "size_gib": 4}, {"name": "os", "base_image": "/img/base.qcow2"}],
        "networks": [{"network": "default"}],
        "cloud_init": {"user_data": "hi"},
    }
    d.update(kw)
    return VirtualMachineSpec.model_validate(d)


def observed() -> dict[str, Any]:
    """What libvirt reports for spec(): generated MAC, overlay sized by its base, cloud-init digest."""
    cur = normalize_desired(spec(), None)
    cur["networks"][0]["mac"] = "52:54:00:12:34:56"
    cur["disks"][1]["size_gib"] = 10
    return cur


def fields(changes: list[Any]) -> list[tuple[str, str]]:
    return [(c.field, c.apply) for c in changes]


def test_unset_values_libvirt_fills_in_are_not_changes() -> None:
    assert compute_changes(observed(), normalize_desired(spec(), observed()), RUNNING) == []


def test_memory_and_vcpus_live_within_limits_next_boot_beyond() -> None:
    cur = observed()
    assert fields(compute_changes(cur, normalize_desired(spec(memory_mib=1024, vcpus=8), cur), RUNNING)) == [
        ("vcpus", "live_and_config"),
        ("memory_mib", "live_and_config"),
    ]
    assert fields(compute_changes(cur, normalize_desired(spec(memory_mib=1025, vcpus=9), cur), RUNNING)) == [
        ("vcpus", "next_boot"),
        ("memory_mib", "next_boot"),
    ]
    assert fields(compute_changes(cur, normalize_desired(spec(memory_mib=256), cur), STOPPED)) == [
        ("memory_mib", "next_boot")
    ]


def test_disk_changes() -> None:
    cur = observed()
    grow = spec(disks=[{"name": "root", "size_gib": 5}, {"name": "os", "base_image": "/img/base.qcow2"}])
    assert fields(compute_changes(cur, normalize_desired(grow, cur), RUNNING)) == [
        ("disks.0.size_gib", "live")
    ]
    no_resize = LiveLimits(running=True, memory_ceiling_mib=1024, max_vcpus=8, can_resize_disks=False)
    assert fields(compute_changes(cur, normalize_desired(grow, cur), no_resize)) == [
        ("disks.0.size_gib", "recreate")
    ]
    rebase = spec(disks=[{"name": "root", "size_gib": 4}, {"name": "os", "base_image": "/img/other.qcow2"}])
    assert fields(compute_changes(cur, normalize_desired(rebase, cur), RUNNING)) == [
        ("disks.1.base_image", "recreate")
    ]
    removed_and_added = spec(
        disks=[{"name": "os", "base_image": "/img/base.qcow2"}, {"name": "new", "size_gib": 1}]
    )
    assert fields(compute_changes(cur, normalize_desired(removed_and_added, cur), RUNNING)) == [
        ("disks.1", "next_boot"),
        ("disks.0", "recreate"),
    ]


def test_other_fields_and_diff_doc() -> None:
    cur = observed()
    want = spec(
        cloud_init={"user_data": "bye"}, labels={"x": "y"}, state="paused", networks=[], autostart=True
    )
    changes = compute_changes(cur, normalize_desired(want, cur), RUNNING)
    assert fields(changes) == [  # in the model's field order
        ("networks.0", "next_boot"),
        ("cloud_init", "next_boot"),
        ("state", "live"),
        ("autostart", "live"),
        ("labels", "live"),
    ]
    doc = diff_doc(changes)
    assert doc["before"]["state"] == "running" and doc["after"]["state"] == "paused"
    assert doc["before"]["networks.0"]["mac"] == "52:54:00:12:34:56" and doc["after"]["networks.0"] is None


def test_pending_and_drift() -> None:
    cur = observed()
    live = dict(cur, memory_mib=256)
    assert pending_fields(cur, live) == ["memory_mib"] and pending_fields(cur, None) == []
    assert drift_fields(spec(), cur) == []
    assert drift_fields(spec(vcpus=4, labels={"a": "b"}), cur) == ["vcpus", "labels"]


def test_memory_within_the_live_ceiling_is_not_pending() -> None:
    """A guest whose balloon has not settled yet is not waiting for a reboot."""
    config = {"vcpus": 1, "memory_mib": 512, "boot": None, "networks": [], "disks": []}
    settling = {**config, "memory_mib": 430}
    assert pending_fields(config, settling, live_memory_ceiling_mib=1024) == []
    assert pending_fields({**config, "memory_mib": 2048}, settling, live_memory_ceiling_mib=1024) == ["memory_mib"]
