"""The initializer: concurrency inside a level, order across levels, retry, timeout, rollback, shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from novacron.boot import BootContext, BootError, Component, ComponentTimeout, Initializer
from tests.unit.boot.boot_testkit import (
    AGENT_GRAPH,
    FakeClock,
    Journal,
    RecordingSleep,
    make_initializer,
    never,
    run,
)


def test_siblings_in_a_level_start_concurrently() -> None:
    # Each waits for an event only the other sets: a sequential runner would time out.
    a_ready, b_ready = asyncio.Event(), asyncio.Event()

    async def a(ctx: BootContext) -> None:
        a_ready.set()
        await b_ready.wait()

    async def b(ctx: BootContext) -> None:
        b_ready.set()
        await a_ready.wait()

    init = make_initializer([Component("a", 2, a, timeout_s=5), Component("b", 2, b, timeout_s=5)])
    run(init.run())
    assert sorted(init.started) == ["a", "b"]


def test_every_component_starts_after_its_dependencies_and_its_earlier_phases() -> None:
    journal = Journal()

    async def yield_once(ctx: BootContext) -> None:
        await asyncio.sleep(0)

    comps = [journal.comp(name, phase, deps, body=yield_once) for name, phase, deps in AGENT_GRAPH]
    run(make_initializer(comps).run())
    events = journal.events
    phase_of = {name: phase for name, phase, _ in AGENT_GRAPH}
    for name, phase, deps in AGENT_GRAPH:
        begin = events.index(f"start:{name}")
        for dep in deps:
            assert events.index(f"up:{dep}") < begin, f"{name} started before {dep} was up"
        for other, other_phase in phase_of.items():
            if other_phase < phase:
                assert events.index(f"up:{other}") < begin, f"{name} started before phase {other_phase}"


def test_components_share_the_context() -> None:
    async def make_pool(ctx: BootContext) -> None:
        ctx.database = f"pool for {ctx.config['dsn']}"

    seen: list[str] = []

    async def use_pool(ctx: BootContext) -> None:
        seen.append(ctx.get("database"))

    ctx = BootContext(config={"dsn": "pg://x"})
    comps = [Component("database", 2, make_pool), Component("api", 3, use_pool, depends_on=("database",))]
    run(make_initializer(comps, ctx=ctx).run())
    assert seen == ["pool for pg://x"]


def test_retry_succeeds_after_failures_with_doubling_backoff() -> None:
    journal = Journal()
    sleep = RecordingSleep()
    flaky = journal.comp("db", 2, fail_first=3, retries=3, backoff_s=0.05)
    init = make_initializer([flaky], sleep=sleep)
    run(init.run())
    assert journal.of("start") == ["db"] * 4
    assert sleep.delays == pytest.approx([0.05, 0.1, 0.2])
    entry = init.progress.snapshot()["components"]["db"]
    assert (entry["state"], entry["attempts"], entry["error"]) == ("running", 4, None)


def test_exhausted_retries_raise_boot_error_with_the_last_cause() -> None:
    journal = Journal()
    sleep = RecordingSleep()
    init = make_initializer([journal.comp("db", 2, fail_first=99, retries=2)], sleep=sleep)
    with pytest.raises(BootError) as info:
        run(init.run())
    assert journal.of("start") == ["db"] * 3
    assert sleep.delays == pytest.approx([0.05, 0.1])
    assert str(info.value.cause) == "db failure 3"
    assert init.progress.snapshot()["components"]["db"]["attempts"] == 3


def test_timeout_counts_as_a_failed_attempt() -> None:
    init = make_initializer([Component("net", 2, never, timeout_s=0.01)])
    with pytest.raises(BootError) as info:
        run(init.run())
    assert isinstance(info.value.cause, ComponentTimeout)
    assert isinstance(info.value.cause, TimeoutError)
    assert "did not finish within 0.01s" in str(info.value.cause)
    assert "ComponentTimeout" in init.progress.snapshot()["components"]["net"]["error"]


def test_timed_out_attempt_is_retried() -> None:
    attempts = 0

    async def slow_then_fine(ctx: BootContext) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await never(ctx)

    init = make_initializer([Component("net", 2, slow_then_fine, timeout_s=0.01, retries=1)])
    run(init.run())
    assert attempts == 2
    assert init.progress.snapshot()["components"]["net"]["state"] == "running"


def test_a_components_own_timeout_error_is_not_reported_as_ours() -> None:
    async def raises_timeout(ctx: BootContext) -> None:
        raise TimeoutError("upstream DNS timed out")

    init = make_initializer([Component("dns", 1, raises_timeout)])
    with pytest.raises(BootError) as info:
        run(init.run())
    assert type(info.value.cause) is TimeoutError
    assert str(info.value.cause) == "upstream DNS timed out"


def test_boot_error_names_component_phase_and_cause() -> None:
    boom = OSError("disk full")

    async def fail(ctx: BootContext) -> None:
        raise boom

    init = make_initializer([Component("env", 1, lambda ctx: asyncio.sleep(0)), Component("cache", 2, fail)])
    with pytest.raises(BootError) as info:
        run(init.run())
    err = info.value
    assert (err.component, err.phase) == ("cache", 2)
    assert err.cause is boom and err.__cause__ is boom
    assert str(err) == "boot failed in phase 2 (core) at component 'cache': OSError: disk full"


def test_rollback_stops_only_started_components_in_reverse_start_order() -> None:
    journal = Journal()
    x_may_finish = asyncio.Event()

    async def wait_for_y(ctx: BootContext) -> None:
        await x_may_finish.wait()

    async def release_x(ctx: BootContext) -> None:
        x_may_finish.set()

    async def fail_after_x(ctx: BootContext) -> None:
        while "up:x" not in journal.events:
            await asyncio.sleep(0)

    comps = [
        journal.comp("env", 1),
        journal.comp("plain", 1, stop=False),  # no stop: still counted as rolled back
        journal.comp("x", 2, ("env",), body=wait_for_y),  # declared first, comes up second
        journal.comp("y", 2, ("env",), body=release_x),
        journal.comp("bad", 3, body=fail_after_x, fail_first=1),
        journal.comp("never_started", 4),
    ]
    init = make_initializer(comps)
    with pytest.raises(BootError, match="component 'bad'"):
        run(init.run())
    assert journal.of("up") == ["env", "plain", "y", "x"]
    assert journal.of("stop") == ["x", "y", "env"]
    states = {k: v["state"] for k, v in init.progress.snapshot()["components"].items()}
    assert states == {
        "env": "rolled_back",
        "plain": "rolled_back",
        "x": "rolled_back",
        "y": "rolled_back",
        "bad": "failed",
        "never_started": "pending",
    }
    assert init.started == []


def test_rollback_continues_past_a_failing_stop(caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal()
    comps = [
        journal.comp("a", 1),
        journal.comp("b", 1, ("a",), stop_error=RuntimeError("socket busy")),
        journal.comp("c", 2, fail_first=1),
    ]
    init = make_initializer(comps)
    with caplog.at_level(logging.ERROR, logger="novacron.boot"), pytest.raises(BootError):
        run(init.run())
    assert journal.of("stop") == ["b", "a"]
    entry = init.progress.snapshot()["components"]["b"]
    assert entry["state"] == "rolled_back"
    assert entry["error"] == "stop failed: RuntimeError: socket busy"
    assert any("stopping b failed" in r.getMessage() for r in caplog.records)


def test_a_failure_cancels_siblings_still_starting() -> None:
    journal = Journal()
    comps = [
        journal.comp("slow", 2, body=never, timeout_s=30),
        journal.comp("fast", 2),
        journal.comp("bad", 2, fail_first=1),
    ]
    init = make_initializer(comps)
    with pytest.raises(BootError) as info:
        run(init.run())
    assert info.value.component == "bad"
    assert journal.of("stop") == ["fast"]  # slow never came up, so it is not stopped
    slow = init.progress.snapshot()["components"]["slow"]
    assert slow["state"] == "failed"
    assert slow["error"] == "cancelled: boot aborted after 'bad' failed"


def test_cancelling_run_rolls_back_and_propagates() -> None:
    journal = Journal()
    hanging = asyncio.Event()

    async def hang(ctx: BootContext) -> None:
        hanging.set()
        await never(ctx)

    init = make_initializer([journal.comp("a", 1), journal.comp("b", 2, body=hang)])

    async def main() -> None:
        task = asyncio.create_task(init.run())
        await hanging.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert journal.of("stop") == ["a"]
    snap = init.progress.snapshot()
    assert snap["status"] == "unhealthy"
    assert snap["components"]["b"]["error"] == "cancelled: boot was cancelled"


def test_shutdown_stops_in_reverse_order_tolerating_errors_and_only_once() -> None:
    journal = Journal()
    comps = [
        journal.comp("a", 1),
        journal.comp("b", 2, stop_error=RuntimeError("stuck")),
        journal.comp("c", 3),
    ]
    init = make_initializer(comps)

    async def main() -> None:
        await init.run()
        await init.shutdown()
        await init.shutdown()

    run(main())
    assert journal.of("stop") == ["c", "b", "a"]
    snap = init.progress.snapshot()
    assert snap["status"] == "unhealthy"
    assert {k: v["state"] for k, v in snap["components"].items()} == {
        "a": "stopped",
        "b": "stopped",
        "c": "stopped",
    }
    assert snap["components"]["b"]["error"] == "stop failed: RuntimeError: stuck"


def test_a_hanging_stop_is_bounded_by_the_component_timeout() -> None:
    journal = Journal()

    async def start(ctx: BootContext) -> None:
        return None

    comps = [journal.comp("a", 1), Component("b", 2, start, never, timeout_s=0.01)]
    init = make_initializer(comps)

    async def main() -> None:
        await init.run()
        await init.shutdown()

    run(main())
    assert journal.of("stop") == ["a"]
    assert "TimeoutError" in init.progress.snapshot()["components"]["b"]["error"]


def test_run_only_once_and_no_shutdown_while_booting() -> None:
    started = asyncio.Event()

    async def hang(ctx: BootContext) -> None:
        started.set()
        await never(ctx)

    init = make_initializer([Component("a", 1, hang)])

    async def main() -> None:
        task = asyncio.create_task(init.run())
        await started.wait()
        with pytest.raises(RuntimeError, match="cancel the run"):
            await init.shutdown()
        with pytest.raises(RuntimeError, match="only be called once"):
            await init.run()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())


def test_no_components_boots_to_healthy() -> None:
    init = Initializer([], BootContext(), registry=CollectorRegistry())
    run(init.run())
    assert init.progress.snapshot()["status"] == "healthy"


def test_durations_come_from_the_injected_clock() -> None:
    clock = FakeClock()

    async def takes_two_seconds(ctx: BootContext) -> None:
        clock.advance(2.0)

    init = make_initializer([Component("a", 1, takes_two_seconds)], clock=clock)
    run(init.run())
    snap = init.progress.snapshot()
    assert snap["components"]["a"]["duration_s"] == 2.0
    assert snap["boot_time_s"] == 2.0
