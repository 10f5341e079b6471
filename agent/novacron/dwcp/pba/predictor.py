"""The predictor interface every PBA predictor implements (sans-I/O: samples and times in).

`observe(t_s, mbps)` feeds one measurement: the mean throughput over the interval that ends at
`t_s` (see grid.py). `predict(horizon_s, now_s=None)` forecasts the mean throughput over
`(now, now + horizon_s]`, where `now` defaults to the time of the last observation; passing a
later `now_s` lets a caller ask between measurements without a clock inside the predictor.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from novacron_sdk.errors import InvalidInput

HORIZONS_S: tuple[int, ...] = (1, 5, 30)


class BandwidthPredictor(ABC):
    """Streaming throughput predictor. Subclasses implement `_update` and `_forecast`."""

    name: str = "predictor"

    def __init__(self) -> None:
        self._t_last: float | None = None

    @property
    def last_time(self) -> float | None:
        return self._t_last

    def observe(self, t_s: float, mbps: float) -> None:
        if not math.isfinite(t_s):
            raise InvalidInput(f"must be finite, got {t_s}", field="t_s")
        if not (math.isfinite(mbps) and mbps >= 0):
            raise InvalidInput(f"must be finite and >= 0, got {mbps}", field="mbps")
        if self._t_last is not None and t_s < self._t_last:
            raise InvalidInput(f"time goes backwards ({t_s} after {self._t_last})", field="t_s")
        self._update(float(t_s), float(mbps))
        self._t_last = float(t_s)

    def predict(self, horizon_s: float, now_s: float | None = None) -> float:
        """Mean Mbit/s over (now, now + horizon_s]; 0.0 before any observation."""
        if not (math.isfinite(horizon_s) and horizon_s > 0):
            raise InvalidInput(f"must be finite and > 0, got {horizon_s}", field="horizon_s")
        if self._t_last is None:
            return 0.0
        gap = 0.0
        if now_s is not None:
            if not math.isfinite(now_s) or now_s < self._t_last:
                raise InvalidInput(f"must be >= the last observation time {self._t_last}", field="now_s")
            gap = now_s - self._t_last
        return max(0.0, self._forecast(float(horizon_s), gap))

    @abstractmethod
    def _update(self, t_s: float, mbps: float) -> None: ...

    @abstractmethod
    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        """Forecast for (t_last + gap, t_last + gap + horizon]."""
