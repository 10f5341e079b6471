"""BootProgress tells /health where boot is at every moment, from any thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from novacron.boot import BootContext, BootError, BootProgress, Component
from tests.unit.boot.boot_testkit import FakeClock, Journal, RecordingSleep, make_initializer, run


def test_before_boot_everything_is_pending() -> None:
    journal = Journal()
    progress = BootProgress()
    init = make_initializer([journal.comp("env", 1), journal.comp("db", 2)], progress=progress)
    assert init.progress is progress
    snap = progress.snapshot()
    assert (snap["status"], snap["phase"], snap["phase_name"], snap["current"]) == (
        "starting",
        None,
        "not-started",
        [],
    )
    assert snap["boot_time_s"] is None
    assert snap["components"]["db"] == {
        "state": "pending",
        "phase": 2,
        "attempts": 0,
        "duration_s": None,
        "error": None,
    }


def test_snapshot_during_boot_shows_phase_current_and_states() -> None:
    journal = Journal()
    seen: dict[str, Any] = {}
    monitoring_may_finish = asyncio.Event()
    progress = BootProgress()

    async def api_body(ctx: BootContext) -> None:
        await asyncio.sleep(0)  # let the sibling begin
        # /health runs on another thread: read from one.
        seen.update(await asyncio.to_thread(progress.snapshot))
        monitoring_may_finish.set()

    async def monitoring_body(ctx: BootContext) -> None:
        await monitoring_may_finish.wait()

    comps = [
        journal.comp("config", 1),
        journal.comp("database", 2),
        journal.comp("api", 3, body=api_body),
        journal.comp("monitoring", 3, body=monitoring_body),
        journal.comp("ready", 4),
    ]
    run(make_initializer(comps, progress=progress).run())
    assert seen["status"] == "starting"
    assert (seen["phase"], seen["phase_name"]) == (3, "services")
    assert seen["current"] == ["api", "monitoring"]
    states = {k: v["state"] for k, v in seen["components"].items()}
    assert states == {
        "config": "running",
        "database": "running",
        "api": "starting",
        "monitoring": "starting",
        "ready": "pending",
    }
    assert seen["components"]["api"]["attempts"] == 1
    assert seen["boot_time_s"] is None


def test_retrying_state_and_last_error_are_visible_between_attempts() -> None:
    journal = Journal()
    progress = BootProgress()
    during_backoff: list[dict[str, Any]] = []
    sleep = RecordingSleep(on_sleep=lambda: during_backoff.append(progress.snapshot()))
    comp = journal.comp("cache", 2, fail_first=1, retries=1)
    run(make_initializer([comp], progress=progress, sleep=sleep).run())
    (snap,) = during_backoff
    assert snap["current"] == ["cache"]
    assert snap["components"]["cache"]["state"] == "retrying"
    assert snap["components"]["cache"]["attempts"] == 1
    assert snap["components"]["cache"]["error"] == "RuntimeError: cache failure 1"
    after = progress.snapshot()["components"]["cache"]
    assert (after["state"], after["attempts"], after["error"]) == ("running", 2, None)


def test_after_success_status_is_healthy_with_boot_time() -> None:
    clock = FakeClock()

    async def one_second(ctx: BootContext) -> None:
        clock.advance(1.5)

    comps = [Component("env", 1, one_second), Component("ready", 4, one_second)]
    init = make_initializer(comps, clock=clock)
    run(init.run())
    snap = init.progress.snapshot()
    assert snap["status"] == "healthy"
    assert (snap["phase"], snap["phase_name"]) == (4, "post-init")
    assert snap["current"] == []
    assert snap["boot_time_s"] == 3.0
    assert {v["state"] for v in snap["components"].values()} == {"running"}
    assert snap["components"]["ready"]["duration_s"] == 1.5


def test_after_failure_status_is_unhealthy_and_names_the_failure() -> None:
    journal = Journal()
    comps = [journal.comp("env", 1), journal.comp("security", 2, fail_first=1), journal.comp("api", 3)]
    init = make_initializer(comps)
    with pytest.raises(BootError):
        run(init.run())
    snap = init.progress.snapshot()
    assert snap["status"] == "unhealthy"
    assert (snap["phase"], snap["phase_name"]) == (2, "core")
    assert snap["boot_time_s"] is not None
    assert snap["components"]["security"]["state"] == "failed"
    assert snap["components"]["security"]["error"] == "RuntimeError: security failure 1"
    assert snap["components"]["env"]["state"] == "rolled_back"
    assert snap["components"]["api"]["state"] == "pending"


def test_runtime_checks_degrade_and_restore_health() -> None:
    progress = BootProgress()
    progress.register("db", 2)
    progress.mark_degraded("db", "replica lag 30s")
    assert progress.status == "starting"  # boot not finished: still starting
    progress.boot_succeeded(1.0)
    snap = progress.snapshot()
    assert snap["status"] == "degraded"
    assert snap["degraded"] == {"db": "replica lag 30s"}
    progress.mark_degraded("disk", "90% full")  # not a boot component: allowed
    progress.mark_healthy("db")
    assert progress.status == "degraded"
    progress.mark_healthy("disk")
    progress.mark_healthy("never-marked")
    assert progress.snapshot()["status"] == "healthy"
    assert progress.snapshot()["degraded"] == {}


def test_snapshot_is_a_copy() -> None:
    progress = BootProgress()
    progress.register("db", 2)
    snap = progress.snapshot()
    snap["components"]["db"]["state"] = "running"
    snap["current"].append("x")
    assert progress.snapshot()["components"]["db"]["state"] == "pending"
    assert progress.snapshot()["current"] == []


def test_concurrent_readers_and_writer() -> None:
    progress = BootProgress()
    names = [f"c{i}" for i in range(20)]
    for name in names:
        progress.register(name, 1)
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            snap = progress.snapshot()
            # "current" must always agree with the states in the same snapshot.
            in_flight = [n for n, e in snap["components"].items() if e["state"] in ("starting", "retrying")]
            if sorted(snap["current"]) != sorted(in_flight):
                problems.append(f"current {snap['current']} vs states {in_flight}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for round_ in range(200):
            for name in names:
                progress.set_state(name, "starting", attempts=round_ + 1)
            for name in names:
                progress.set_state(name, "running", duration_s=0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == []
