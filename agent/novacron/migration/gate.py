"""The switchover gate: QEMU's downtime limit, held down while the tunnel still owes the destination.

QEMU stops the guest once what it has left fits in (its bandwidth estimate x its downtime limit),
and it counts as sent every byte its socket took. Bytes the tunnel still holds at that moment (read
from the source QEMU, not yet taken by the destination QEMU) reach the guest only after the stop:
downtime QEMU cannot see. Measured with libvirt-driven multifd on the datacenter link: QEMU sent its
last page 39 ms after the stop, and the destination, still 350 ms behind, took until 384 ms.

So the gate gives QEMU `base - time to drain the backlog`, never under `floor`: while the pipeline
is full (the first pass, a slow link), QEMU keeps iterating; once the backlog drains (QEMU sends
only what the guest dirties), it gets its whole share and switches over with an empty pipeline.
Sans-I/O: samples in, a limit out; the caller applies it (outgoing.py).
"""

from __future__ import annotations

from collections import deque

GATE_FLOOR_MS = 10
# smoothing of the drain rate: the destination's pace moves with each pass and with the CPU
GATE_ALPHA = 0.3
# the span of the average that caps it: long enough to take a stall and its burst together
GATE_AVERAGE_S = 2.0


class SwitchoverGate:
    def __init__(self, *, floor_ms: int = GATE_FLOOR_MS, alpha: float = GATE_ALPHA) -> None:
        if floor_ms < 1:
            raise ValueError("floor_ms must be >= 1")
        self.floor_ms = floor_ms
        self._alpha = alpha
        self._history: deque[tuple[float, int]] = deque()  # (t, delivered) over the last GATE_AVERAGE_S
        self._last: tuple[float, int] | None = None
        self.recent_bps = 0.0  # bytes/s the destination takes, smoothed
        self.backlog = 0  # bytes the destination has not yet taken

    def observe(self, t: float, undelivered: int, delivered: int) -> None:
        """One sample: seconds (any monotonic clock), the tunnel's backlog, bytes delivered so far."""
        self.backlog = max(0, undelivered)
        if self._last is not None and t > self._last[0]:
            rate = max(0.0, (delivered - self._last[1]) / (t - self._last[0]))
            self.recent_bps = rate if not self.recent_bps else self.recent_bps + self._alpha * (rate - self.recent_bps)
        self._last = (t, delivered)
        if delivered > 0:  # from the first delivery on: the wait for QEMU's first bytes is not the pace
            self._history.append((t, delivered))
            while len(self._history) > 2 and t - self._history[1][0] >= GATE_AVERAGE_S:
                self._history.popleft()

    @property
    def drain_bps(self) -> float:
        """The pace the backlog is judged at: the recent one, but never above the average of the
        last GATE_AVERAGE_S.

        After a stall (a lost segment's recovery on a lossy link) the destination takes a burst:
        seen at 176 MB/s on a link that carries ~110, which made an 11.7 MB backlog look like 66 ms
        when it needed ~110 and let QEMU switch over early (437 ms of downtime). Averaged over
        seconds, the stall and its burst give the link's real pace; the smoothed recent pace still
        catches a slowdown at once."""
        if len(self._history) < 2:
            return self.recent_bps
        (t0, d0), (t1, d1) = self._history[0], self._history[-1]
        average = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        return min(self.recent_bps, average) if average > 0 else self.recent_bps

    @property
    def drain_ms(self) -> float:
        """How long the destination needs for the backlog at its pace (inf: it takes nothing)."""
        if not self.backlog:
            return 0.0
        bps = self.drain_bps
        return self.backlog / bps * 1000 if bps > 0 else float("inf")

    def limit(self, base_ms: int) -> int:
        """QEMU's downtime limit for a share of `base_ms`."""
        return int(max(self.floor_ms, min(base_ms, base_ms - self.drain_ms)))
