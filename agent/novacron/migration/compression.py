"""Which zstd level a migration channel should use now, from how busy its encoder is (pure).

A stronger level pays only while the link is the bottleneck: then the encoder waits on the
link's back-pressure part of the time, and spending that time on a better ratio moves the
migration faster. When the encoder is busy nearly all the time it is the bottleneck (a slow
level, or the CPU shared with the guest), and a faster level moves more bytes. `busy` is the share
of wall time the encoder spent encoding: bytes encoded / its measured encode rate / interval.
"""

from __future__ import annotations

from novacron.errors import InvalidInput


class LevelController:
    def __init__(
        self, start: int = 1, *, lowest: int = 1, highest: int = 6, busy_high: float = 0.85,
        busy_low: float = 0.5, confirm: int = 2,
    ) -> None:  # fmt: skip
        if not lowest <= start <= highest:
            raise InvalidInput(f"need lowest <= start <= highest, got {lowest}, {start}, {highest}", field="start")
        if not 0 < busy_low < busy_high <= 1:
            raise InvalidInput("need 0 < busy_low < busy_high <= 1", field="busy_low")
        self.level, self.lowest, self.highest = start, lowest, highest
        self.busy_high, self.busy_low, self.confirm = busy_high, busy_low, confirm
        self._streak = 0  # samples in a row pointing the same way (+ up, - down)

    def on_sample(self, busy: float) -> int | None:
        """Feed one interval's busy share; returns the new level when it changes, else None."""
        if busy >= self.busy_high:
            self._streak = min(self._streak, 0) - 1
        elif busy <= self.busy_low:
            self._streak = max(self._streak, 0) + 1
        else:
            self._streak = 0
        if self._streak <= -self.confirm and self.level > self.lowest:
            self.level, self._streak = self.level - 1, 0
            return self.level
        if self._streak >= self.confirm and self.level < self.highest:
            self.level, self._streak = self.level + 1, 0
            return self.level
        return None


def busy_share(encoded_bytes: int, encode_rate: float | None, interval_s: float) -> float | None:
    """Share of `interval_s` an encoder running at `encode_rate` bytes/s needed for `encoded_bytes`."""
    if not encode_rate or interval_s <= 0:
        return None
    return min(1.0, encoded_bytes / encode_rate / interval_s)
