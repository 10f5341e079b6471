"""A thread-safe checkpoint of where boot is, so /health can answer at any moment.

The initializer writes it from the event loop; the HTTP server (possibly another thread) reads
`snapshot()`, which is a deep copy taken under a lock. Runtime checks call `mark_degraded` /
`mark_healthy` after boot to move the overall status without touching component states.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

from novacron.boot.phases import phase_name

ComponentState = Literal["pending", "starting", "retrying", "running", "failed", "rolled_back", "stopped"]
COMPONENT_STATES: tuple[ComponentState, ...] = (
    "pending",
    "starting",
    "retrying",
    "running",
    "failed",
    "rolled_back",
    "stopped",
)
HealthStatus = Literal["starting", "healthy", "degraded", "unhealthy"]
_Outcome = Literal["booting", "ready", "failed", "stopped"]
_IN_FLIGHT = ("starting", "retrying")


@dataclass
class _Entry:
    phase: int
    state: ComponentState = "pending"
    attempts: int = 0
    duration_s: float | None = None
    error: str | None = None


class BootProgress:
    """Status of the whole boot and of every component. All methods are safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._current: list[str] = []  # in-flight components, in the order they began
        self._phase: int | None = None
        self._outcome: _Outcome = "booting"
        self._boot_time_s: float | None = None
        self._degraded: dict[str, str] = {}

    # -- read side ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": self._status(),
                "phase": self._phase,
                "phase_name": phase_name(self._phase),
                "current": list(self._current),
                "components": {
                    name: {
                        "state": e.state,
                        "phase": e.phase,
                        "attempts": e.attempts,
                        "duration_s": e.duration_s,
                        "error": e.error,
                    }
                    for name, e in self._entries.items()
                },
                "boot_time_s": self._boot_time_s,
                "degraded": dict(self._degraded),
            }

    @property
    def status(self) -> HealthStatus:
        with self._lock:
            return self._status()

    def _status(self) -> HealthStatus:
        if self._outcome == "booting":
            return "starting"
        if self._outcome == "ready":
            return "degraded" if self._degraded else "healthy"
        return "unhealthy"

    # -- runtime health -----------------------------------------------------------------------

    def mark_degraded(self, component: str, reason: str) -> None:
        """Record that `component` (a boot component or any runtime check) is impaired."""
        with self._lock:
            self._degraded[component] = reason

    def mark_healthy(self, component: str) -> None:
        """Clear an earlier `mark_degraded`; unknown names are ignored."""
        with self._lock:
            self._degraded.pop(component, None)

    # -- written by the initializer -----------------------------------------------------------

    def register(self, name: str, phase: int) -> None:
        with self._lock:
            self._entries[name] = _Entry(phase=phase)

    def enter_phase(self, phase: int) -> None:
        with self._lock:
            self._phase = phase

    def set_state(
        self,
        name: str,
        state: ComponentState,
        *,
        attempts: int | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> None:
        """Move a component to `state`; fields are only replaced when given.

        The last error stays visible while a retry runs and is cleared once the component runs.
        """
        with self._lock:
            entry = self._entries[name]
            entry.state = state
            if error is not None:
                entry.error = error
            elif state == "running":
                entry.error = None
            if attempts is not None:
                entry.attempts = attempts
            if duration_s is not None:
                entry.duration_s = duration_s
            if state in _IN_FLIGHT:
                if name not in self._current:
                    self._current.append(name)
            elif name in self._current:
                self._current.remove(name)

    def boot_succeeded(self, boot_time_s: float) -> None:
        with self._lock:
            self._outcome = "ready"
            self._boot_time_s = boot_time_s

    def boot_failed(self, boot_time_s: float) -> None:
        with self._lock:
            self._outcome = "failed"
            self._boot_time_s = boot_time_s

    def shutting_down(self) -> None:
        """Report unhealthy from now on, so load balancers drain while components stop."""
        with self._lock:
            self._outcome = "stopped"
