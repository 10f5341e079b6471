"""How hard a migration channel should compress now, from where its bottleneck is (pure).

The signal is the channel's back-pressure: how full its send window is on average. A full window
means the link is the bottleneck: time spent on a stronger zstd level costs nothing and each
saved byte moves the migration faster. An empty window means the producer side is (the encoder,
on a CPU shared with the guest): a faster level, or none at all (level 0: HDE sends frames
stored), moves more bytes. Why not HDE's own adaptive governor: its link-rate hint is the
channel's measured throughput, which compression itself limits, so it cannot tell the two apart.
"""

from __future__ import annotations

from novacron_sdk.errors import InvalidInput


class LevelController:
    def __init__(
        self, start: int = 1, *, lowest: int = 0, highest: int = 6, full: float = 0.5, empty: float = 0.15,
        confirm: int = 2,
    ) -> None:  # fmt: skip
        if not lowest <= start <= highest:
            raise InvalidInput(f"need lowest <= start <= highest, got {lowest}, {start}, {highest}", field="start")
        if not 0 <= empty < full <= 1:
            raise InvalidInput("need 0 <= empty < full <= 1", field="empty")
        self.level, self.lowest, self.highest = start, lowest, highest
        self.full, self.empty, self.confirm = full, empty, confirm
        self._streak = 0  # samples in a row pointing the same way (+ up, - down)

    def on_sample(self, fill: float) -> int | None:
        """Feed one interval's mean window fill (0..1); returns the new level when it changes."""
        if fill >= self.full:
            self._streak = max(self._streak, 0) + 1
        elif fill <= self.empty:
            self._streak = min(self._streak, 0) - 1
        else:
            self._streak = 0
        if self._streak >= self.confirm and self.level < self.highest:
            self.level, self._streak = self.level + 1, 0
            return self.level
        if self._streak <= -self.confirm and self.level > self.lowest:
            self.level, self._streak = self.level - 1, 0
            return self.level
        return None


class FillMeter:
    """Mean of window-fill samples taken between two reads."""

    def __init__(self) -> None:
        self._sum = 0.0
        self._n = 0

    def add(self, outstanding: int, window: int) -> None:
        self._sum += min(1.0, outstanding / window) if window > 0 else 0.0
        self._n += 1

    def take(self) -> float | None:
        if not self._n:
            return None
        mean = self._sum / self._n
        self._sum, self._n = 0.0, 0
        return mean
