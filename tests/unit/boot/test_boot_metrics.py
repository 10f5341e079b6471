"""Boot metrics land on the caller's registry with the documented names and labels."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from novacron.boot import COMPONENT_STATES, BootContext, BootError, BootMetrics, Component
from tests.unit.boot.boot_testkit import FakeClock, Journal, RecordingSleep, make_initializer, run


def _status(registry: CollectorRegistry, component: str) -> dict[str, float | None]:
    return {
        state: registry.get_sample_value("component_status", {"component": component, "state": state})
        for state in COMPONENT_STATES
    }


def _one_hot(state: str) -> dict[str, float]:
    return {s: 1.0 if s == state else 0.0 for s in COMPONENT_STATES}


def test_durations_status_and_errors_after_a_successful_boot() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()

    def taking(seconds: float) -> Callable[[BootContext], Awaitable[None]]:
        async def start(ctx: BootContext) -> None:
            clock.advance(seconds)

        return start

    calls = 0

    async def flaky(ctx: BootContext) -> None:
        nonlocal calls
        calls += 1
        clock.advance(0.25)
        if calls <= 2:
            raise ConnectionError("refused")

    comps = [
        Component("env", 1, taking(1.0)),
        Component("config", 1, taking(2.0), depends_on=("env",)),
        Component("db", 2, flaky, retries=2, backoff_s=0.5),
        Component("api", 3, taking(0.5)),
    ]
    init = make_initializer(comps, registry=registry, clock=clock, sleep=RecordingSleep(clock))
    assert _status(registry, "db") == _one_hot("pending")
    run(init.run())

    get = registry.get_sample_value
    assert get("phase_duration_seconds", {"phase": "1"}) == pytest.approx(3.0)
    # db: three 0.25 s attempts plus backoffs of 0.5 and 1.0 s.
    assert get("phase_duration_seconds", {"phase": "2"}) == pytest.approx(2.25)
    assert get("phase_duration_seconds", {"phase": "3"}) == pytest.approx(0.5)
    assert get("phase_duration_seconds", {"phase": "4"}) is None  # no phase-4 components
    assert get("component_init_duration_seconds", {"component": "config"}) == pytest.approx(2.0)
    assert get("component_init_duration_seconds", {"component": "db"}) == pytest.approx(2.25)
    assert get("total_boot_time_seconds") == pytest.approx(5.75)
    assert get("initialization_errors_total", {"component": "db", "phase": "2"}) == 2.0
    assert get("initialization_errors_total", {"component": "env", "phase": "1"}) == 0.0
    for name in ("env", "config", "db", "api"):
        assert _status(registry, name) == _one_hot("running")


def test_status_after_a_failed_boot() -> None:
    journal = Journal()
    registry = CollectorRegistry()
    comps = [journal.comp("env", 1), journal.comp("net", 2, fail_first=5, retries=1), journal.comp("api", 3)]
    with pytest.raises(BootError):
        run(make_initializer(comps, registry=registry).run())
    assert _status(registry, "env") == _one_hot("rolled_back")
    assert _status(registry, "net") == _one_hot("failed")
    assert _status(registry, "api") == _one_hot("pending")
    assert registry.get_sample_value("initialization_errors_total", {"component": "net", "phase": "2"}) == 2.0
    assert registry.get_sample_value("total_boot_time_seconds") is not None


def test_status_after_shutdown() -> None:
    journal = Journal()
    registry = CollectorRegistry()
    init = make_initializer([journal.comp("env", 1)], registry=registry)

    async def main() -> None:
        await init.run()
        await init.shutdown()

    run(main())
    assert _status(registry, "env") == _one_hot("stopped")


def test_metrics_stay_off_the_global_registry_and_registries_are_independent() -> None:
    journal = Journal()
    first, second = CollectorRegistry(), CollectorRegistry()
    run(make_initializer([journal.comp("uniq-a", 1)], registry=first).run())
    run(make_initializer([journal.comp("uniq-b", 1)], registry=second).run())
    assert REGISTRY.get_sample_value("component_status", {"component": "uniq-a", "state": "running"}) is None
    assert first.get_sample_value("component_status", {"component": "uniq-a", "state": "running"}) == 1.0
    assert first.get_sample_value("component_status", {"component": "uniq-b", "state": "running"}) is None
    assert second.get_sample_value("component_status", {"component": "uniq-b", "state": "running"}) == 1.0


def test_boot_metrics_can_be_built_standalone() -> None:
    registry = CollectorRegistry()
    metrics = BootMetrics(registry)
    metrics.register("x", 2)
    metrics.count_error("x", 2)
    metrics.observe_phase(2, 1.25)
    assert registry.get_sample_value("initialization_errors_total", {"component": "x", "phase": "2"}) == 1.0
    assert registry.get_sample_value("phase_duration_seconds", {"phase": "2"}) == 1.25
