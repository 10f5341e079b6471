"""Migration progress from two sources: libvirt's job statistics (what QEMU has sent of the guest's
memory, how fast the guest dirties it, the throttle) and the DWCP tunnel's counters (bytes that
entered the tunnel and bytes it put on the wire). Pure: the caller samples both and passes times.

The ETA divides what QEMU still has to send by the throughput the bandwidth predictor expects for
the next seconds (a smoothed rate when no predictor is available); while the guest dirties memory
faster than that, there is no honest ETA and it is left empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novacron_sdk.models.migration import MigrationProgress


@dataclass(frozen=True)
class TunnelStats:
    """Summed over every channel of one migration."""

    bytes_in: int = 0
    bytes_on_wire: int = 0
    streams: int = 0

    @property
    def ratio(self) -> float:
        return self.bytes_in / self.bytes_on_wire if self.bytes_on_wire else 1.0


class ProgressTracker:
    """Feeds on (time, job stats, tunnel stats) samples; `progress` is the latest view."""

    def __init__(self, predictor: Any = None, *, alpha: float = 0.4) -> None:
        self._predictor = predictor
        self._alpha = alpha
        self._t0: float | None = None
        self._last: tuple[float, int, int] | None = None  # (t, bytes_in, bytes_on_wire)
        self._rate_in: float | None = None  # bytes/s into the tunnel, smoothed
        self.peak_wire_bps = 0.0
        self.peak_throttle = 0
        self.progress = MigrationProgress()

    @property
    def rate_in(self) -> float:
        """Bytes/s of QEMU's stream entering the tunnel, smoothed (0 before two samples)."""
        return self._rate_in or 0.0

    def sample(self, t: float, job: dict[str, Any] | None, tunnel: TunnelStats) -> MigrationProgress:
        if self._t0 is None:
            self._t0 = t
        wire_bps = 0.0
        if self._last is not None and t > self._last[0]:
            dt = t - self._last[0]
            rate_in = (tunnel.bytes_in - self._last[1]) / dt
            wire_bps = (tunnel.bytes_on_wire - self._last[2]) * 8 / dt
            self._rate_in = rate_in if self._rate_in is None else self._rate_in + self._alpha * (
                rate_in - self._rate_in
            )
            if self._predictor is not None:
                self._predictor.observe(t, max(rate_in, 0.0) * 8 / 1e6)
        self._last = (t, tunnel.bytes_in, tunnel.bytes_on_wire)
        self.peak_wire_bps = max(self.peak_wire_bps, wire_bps)
        job = job or {}
        page = int(job.get("memory_page_size") or 4096)
        dirty_bps = float(job.get("memory_dirty_rate") or 0) * page * 8
        remaining = int(job.get("memory_remaining") or job.get("data_remaining") or 0)
        self.peak_throttle = max(self.peak_throttle, int(job.get("auto_converge_throttle") or 0))
        prev = self.progress
        self.progress = MigrationProgress(
            bytes_total=int(job.get("memory_total") or job.get("data_total") or prev.bytes_total),
            bytes_sent=max(tunnel.bytes_in, prev.bytes_sent),
            bytes_on_wire=max(tunnel.bytes_on_wire, prev.bytes_on_wire),
            compression_ratio=round(tunnel.ratio, 3),
            dirty_rate_bps=dirty_bps,
            throughput_bps=round(wire_bps, 1),
            streams=tunnel.streams,
            eta_s=self._eta(remaining, dirty_bps),
            downtime_ms=prev.downtime_ms,
            bytes_remaining=remaining,
            iteration=int(job.get("memory_iteration") or prev.iteration),
            throttle_percent=int(job.get("auto_converge_throttle") or 0),
            elapsed_s=round(t - self._t0, 3),
        )
        return self.progress

    def _eta(self, remaining: int, dirty_bps: float) -> float | None:
        rate = None
        if self._predictor is not None and self._last is not None:
            predicted = self._predictor.predict(5.0) * 1e6 / 8
            rate = predicted if predicted > 0 else None
        if rate is None:
            rate = self._rate_in
        if not rate or rate * 8 <= dirty_bps:
            return None
        return round(remaining / (rate - dirty_bps / 8), 1) if remaining else 0.0

    def finish(self, completed: dict[str, Any] | None, tunnel: TunnelStats) -> MigrationProgress:
        """Final figures: libvirt's completed-job statistics (downtime as the destination saw it)."""
        p = self.progress.model_copy()
        c = completed or {}
        downtime = c.get("downtime")
        p.downtime_ms = float(downtime) if downtime is not None else p.downtime_ms
        p.bytes_total = int(c.get("memory_total") or p.bytes_total)
        p.bytes_sent = max(tunnel.bytes_in, p.bytes_sent)
        p.bytes_on_wire = max(tunnel.bytes_on_wire, p.bytes_on_wire)
        p.compression_ratio = round(tunnel.ratio, 3)
        p.bytes_remaining = 0
        p.eta_s = 0.0
        p.throttle_percent = self.peak_throttle  # once finished: the most guest CPU it took
        if "time_elapsed" in c:
            p.elapsed_s = round(float(c["time_elapsed"]) / 1000, 3)
        self.progress = p
        return p
