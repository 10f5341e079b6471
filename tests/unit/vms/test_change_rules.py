"""The change-rule vocabulary: every VM field carries a well-formed rule, and `judge` decides as it says."""

from __future__ import annotations

import typing
from dataclasses import fields as dc_fields

import pytest

from novacron_sdk.models.change_rules import (
    ANY_HOST,
    CONDITIONS,
    Apply,
    Host,
    Rule,
    fill_unset,
    item_rules,
    judge,
    rules_of,
)
from novacron_sdk.models.vm import DiskSpec, VirtualMachineSpec, VirtualMachineStatus

TABLE = rules_of(VirtualMachineSpec, VirtualMachineStatus)
MODES = set(typing.get_args(Apply))
HOT = Rule(change="live_and_config", when="running_within:max_vcpus", otherwise="next_boot")
GROW = Rule(change="live", when="grows:can_resize_disks", otherwise="recreate", agent_filled=True)
RUNNING = Host(running=True, memory_ceiling_mib=1024, max_vcpus=8)


def test_every_spec_field_and_every_disk_field_but_its_key_has_a_rule() -> None:
    for name in VirtualMachineSpec.model_fields:
        assert TABLE[name].change or TABLE[name].key, name
    disk_rules = item_rules(TABLE, "disks")
    assert set(disk_rules) == set(DiskSpec.model_fields) - {TABLE["disks"].key}
    assert all(r.change for r in disk_rules.values())
    assert TABLE["node"].change == "migrate"  # the one status field a user may change


def test_rules_use_only_the_vocabulary() -> None:
    host_facts = {f.name for f in dc_fields(Host)}
    for path, r in TABLE.items():
        for mode in (r.change, r.otherwise, r.add, r.remove):
            assert mode is None or mode in MODES, (path, mode)
        if r.when:
            predicate, _, fact = r.when.partition(":")
            assert predicate in CONDITIONS and fact in host_facts, (path, r.when)
            assert r.otherwise, f"{path}: a condition needs an else"
        assert Rule.from_json(r.to_json()) == r


def test_running_within_the_limit_is_live_otherwise_next_boot() -> None:
    assert judge(HOT, 2, 8, RUNNING) == "live_and_config"
    assert judge(HOT, 2, 9, RUNNING) == "next_boot"
    assert judge(HOT, 2, 4, Host(running=False, max_vcpus=8)) == "next_boot"
    assert judge(HOT, 2, 2, RUNNING) is None


def test_growing_is_live_where_the_host_resizes_shrinking_recreates() -> None:
    assert judge(GROW, 4, 8, ANY_HOST) == "live"
    assert judge(GROW, 4, 8, Host(running=True, can_resize_disks=False)) == "recreate"
    assert judge(GROW, 4, 2, ANY_HOST) == "recreate"
    assert judge(GROW, None, 8, ANY_HOST) is None  # the current size is not known: nothing to compare
    assert judge(GROW, 4, None, ANY_HOST) is None  # left unset: the agent keeps the size


@pytest.mark.parametrize(("change", "before", "after"), [("recreate", "a", "b"), ("next_boot", None, {"x": 1}),
                                                         ("live", {"a": "1"}, {})])
def test_unconditional_rules(change: str, before: object, after: object) -> None:
    assert judge(Rule(change=change), before, after, ANY_HOST) == change
    assert judge(Rule(change=change), before, before, ANY_HOST) is None


def test_agent_filled_fields_left_unset_take_the_current_value() -> None:
    nics = fill_unset(TABLE, "networks", [{"network": "a", "mac": "52:54:00:00:00:01"}],
                      [{"network": "b", "mac": None}, {"network": "c", "mac": None}])
    assert nics == [{"network": "b", "mac": "52:54:00:00:00:01"}, {"network": "c", "mac": None}]  # by position
    disks = fill_unset(TABLE, "disks", [{"name": "a", "size_gib": 4}, {"name": "b", "size_gib": 9}],
                       [{"name": "b", "size_gib": None, "bus": "sata"}, {"name": "a", "size_gib": 5}])
    assert disks == [{"name": "b", "size_gib": 9, "bus": "sata"}, {"name": "a", "size_gib": 5}]  # by name


def test_rules_reach_the_openapi_schema() -> None:
    schema = VirtualMachineSpec.model_json_schema()
    assert schema["properties"]["vcpus"]["x-novacron-change-when"] == "running_within:max_vcpus"
    assert schema["$defs"]["DiskSpec"]["properties"]["bus"]["x-novacron-change"] == "recreate"
