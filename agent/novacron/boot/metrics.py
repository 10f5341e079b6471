"""Prometheus series for boot, on a registry the caller owns (never the global one).

Owning the registry keeps tests isolated and lets the agent expose boot series next to its own.
The `phase` label is the phase number as a string ("1".."4"), matching BootError.phase.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from novacron.boot.progress import COMPONENT_STATES, ComponentState


class BootMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.phase_duration = Gauge(
            "phase_duration_seconds", "Wall time each boot phase took.", ["phase"], registry=registry
        )
        self.component_init_duration = Gauge(
            "component_init_duration_seconds",
            "Time from a component's first start attempt until it ran or finally failed.",
            ["component"],
            registry=registry,
        )
        self.total_boot_time = Gauge(
            "total_boot_time_seconds", "Time the whole boot took (until ready or failed).", registry=registry
        )
        self.component_status = Gauge(
            "component_status",
            "1 for the component's current state, 0 for every other state.",
            ["component", "state"],
            registry=registry,
        )
        self.initialization_errors = Counter(
            "initialization_errors",
            "Failed start attempts (timeouts included), retried or not.",
            ["component", "phase"],
            registry=registry,
        )

    def register(self, component: str, phase: int) -> None:
        """Create the component's series up front so dashboards see zeros, not gaps."""
        self.set_state(component, "pending")
        self.initialization_errors.labels(component=component, phase=str(phase))

    def set_state(self, component: str, state: ComponentState) -> None:
        for candidate in COMPONENT_STATES:
            self.component_status.labels(component=component, state=candidate).set(
                1 if candidate == state else 0
            )

    def count_error(self, component: str, phase: int) -> None:
        self.initialization_errors.labels(component=component, phase=str(phase)).inc()

    def observe_component(self, component: str, seconds: float) -> None:
        self.component_init_duration.labels(component=component).set(seconds)

    def observe_phase(self, phase: int, seconds: float) -> None:
        self.phase_duration.labels(phase=str(phase)).set(seconds)

    def observe_boot(self, seconds: float) -> None:
        self.total_boot_time.set(seconds)
