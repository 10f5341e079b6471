"""Levels follow phases and same-phase dependencies; every graph mistake is named."""

from __future__ import annotations

import re

import pytest

from novacron.boot import BootContext, BootGraphError, Component, resolve
from tests.unit.boot.boot_testkit import AGENT_GRAPH, AGENT_LEVELS, make_initializer


async def _noop(ctx: BootContext) -> None:
    return None


def _c(name: str, phase: int = 1, *deps: str) -> Component:
    return Component(name, phase, _noop, depends_on=deps)


def _names(levels: list[list[Component]]) -> list[list[str]]:
    return [[c.name for c in level] for level in levels]


def test_agent_graph_levels() -> None:
    levels = resolve([_c(name, phase, *deps) for name, phase, deps in AGENT_GRAPH])
    assert _names(levels) == AGENT_LEVELS
    for level in levels:
        assert len({c.phase for c in level}) == 1


def test_phases_order_levels_even_when_declared_out_of_order() -> None:
    # Phase-1 component declared last still comes first; an earlier-phase dependency
    # does not push a component below the first level of its own phase.
    levels = resolve([_c("ready", 4), _c("api", 3, "env"), _c("db", 2), _c("env", 1)])
    assert _names(levels) == [["env"], ["db"], ["api"], ["ready"]]


def test_siblings_share_a_level_in_declaration_order() -> None:
    levels = resolve([_c("root"), _c("b", 1, "root"), _c("a", 1, "root"), _c("leaf", 1, "a", "b")])
    assert _names(levels) == [["root"], ["b", "a"], ["leaf"]]


def test_level_is_below_deepest_same_phase_dependency() -> None:
    levels = resolve([_c("a"), _c("b", 1, "a"), _c("c", 1, "b"), _c("d", 1, "a", "c")])
    assert _names(levels) == [["a"], ["b"], ["c"], ["d"]]


def test_empty_graph_has_no_levels() -> None:
    assert resolve([]) == []


def test_long_chain_does_not_hit_recursion_limit() -> None:
    chain = [_c("n0")] + [_c(f"n{i}", 1, f"n{i - 1}") for i in range(1, 3000)]
    levels = resolve(list(reversed(chain)))
    assert len(levels) == 3000
    assert levels[-1][0].name == "n2999"


def test_two_node_cycle_is_named() -> None:
    with pytest.raises(BootGraphError, match=re.escape("dependency cycle: a -> b -> a")):
        resolve([_c("a", 1, "b"), _c("b", 1, "a")])


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(BootGraphError, match=re.escape("dependency cycle: a -> a")):
        resolve([_c("a", 1, "a")])


def test_cycle_reached_through_a_tail_names_only_the_cycle() -> None:
    graph = [_c("x", 1, "a"), _c("a", 1, "b"), _c("b", 1, "c"), _c("c", 1, "a"), _c("ok")]
    with pytest.raises(BootGraphError) as info:
        resolve(graph)
    assert str(info.value) == "dependency cycle: a -> b -> c -> a"


def test_unknown_dependency_is_named() -> None:
    with pytest.raises(BootGraphError) as info:
        resolve([_c("cfg"), _c("api", 3, "cfg", "db")])
    assert str(info.value) == "component 'api' depends on unknown 'db'"


def test_dependency_on_a_later_phase_is_refused() -> None:
    with pytest.raises(BootGraphError) as info:
        resolve([_c("config", 1, "api"), _c("api", 3)])
    message = str(info.value)
    assert "'config' (phase 1, pre-init)" in message
    assert "'api' of later phase 3 (services)" in message


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(BootGraphError, match=re.escape("duplicate component name 'db'")):
        resolve([_c("db", 2), _c("cache", 2), _c("db", 2)])


def test_graph_error_is_a_value_error_and_raised_when_building_the_initializer() -> None:
    assert issubclass(BootGraphError, ValueError)
    with pytest.raises(BootGraphError, match="depends on unknown 'db'"):
        make_initializer([_c("api", 3, "db")])
