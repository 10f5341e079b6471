"""Prometheus metrics of migrations, registered on the agent's registry.

`dwcp_bandwidth_utilization_percent` is the wire throughput as a share of the link's capacity as
far as the agent knows it: the migration's bandwidth limit when one is set, otherwise the highest
throughput the running migration has reached (what the link has been shown to carry).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class MigrationMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.utilization = Gauge(
            "dwcp_bandwidth_utilization_percent",
            "Wire throughput of the running migration as a share of the link capacity",
            registry=r,
        )
        self.compression_ratio = Gauge(
            "dwcp_compression_ratio", "Bytes into the DWCP tunnel per byte on the wire (last migration)", registry=r
        )
        self.total = Counter("novacron_migrations", "Finished migrations by result", ["result"], registry=r)
        self.active = Gauge("novacron_migrations_active", "Migrations in progress on this node", ["role"], registry=r)
        self.duration = Histogram(
            "novacron_migration_duration_seconds",
            "Duration of completed migrations",
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.bytes = Counter(
            "novacron_migration_bytes", "Bytes moved by migrations (stream: into the tunnel; wire)", ["kind"], registry=r
        )
        for result in ("completed", "failed", "cancelled"):
            self.total.labels(result=result)
        for role in ("source", "destination"):
            self.active.labels(role=role)

    def sample(self, throughput_bps: float, capacity_bps: float, ratio: float) -> None:
        if capacity_bps > 0:
            self.utilization.set(round(min(100.0, 100.0 * throughput_bps / capacity_bps), 1))
        self.compression_ratio.set(ratio)

    def finished(self, result: str, duration_s: float | None, bytes_in: int, bytes_wire: int) -> None:
        self.total.labels(result=result).inc()
        if result == "completed" and duration_s is not None:
            self.duration.observe(duration_s)
        self.bytes.labels(kind="stream").inc(bytes_in)
        self.bytes.labels(kind="wire").inc(bytes_wire)
        self.utilization.set(0)
