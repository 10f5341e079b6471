"""Classical baselines: last value, EWMA, harmonic mean of the last 5 samples, Holt.

They work per sample (not per second), as they are used in ABR and congestion-control practice;
only Holt needs time, because its trend is kept in Mbit/s per second so it can be projected over
a horizon given in seconds. Smoothing constants were picked by a small grid search on the
TRAINING split of the shared traces (benchmarks/pba.py --tune-baselines) and are fixed here.
"""

from __future__ import annotations

from collections import deque

from novacron.dwcp.pba.predictor import BandwidthPredictor
from novacron_sdk.errors import InvalidInput

EWMA_ALPHA = 0.3
HOLT_ALPHA = 0.5
HOLT_BETA = 0.05


def _check_fraction(value: float, field: str) -> float:
    if not 0.0 < value <= 1.0:
        raise InvalidInput(f"must be in (0, 1], got {value}", field=field)
    return value


class LastValue(BandwidthPredictor):
    name = "last"

    def __init__(self) -> None:
        super().__init__()
        self._v = 0.0

    def _update(self, t_s: float, mbps: float) -> None:
        self._v = mbps

    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        return self._v


class Ewma(BandwidthPredictor):
    """s <- alpha * v + (1 - alpha) * s, started at the first sample."""

    name = "ewma"

    def __init__(self, alpha: float = EWMA_ALPHA) -> None:
        super().__init__()
        self.alpha = _check_fraction(alpha, "alpha")
        self._s: float | None = None

    def _update(self, t_s: float, mbps: float) -> None:
        self._s = mbps if self._s is None else self.alpha * mbps + (1.0 - self.alpha) * self._s

    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        return self._s or 0.0


class HarmonicMean(BandwidthPredictor):
    """n / sum(1/v) over the last n samples (fewer at the start); any zero sample gives 0, the
    limit of the formula, which is what makes the harmonic mean conservative."""

    name = "hm5"

    def __init__(self, n: int = 5) -> None:
        super().__init__()
        if n < 1:
            raise InvalidInput(f"must be >= 1, got {n}", field="n")
        self._window: deque[float] = deque(maxlen=n)

    def _update(self, t_s: float, mbps: float) -> None:
        self._window.append(mbps)

    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        if any(v <= 0.0 for v in self._window):
            return 0.0
        return len(self._window) / sum(1.0 / v for v in self._window)


class Holt(BandwidthPredictor):
    """Double exponential smoothing with the trend in Mbit/s per second.

    level <- a*v + (1-a)*(level + trend*dt); trend <- b*(level - level_prev)/dt + (1-b)*trend,
    initialised exactly from the first two samples (so a straight ramp is tracked exactly).
    The forecast of the mean over (now, now+h] is level + trend * (gap + h/2)."""

    name = "holt"

    def __init__(self, alpha: float = HOLT_ALPHA, beta: float = HOLT_BETA) -> None:
        super().__init__()
        self.alpha = _check_fraction(alpha, "alpha")
        self.beta = _check_fraction(beta, "beta")
        self._level = 0.0
        self._trend = 0.0
        self._n = 0
        self._t = 0.0

    def _update(self, t_s: float, mbps: float) -> None:
        dt = t_s - self._t
        if self._n == 0:
            self._level = mbps
        elif self._n == 1 and dt > 0:
            self._trend = (mbps - self._level) / dt
            self._level = mbps
        elif dt > 0:
            prev = self._level
            self._level = self.alpha * mbps + (1.0 - self.alpha) * (prev + self._trend * dt)
            self._trend = self.beta * (self._level - prev) / dt + (1.0 - self.beta) * self._trend
        else:  # same timestamp: refine the level, keep the trend
            self._level = self.alpha * mbps + (1.0 - self.alpha) * self._level
            return
        self._n += 1
        self._t = t_s

    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        return self._level + self._trend * (gap_s + horizon_s / 2.0)


BASELINES: dict[str, type[BandwidthPredictor]] = {c.name: c for c in (LastValue, Ewma, HarmonicMean, Holt)}
