"""Helpers shared by the boot tests: a journal of start/stop calls, a manual clock, a recording sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry

from novacron.boot import BootContext, BootProgress, Component, Initializer

Body = Callable[[BootContext], Awaitable[None]]


class FakeClock:
    """A clock that only moves when a test (or a component) says so, so durations are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """Stands in for asyncio.sleep: records each backoff delay and optionally moves a FakeClock."""

    def __init__(self, clock: FakeClock | None = None, on_sleep: Callable[[], None] | None = None) -> None:
        self.delays: list[float] = []
        self._clock = clock
        self._on_sleep = on_sleep

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self._on_sleep is not None:
            self._on_sleep()
        if self._clock is not None:
            self._clock.advance(delay)
        await asyncio.sleep(0)


class Journal:
    """Builds components whose start/stop append "start:x" / "stop:x" to `events`."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def comp(
        self,
        name: str,
        phase: int = 1,
        depends_on: tuple[str, ...] = (),
        *,
        body: Body | None = None,
        fail_first: int = 0,
        stop: bool = True,
        stop_error: BaseException | None = None,
        **kwargs: Any,
    ) -> Component:
        calls = 0

        async def start(ctx: BootContext) -> None:
            nonlocal calls
            calls += 1
            self.events.append(f"start:{name}")
            if body is not None:
                await body(ctx)
            if calls <= fail_first:
                raise RuntimeError(f"{name} failure {calls}")
            self.events.append(f"up:{name}")

        async def do_stop(ctx: BootContext) -> None:
            self.events.append(f"stop:{name}")
            if stop_error is not None:
                raise stop_error

        return Component(name, phase, start, do_stop if stop else None, depends_on=depends_on, **kwargs)

    def of(self, kind: str) -> list[str]:
        return [e.split(":", 1)[1] for e in self.events if e.startswith(f"{kind}:")]


def make_initializer(
    components: list[Component],
    *,
    ctx: BootContext | None = None,
    registry: CollectorRegistry | None = None,
    progress: BootProgress | None = None,
    clock: FakeClock | None = None,
    sleep: RecordingSleep | None = None,
) -> Initializer:
    return Initializer(
        components,
        ctx if ctx is not None else BootContext(),
        registry=registry if registry is not None else CollectorRegistry(),
        progress=progress,
        clock=clock if clock is not None else FakeClock(),
        sleep=sleep if sleep is not None else RecordingSleep(),
    )


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def never(ctx: BootContext) -> None:
    """A start that hangs until cancelled (by a timeout or an aborted boot)."""
    await asyncio.Event().wait()


# The agent's boot graph as the issue describes it: (name, phase, depends_on).
AGENT_GRAPH: list[tuple[str, int, tuple[str, ...]]] = [
    ("environment", 1, ()),
    ("config", 1, ("environment",)),
    ("logging", 1, ("config",)),
    ("resources", 1, ("environment",)),
    ("security", 2, ("config",)),
    ("database", 2, ("security",)),
    ("cache", 2, ("security",)),
    ("network", 2, ("security",)),
    ("dwcp", 2, ("network", "cache")),
    ("orchestration", 3, ("database", "dwcp")),
    ("api", 3, ("security",)),
    ("monitoring", 3, ("logging",)),
    ("health", 4, ("api",)),
    ("metrics", 4, ("monitoring",)),
    ("ready", 4, ("health", "metrics")),
]
AGENT_LEVELS = [
    ["environment"],
    ["config", "resources"],
    ["logging"],
    ["security"],
    ["database", "cache", "network"],
    ["dwcp"],
    ["orchestration", "api", "monitoring"],
    ["health", "metrics"],
    ["ready"],
]
