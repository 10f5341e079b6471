"""Run the resolved levels: each level's components concurrently, with timeout, retry and rollback.

The failure contract is simple for the caller: `run()` either returns with every component
running, or raises BootError after stopping (in reverse start order) everything it had started.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CollectorRegistry

from novacron.boot.component import BootContext, Component
from novacron.boot.metrics import BootMetrics
from novacron.boot.phases import phase_name
from novacron.boot.progress import BootProgress, ComponentState
from novacron.boot.resolver import resolve

log = logging.getLogger("novacron.boot")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class BootError(Exception):
    """A component finally failed; everything started before it has been rolled back."""

    def __init__(self, component: str, phase: int, cause: BaseException) -> None:
        super().__init__(
            f"boot failed in phase {phase} ({phase_name(phase)}) at component '{component}': "
            f"{_describe(cause)}"
        )
        self.component = component
        self.phase = phase
        self.cause = cause


class ComponentTimeout(TimeoutError):
    """A start attempt did not finish within the component's `timeout_s`."""


class Initializer:
    """Boots components level by level. Raises BootGraphError at construction for a bad graph."""

    def __init__(
        self,
        components: Sequence[Component],
        ctx: BootContext,
        *,
        registry: CollectorRegistry,
        progress: BootProgress | None = None,
        clock: Clock = time.perf_counter,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.levels = resolve(components)
        self.ctx = ctx
        self.progress = progress if progress is not None else BootProgress()
        self.metrics = BootMetrics(registry)
        self._clock = clock
        self._sleep = sleep
        self._started: list[Component] = []  # in the order their start completed
        self._ran = False
        self._booting = False
        self._abort_reason = "cancelled: boot was cancelled"
        for level in self.levels:
            for comp in level:
                self.progress.register(comp.name, comp.phase)
                self.metrics.register(comp.name, comp.phase)

    @property
    def started(self) -> list[str]:
        """Names of the components currently started, in start order."""
        return [c.name for c in self._started]

    async def run(self) -> None:
        if self._ran:
            raise RuntimeError("Initializer.run() may only be called once")
        self._ran = True
        self._booting = True
        begin = self._clock()
        count = sum(len(level) for level in self.levels)
        log.info("boot: starting %d components in %d levels", count, len(self.levels))
        try:
            for phase, levels in itertools.groupby(self.levels, key=lambda level: level[0].phase):
                await self._run_phase(phase, list(levels))
        except BaseException as exc:
            elapsed = self._clock() - begin
            self.progress.boot_failed(elapsed)
            self.metrics.observe_boot(elapsed)
            log.error(
                "boot: %s; rolling back %d started components",
                exc if isinstance(exc, BootError) else f"aborted ({_describe(exc)})",
                len(self._started),
            )
            await self._stop_all("rolled_back")
            raise
        finally:
            self._booting = False
        elapsed = self._clock() - begin
        self.progress.boot_succeeded(elapsed)
        self.metrics.observe_boot(elapsed)
        log.info("boot: ready in %.3fs", elapsed)

    async def shutdown(self) -> None:
        """Stop every started component in reverse start order; stop errors are logged, not raised.

        Cancel the task running `run()` first if boot is still in progress (run rolls back itself).
        """
        if self._booting:
            raise RuntimeError("boot is in progress: cancel the run() task instead of calling shutdown()")
        self.progress.shutting_down()
        log.info("boot: shutting down %d components", len(self._started))
        await self._stop_all("stopped")

    # -- phases and levels --------------------------------------------------------------------

    async def _run_phase(self, phase: int, levels: list[list[Component]]) -> None:
        self.progress.enter_phase(phase)
        log.info("boot: phase %d (%s) begins", phase, phase_name(phase))
        begin = self._clock()
        try:
            for level in levels:
                await self._run_level(level)
        finally:
            seconds = self._clock() - begin
            self.metrics.observe_phase(phase, seconds)
        log.info("boot: phase %d (%s) done in %.3fs", phase, phase_name(phase), seconds)

    async def _run_level(self, level: list[Component]) -> None:
        tasks = [asyncio.create_task(self._start(comp), name=f"boot:{comp.name}") for comp in level]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            # Read every finished task's exception (so asyncio never warns it went unretrieved);
            # the first failure in declaration order is the one reported.
            errors = [t.exception() for t in tasks if t.done() and not t.cancelled()]
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                if isinstance(error, BootError):
                    self._abort_reason = f"cancelled: boot aborted after '{error.component}' failed"
                raise error
        finally:
            # On a sibling's failure or our own cancellation: stop the siblings still starting.
            unfinished = [t for t in tasks if not t.done()]
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.gather(*unfinished, return_exceptions=True)

    # -- one component ------------------------------------------------------------------------

    async def _start(self, comp: Component) -> None:
        begin = self._clock()
        attempt = 0
        try:
            while True:
                attempt += 1
                self._set_state(comp, "starting", attempts=attempt)
                try:
                    async with asyncio.timeout(comp.timeout_s) as deadline:
                        await comp.start(self.ctx)
                except Exception as exc:
                    cause: Exception = exc
                    if isinstance(exc, TimeoutError) and deadline.expired():
                        cause = ComponentTimeout(
                            f"start of '{comp.name}' did not finish within {comp.timeout_s:g}s"
                        )
                        cause.__cause__ = exc
                    self.metrics.count_error(comp.name, comp.phase)
                    if attempt >= comp.max_attempts:
                        seconds = self._clock() - begin
                        self._set_state(comp, "failed", duration_s=seconds, error=_describe(cause))
                        self.metrics.observe_component(comp.name, seconds)
                        raise BootError(comp.name, comp.phase, cause) from cause
                    delay = comp.retry_delay(attempt)
                    log.warning(
                        "boot: %s attempt %d/%d failed (%s); retrying in %.3fs",
                        comp.name,
                        attempt,
                        comp.max_attempts,
                        _describe(cause),
                        delay,
                    )
                    self._set_state(comp, "retrying", error=_describe(cause))
                    await self._sleep(delay)
                    continue
                break
        except asyncio.CancelledError:
            self._set_state(comp, "failed", duration_s=self._clock() - begin, error=self._abort_reason)
            raise
        seconds = self._clock() - begin
        self._started.append(comp)
        self._set_state(comp, "running", duration_s=seconds)
        self.metrics.observe_component(comp.name, seconds)
        log.info("boot: %s running after %d attempt(s) in %.3fs", comp.name, attempt, seconds)

    async def _stop_all(self, final: ComponentState) -> None:
        while self._started:
            comp = self._started.pop()  # popped first, so a second call never stops it twice
            error: str | None = None
            if comp.stop is not None:
                try:
                    async with asyncio.timeout(comp.timeout_s):
                        await comp.stop(self.ctx)
                except Exception as exc:
                    error = f"stop failed: {_describe(exc)}"
                    log.error("boot: stopping %s failed: %s", comp.name, _describe(exc), exc_info=exc)
            self._set_state(comp, final, error=error)
            log.info("boot: %s %s", comp.name, final.replace("_", " "))

    def _set_state(
        self,
        comp: Component,
        state: ComponentState,
        *,
        attempts: int | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> None:
        self.progress.set_state(comp.name, state, attempts=attempts, duration_s=duration_s, error=error)
        self.metrics.set_state(comp.name, state)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
