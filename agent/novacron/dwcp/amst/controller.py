"""How many TCP streams a channel needs: N = clamp(ceil(BDP / per_stream_window), min, max).

One TCP stream moves at most window/RTT, so filling a path of bandwidth B and round trip R needs
B*R/window streams. B comes from measured throughput (EWMA) or the PBA prediction, whichever is
larger. Measured throughput can never show capacity the current streams cannot reach: when every
stream runs window-limited (throughput >= 85% of N*window/RTT) the estimate is scaled up by
`probe_gain` so the count can grow; a probe that brought no more than 10% more throughput is not
repeated at that level (the bottleneck is elsewhere), which stops probe/shrink cycles. Hysteresis keeps the count from flapping: a new target must
differ by more than `hysteresis` (relative, at least 1 stream) for `confirm` samples in a row.
Units: bandwidth in bits per second (network convention), windows and BDP in bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from novacron.dwcp.amst.sender import MAX_SEGMENT, MIN_SEGMENT
from novacron_sdk.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Decision:
    target_streams: int
    changed: bool
    bdp_bytes: float
    segment_size: int
    reason: str


class StreamController:
    def __init__(
        self,
        *,
        min_streams: int = 4,
        max_streams: int = 64,
        per_stream_window: int = 4 << 20,
        initial: int | None = None,
        hysteresis: float = 0.2,
        confirm: int = 3,
        alpha: float = 0.3,
        probe_gain: float = 1.5,
    ) -> None:
        if not 1 <= min_streams <= max_streams:
            raise InvalidInput(
                f"need 1 <= min_streams <= max_streams, got {min_streams}..{max_streams}", field="min_streams"
            )
        if per_stream_window <= 0:
            raise InvalidInput(f"must be > 0 bytes, not {per_stream_window}", field="per_stream_window")
        if not 0 < alpha <= 1 or confirm < 1 or hysteresis < 0 or probe_gain < 1:
            raise InvalidInput(
                "need 0 < alpha <= 1, confirm >= 1, hysteresis >= 0, probe_gain >= 1", field="alpha"
            )
        self.min_streams, self.max_streams = min_streams, max_streams
        self.window = per_stream_window
        self.current = self._clamp(initial if initial is not None else min_streams)
        self.hysteresis, self.confirm, self.alpha, self.probe_gain = hysteresis, confirm, alpha, probe_gain
        self.throughput_bps: float | None = None
        self.rtt_s: float | None = None
        self.predicted_bps: float | None = None
        self._pending: tuple[int, int] | None = None  # (direction, samples in a row)
        self._probed_at: float | None = None  # throughput when we last grew by probing

    def set_predicted_bandwidth(self, bps: float | None) -> None:
        if bps is not None and (not math.isfinite(bps) or bps < 0):
            raise InvalidInput(f"must be a finite bit rate >= 0 or None, not {bps!r}", field="predicted_bps")
        self.predicted_bps = bps

    def on_sample(
        self, throughput_bps: float, rtt_s: float, *, predicted_bps: float | None = None
    ) -> Decision:
        if not math.isfinite(throughput_bps) or throughput_bps < 0:
            raise InvalidInput(
                f"must be a finite bit rate >= 0, not {throughput_bps!r}", field="throughput_bps"
            )
        if not math.isfinite(rtt_s) or rtt_s <= 0:
            raise InvalidInput(f"must be a finite time > 0 seconds, not {rtt_s!r}", field="rtt_s")
        if predicted_bps is not None:
            self.set_predicted_bandwidth(predicted_bps)
        a = self.alpha
        self.throughput_bps = (
            throughput_bps
            if self.throughput_bps is None
            else (self.throughput_bps + a * (throughput_bps - self.throughput_bps))
        )
        self.rtt_s = rtt_s if self.rtt_s is None else self.rtt_s + a * (rtt_s - self.rtt_s)
        bw, reason = self.throughput_bps, "measured"
        if self.predicted_bps is not None and self.predicted_bps > bw:
            bw, reason = self.predicted_bps, "predicted"
        ceiling_bps = self.current * self.window * 8 / self.rtt_s
        limited = self.throughput_bps >= 0.85 * ceiling_bps
        fresh = self._probed_at is None or self.throughput_bps > 1.1 * self._probed_at
        if limited and fresh and bw < self.probe_gain * self.throughput_bps:
            bw, reason = self.probe_gain * self.throughput_bps, "window-limited, probing"
        bdp = bw / 8 * self.rtt_s
        raw = self._clamp(math.ceil(bdp / self.window))
        changed = self._hysteresis(raw)
        if changed and reason.startswith("window-limited"):
            self._probed_at = self.throughput_bps
        seg = int(max(MIN_SEGMENT, min(MAX_SEGMENT, bdp / (2 * self.current))))
        return Decision(self.current, changed, bdp, seg, f"{reason}: bdp {bdp:.0f} B -> {raw} streams")

    def _hysteresis(self, raw: int) -> bool:
        band = max(1.0, self.hysteresis * self.current)
        if abs(raw - self.current) < band and raw not in (self.min_streams, self.max_streams):
            self._pending = None
            return False
        if raw == self.current:
            self._pending = None
            return False
        direction = 1 if raw > self.current else -1
        count = self._pending[1] + 1 if self._pending and self._pending[0] == direction else 1
        if count < self.confirm:
            self._pending = (direction, count)
            return False
        self._pending = None
        self.current = raw
        return True

    def _clamp(self, n: int) -> int:
        return max(self.min_streams, min(self.max_streams, n))
