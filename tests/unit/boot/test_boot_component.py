"""Component declarations are validated up front; BootContext is a forgiving but explicit bag."""

from __future__ import annotations

import dataclasses
import math

import pytest

from novacron.boot import MAX_BACKOFF_S, PHASE_NAMES, BootContext, Component, Phase, phase_name


async def _noop(ctx: BootContext) -> None:
    return None


def test_phase_table_names_the_four_phases() -> None:
    assert PHASE_NAMES == {1: "pre-init", 2: "core", 3: "services", 4: "post-init"}
    assert Phase.CORE == 2
    assert phase_name(Phase.POST_INIT) == "post-init"
    assert phase_name(None) == "not-started"


def test_defaults_and_list_deps_become_a_tuple() -> None:
    comp = Component("db", Phase.CORE, _noop, depends_on=["security"])  # type: ignore[arg-type]
    assert comp.depends_on == ("security",)
    assert (comp.timeout_s, comp.retries, comp.backoff_s, comp.stop) == (30.0, 0, 0.05, None)
    assert comp.max_attempts == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        comp.phase = 3  # type: ignore[misc]


@pytest.mark.parametrize("phase", [0, 5, -1, "2", 2.0, True])
def test_phase_outside_1_to_4_is_refused(phase: object) -> None:
    with pytest.raises(ValueError, match=r"component 'x': phase must be one of 1 \(pre-init\)"):
        Component("x", phase, _noop)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a b"}, "name"),
        ({"name": "a->b"}, "name"),
        ({"start": None}, "start"),
        ({"stop": 42}, "stop"),
        ({"depends_on": "db"}, "depends_on"),
        ({"depends_on": ("",)}, "depends_on"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": -1.0}, "timeout_s"),
        ({"timeout_s": math.inf}, "timeout_s"),
        ({"timeout_s": math.nan}, "timeout_s"),
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"backoff_s": -0.1}, "backoff_s"),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"name": "x", "phase": 1, "start": _noop, **kwargs}
    with pytest.raises(ValueError, match=field):
        Component(**args)  # type: ignore[arg-type]


def test_retry_delay_doubles_from_backoff_and_is_capped() -> None:
    comp = Component("x", 1, _noop, retries=10, backoff_s=0.05)
    assert [comp.retry_delay(n) for n in (1, 2, 3, 4)] == pytest.approx([0.05, 0.1, 0.2, 0.4])
    slow = Component("y", 1, _noop, backoff_s=1.0)
    assert [slow.retry_delay(n) for n in (1, 2, 3, 4, 5, 1000)] == [1.0, 2.0, 4.0, MAX_BACKOFF_S, 5.0, 5.0]
    # An explicit first delay above the cap is honoured, but never grows.
    huge = Component("z", 1, _noop, backoff_s=10.0)
    assert [huge.retry_delay(n) for n in (1, 2, 3)] == [10.0, 10.0, 10.0]
    with pytest.raises(ValueError, match="retry must be >= 1"):
        comp.retry_delay(0)


def test_boot_context_attribute_and_get_access() -> None:
    ctx = BootContext(config={"port": 1})
    ctx.db = "pool"
    ctx.set("cache", "redis")
    assert ctx.config == {"port": 1}
    assert ctx.get("db") == "pool"
    assert ctx.cache == "redis"
    assert ctx.get("missing") is None
    assert ctx.get("missing", 7) == 7
    assert "db" in ctx and "missing" not in ctx
    assert ctx.as_dict() == {"config": {"port": 1}, "db": "pool", "cache": "redis"}
    with pytest.raises(AttributeError, match=r"no 'network'.*present: cache, config, db"):
        _ = ctx.network
