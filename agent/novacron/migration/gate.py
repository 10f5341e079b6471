"""The switchover gate: QEMU's downtime limit, held down while the tunnel still owes the destination.

QEMU stops the guest once what it has left fits in (its bandwidth estimate x its downtime limit),
and it counts as sent every byte its socket took. Bytes the tunnel still holds at that moment (read
from the source QEMU, not yet taken by the destination QEMU) reach the guest only after the stop:
downtime QEMU cannot see (decisions.md: switchover-gate).

So the gate gives QEMU `base - time to drain the backlog`, never under `floor`: while the pipeline
is full (the first pass, a slow link), QEMU keeps iterating; once the backlog drains (QEMU sends
only what the guest dirties), it gets its whole share and switches over with an empty pipeline.
Sans-I/O: samples in, a limit out; the caller applies it (outgoing.py).
"""

from __future__ import annotations

GATE_FLOOR_MS = 10
# smoothing of the drain rate: the destination's pace moves with each pass and with the CPU
GATE_ALPHA = 0.3


class SwitchoverGate:
    def __init__(self, *, floor_ms: int = GATE_FLOOR_MS, alpha: float = GATE_ALPHA) -> None:
        if floor_ms < 1:
            raise ValueError("floor_ms must be >= 1")
        self.floor_ms = floor_ms
        self._alpha = alpha
        self._last: tuple[float, int] | None = None
        self.drain_bps = 0.0  # bytes/s the destination takes, smoothed
        self.backlog = 0  # bytes the destination has not yet taken

    def observe(self, t: float, undelivered: int, delivered: int) -> None:
        """One sample: seconds (any monotonic clock), the tunnel's backlog, bytes delivered so far."""
        self.backlog = max(0, undelivered)
        if self._last is not None and t > self._last[0]:
            rate = max(0.0, (delivered - self._last[1]) / (t - self._last[0]))
            self.drain_bps = rate if not self.drain_bps else self.drain_bps + self._alpha * (rate - self.drain_bps)
        self._last = (t, delivered)

    @property
    def drain_ms(self) -> float:
        """How long the destination needs for the backlog at its recent pace (inf: it takes nothing)."""
        if not self.backlog:
            return 0.0
        return self.backlog / self.drain_bps * 1000 if self.drain_bps > 0 else float("inf")

    def limit(self, base_ms: int) -> int:
        """QEMU's downtime limit for a share of `base_ms`."""
        return int(max(self.floor_ms, min(base_ms, base_ms - self.drain_ms)))
