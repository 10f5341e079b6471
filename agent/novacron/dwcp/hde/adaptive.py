"""Decides per frame whether compressing pays, from rates the adapter feeds in (no clocks here).

Compression and sending overlap in the pipeline, so compressing pays while the encoder keeps up with
the link: skip it when the measured encode throughput is below the link rate, or when recent frames
barely shrank. While skipping, one frame in `probe_every` is still compressed so the estimates stay
fresh and the encoder can switch back when the link slows down.
"""

from __future__ import annotations

from typing import Literal

from novacron_sdk.errors import InvalidInput

Mode = Literal["adaptive", "always", "never"]
MODES = ("adaptive", "always", "never")


class CompressionGovernor:
    def __init__(
        self, mode: str = "adaptive", *, probe_every: int = 16, alpha: float = 0.3, min_gain: float = 0.05
    ) -> None:
        self.mode: str = check_mode(mode)
        self.link_rate: float | None = None  # bytes/s
        self.encode_rate: float | None = None  # bytes/s while compressing, EWMA
        self.ratio = 0.5  # wire/payload of compressed frames, EWMA; optimistic until measured
        self._probe_every = probe_every
        self._alpha = alpha
        self._min_gain = min_gain
        self._skipped = 0

    def set_link_rate(self, bytes_per_s: float | None) -> None:
        if bytes_per_s is not None and not bytes_per_s > 0:
            raise InvalidInput(f"must be > 0 bytes/s or None, not {bytes_per_s!r}", field="link_rate")
        self.link_rate = bytes_per_s

    def should_compress(self) -> bool:
        if self.mode != "adaptive":
            return self.mode == "always"
        pays = self.ratio < 1.0 - self._min_gain
        if pays and (
            self.link_rate is None or self.encode_rate is None or self.encode_rate >= self.link_rate
        ):
            self._skipped = 0
            return True
        self._skipped += 1
        if self._skipped >= self._probe_every:
            self._skipped = 0
            return True
        return False

    def observe_ratio(self, payload_len: int, wire_len: int) -> None:
        if payload_len:
            self.ratio += self._alpha * (min(wire_len / payload_len, 1.0) - self.ratio)

    def observe_rate(self, nbytes: int, seconds: float) -> None:
        if nbytes <= 0 or seconds <= 0:
            return
        rate = nbytes / seconds
        self.encode_rate = (
            rate if self.encode_rate is None else self.encode_rate + self._alpha * (rate - self.encode_rate)
        )


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(f"must be one of {', '.join(MODES)}, not {mode!r}", field="mode")
    return mode
