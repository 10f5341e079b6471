"""novacron_vm planning rules, purely: in place vs rebuild, defaults, and what stays known."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from novacron_sdk.models.vm import FieldChange
from novacron_tf.cty import UNKNOWN
from novacron_tf.planning import shape
from novacron_tf.resources.vm_plan import dry_run_body, plan_vm, recreate_paths
from novacron_tf.schema import load

BLOCK = load().resources["novacron_vm"].block


def config(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "web-1", "memory_mib": 256, "vcpus": 2,
                            "disks": [{"name": "root", "size_gib": 1}, {"name": "data", "size_gib": 4}]}
    base.update(kw)
    return shape(BLOCK, base)


def state_after_create(cfg: dict[str, Any]) -> dict[str, Any]:
    """What apply would have stored: the plan with every unknown settled."""
    planned, _ = plan_vm(BLOCK, None, cfg)
    done = copy.deepcopy(planned)
    done.update(uuid="u-1", node="node-1", actual_state="running", ip_addresses=["10.0.0.5"], accel="kvm",
                pending_changes=[], drift=[], created_at="t0", updated_at="t0")
    for disk in done["disks"]:
        disk["size_gib"] = disk["size_gib"] if disk["size_gib"] is not UNKNOWN else 8
    return done


def test_create_fills_model_defaults_and_leaves_observations_unknown() -> None:
    planned, replace = plan_vm(BLOCK, None, config(vcpus=None, disks=[{"name": "root", "base_image": "/i.qcow2"}]))
    assert replace == []
    assert (planned["vcpus"], planned["state"], planned["autostart"], planned["labels"]) == (1, "running", False, {})
    assert planned["disks"][0]["pool"] == "default" and planned["disks"][0]["bus"] == "virtio"
    assert planned["disks"][0]["size_gib"] is UNKNOWN  # the overlay's size is the agent's to tell
    assert planned["id"] == "web-1" and planned["force_stop"] is False
    for key in ("uuid", "node", "actual_state", "created_at", "updated_at"):
        assert planned[key] is UNKNOWN


def test_memory_and_vcpu_changes_are_in_place_and_keep_identity_known() -> None:
    prior = state_after_create(config())
    planned, replace = plan_vm(BLOCK, prior, config(memory_mib=1024, vcpus=4))
    assert replace == []
    assert (planned["memory_mib"], planned["vcpus"]) == (1024, 4)
    for key in ("uuid", "node", "created_at", "accel", "actual_state", "ip_addresses"):
        assert planned[key] == prior[key], key
    for key in ("updated_at", "pending_changes", "drift"):
        assert planned[key] is UNKNOWN


def test_no_change_plans_exactly_the_prior_state() -> None:
    prior = state_after_create(config())
    planned, replace = plan_vm(BLOCK, prior, config())
    assert replace == [] and planned == prior


def test_node_change_is_an_in_place_migration() -> None:
    prior = state_after_create(config())
    planned, replace = plan_vm(BLOCK, prior, config(node="node-2"))
    assert replace == [] and planned["node"] == "node-2" and planned["uuid"] == "u-1"
    assert planned["actual_state"] is UNKNOWN and planned["ip_addresses"] is UNKNOWN


@pytest.mark.parametrize("change,path", [
    ({"bus": "sata"}, ("disks", 1, "bus")),
    ({"pool": "fast"}, ("disks", 1, "pool")),
    ({"base_image": "/other.qcow2"}, ("disks", 1, "base_image")),
    ({"size_gib": 2}, ("disks", 1, "size_gib")),  # shrinking
])
def test_disk_changes_that_need_a_rebuild_force_replacement_on_that_attribute(
        change: dict[str, Any], path: tuple[Any, ...]) -> None:
    prior = state_after_create(config())
    disks = [{"name": "root", "size_gib": 1}, {"name": "data", "size_gib": 4, **change}]
    planned, replace = plan_vm(BLOCK, prior, config(disks=disks))
    assert replace == [path]
    assert planned["uuid"] is UNKNOWN and planned["node"] is UNKNOWN  # a new VM


def test_growing_adding_and_reordering_disks_stay_in_place() -> None:
    prior = state_after_create(config())
    grown = [{"name": "data", "size_gib": 10}, {"name": "root", "size_gib": 1}, {"name": "logs", "size_gib": 1}]
    planned, replace = plan_vm(BLOCK, prior, config(disks=grown))
    assert replace == []
    removed, replace = plan_vm(BLOCK, prior, config(disks=[{"name": "root", "size_gib": 1}]))
    assert replace == [("disks",)]


def test_agent_filled_size_is_carried_by_disk_name_not_position() -> None:
    prior = state_after_create(config(disks=[{"name": "root", "base_image": "/i"}, {"name": "d", "size_gib": 4}]))
    swapped = [{"name": "d", "size_gib": 4}, {"name": "root", "base_image": "/i"}]
    planned, replace = plan_vm(BLOCK, prior, config(disks=swapped))
    assert replace == [] and planned["disks"][1]["size_gib"] == 8


def test_leaving_an_argument_out_returns_it_to_the_models_default() -> None:
    prior = state_after_create(config(memory_mib=2048))
    planned, _ = plan_vm(BLOCK, prior, config(memory_mib=None))
    assert planned["memory_mib"] == 512


def test_unknown_configuration_values_stay_unknown() -> None:
    prior = state_after_create(config())
    planned, replace = plan_vm(BLOCK, prior, config(memory_mib=UNKNOWN))
    assert planned["memory_mib"] is UNKNOWN and replace == [] and planned["updated_at"] is UNKNOWN


def test_agent_dry_run_recreates_map_to_attribute_paths() -> None:
    changes = [FieldChange(field="memory_mib", apply="live"), FieldChange(field="disks.0.bus", apply="recreate"),
               FieldChange(field="disks.2", apply="recreate"), FieldChange(field="labels", apply="live")]
    assert recreate_paths(changes) == [("disks", 0, "bus"), ("disks",)]


def test_dry_run_body_drops_agent_filled_unknowns_but_waits_for_real_ones() -> None:
    planned, _ = plan_vm(BLOCK, None, config(disks=[{"name": "root", "base_image": "/i"}],
                                             networks=[{"network": "default"}]))
    body = dry_run_body(planned)
    assert body is not None and "size_gib" not in body["disks"][0] and "mac" not in body["networks"][0]
    assert "node" not in body and "force_stop" not in body
    unknown, _ = plan_vm(BLOCK, None, config(memory_mib=UNKNOWN))
    assert dry_run_body(unknown) is None
