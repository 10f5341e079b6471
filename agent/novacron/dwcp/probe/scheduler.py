"""When to spend bytes on measuring a peer.

Pings are tiny and always useful (RTT), so they run on a fixed interval. A bandwidth probe costs
real capacity, so it only runs when the link is idle: while a migration is moving data its own
throughput samples are better and free. Sans-I/O: `now` (seconds, any monotonic origin) is
passed in, the caller sends what `poll` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from novacron_sdk.errors import InvalidInput

ProbeKind = Literal["ping", "bandwidth"]


@dataclass
class ProbeScheduler:
    """Per-peer probe timing. A fresh scheduler probes immediately (nothing is known yet)."""

    ping_interval_s: float = 1.0
    bandwidth_interval_s: float = 30.0
    idle_after_s: float = 5.0
    _last_ping: float | None = None
    _last_bw: float | None = None
    _last_transfer: float | None = None
    _bw_in_flight: bool = False

    def __post_init__(self) -> None:
        for name in ("ping_interval_s", "bandwidth_interval_s", "idle_after_s"):
            value = getattr(self, name)
            if not value > 0:
                raise InvalidInput(f"must be > 0, got {value}", field=name)

    def on_transfer_sample(self, now: float) -> None:
        """A real transfer just reported throughput: the link is busy, its own numbers count."""
        self.on_link_busy(now)
        self._last_bw = now  # a transfer sample is as good as a probe: restart the interval

    def on_link_busy(self, now: float) -> None:
        """Real traffic (a migration) is using the link, with no figure to offer: no probe for a while."""
        self._last_transfer = now

    def transfer_active(self, now: float) -> bool:
        return self._last_transfer is not None and now - self._last_transfer < self.idle_after_s

    def poll(self, now: float) -> list[ProbeKind]:
        """What is due at `now`. Calling it again without `on_sent` returns the same answer."""
        due: list[ProbeKind] = []
        if self._last_ping is None or now - self._last_ping >= self.ping_interval_s:
            due.append("ping")
        if (
            not self._bw_in_flight
            and not self.transfer_active(now)
            and (self._last_bw is None or now - self._last_bw >= self.bandwidth_interval_s)
        ):
            due.append("bandwidth")
        return due

    def on_sent(self, kind: ProbeKind, now: float) -> None:
        if kind == "ping":
            self._last_ping = now
        elif kind == "bandwidth":
            self._last_bw = now
            self._bw_in_flight = True
        else:
            raise InvalidInput(f"unknown probe kind {kind!r}", field="kind")

    def on_bandwidth_done(self) -> None:
        """The active bandwidth probe finished (or failed); the interval counts from its start."""
        self._bw_in_flight = False

    def next_due(self, now: float) -> float:
        """Earliest time something may become due, for the adapter's sleep."""
        candidates = [now if self._last_ping is None else self._last_ping + self.ping_interval_s]
        if not self._bw_in_flight:
            bw_at = now if self._last_bw is None else self._last_bw + self.bandwidth_interval_s
            if self._last_transfer is not None:
                bw_at = max(bw_at, self._last_transfer + self.idle_after_s)
            candidates.append(bw_at)
        return max(now, min(candidates))
