"""Inputs of the sequence model, shared verbatim by training (batch) and the agent (stream).

The GRU reads one row per MEASUREMENT, not per second: a link reports samples at its own pace
(0.1 s to 5 s apart), and the spacing itself is information (back-to-back transfers, idle gaps).
Each row holds the log value, its change, the log spacing, a first-sample flag, the value's log
ratio to the reference level and the age of the trace. A forecast is asked at some time after
the last sample; the head gets the hidden state plus how long ago that sample was (the "gap")
and the log reference level.

The reference level `ref` is the EWMA baseline itself (alpha = baselines.EWMA_ALPHA): the model
outputs per-horizon log ratios to it, so an untrained or zero head is exactly the fallback.
Nothing names a data set: a link only knows its own samples and their timing.
"""

from __future__ import annotations

import math

import numpy as np

from novacron.dwcp.pba.baselines import EWMA_ALPHA

EPS = 0.01  # Mbit/s: floor inside logs, so zero-throughput samples stay finite
AGE_CAP_S = 3600.0
GAP_CAP_S = 10.0
N_IN = 6
N_DEC = 3
# The absolute level enters only as log(level) clipped at LEVEL_CAP_MBPS, just above the fastest
# sample of the training traces (23.6 Mbit/s): a 10 Gbit/s migration link then reads as a fast
# link of the known kind, and since every other input and the output are ratios, its forecasts
# still scale with its own level instead of extrapolating the net far outside its training data.
LEVEL_CAP_MBPS = 25.0
_LOG_CAP = math.log(LEVEL_CAP_MBPS + EPS)


def _row(lv: float, lv_prev: float | None, dt: float, ref: float, age: float) -> list[float]:
    first = lv_prev is None
    return [
        min(lv, _LOG_CAP),
        0.0 if first else lv - lv_prev,  # type: ignore[operator]
        math.log(min(max(dt, 0.01), 60.0)),
        1.0 if first else 0.0,
        lv - math.log(ref + EPS),
        math.log1p(min(max(age, 0.0), AGE_CAP_S)),
    ]


def sample_inputs(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, ref) for every sample of a trace: x is (n, N_IN), ref (n,) the EWMA after sample i."""
    n = len(t)
    ref = np.empty(n)
    if n:
        s = float(v[0])
        ref[0] = s
        a = EWMA_ALPHA
        for i, vi in enumerate(v[1:].tolist(), start=1):
            s = a * vi + (1.0 - a) * s
            ref[i] = s
    lv = np.log(v + EPS)
    dt = np.ones(n)
    dt[1:] = np.diff(t)
    x = np.empty((n, N_IN))
    x[:, 0] = np.minimum(lv, _LOG_CAP)
    x[:, 1] = 0.0
    x[1:, 1] = np.diff(lv)
    x[:, 2] = np.log(np.clip(dt, 0.01, 60.0))
    x[:, 3] = 0.0
    x[:1, 3] = 1.0
    x[:, 4] = lv - np.log(ref + EPS)
    x[:, 5] = np.log1p(np.clip(t - t[0] if n else t, 0.0, AGE_CAP_S))
    return x, ref


class SampleStream:
    """The same rows as `sample_inputs`, one observation at a time."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.t_last = 0.0
        self.lv_last: float | None = None
        self.dt_last = 1.0
        self.ref = 0.0

    def push(self, t: float, v: float) -> np.ndarray:
        lv = math.log(v + EPS)
        if self.t0 is None:
            self.t0, dt, self.ref = t, 1.0, v
        else:
            dt = t - self.t_last
            self.ref = EWMA_ALPHA * v + (1.0 - EWMA_ALPHA) * self.ref
        row = _row(lv, self.lv_last, dt, self.ref, t - self.t0)
        self.t_last, self.lv_last, self.dt_last = t, lv, dt
        return np.asarray(row)


def decision_inputs(gap: np.ndarray, dt_last: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(n, N_DEC): time since the last sample (log and relative to the last spacing), log ref."""
    gap = np.clip(np.asarray(gap, dtype=np.float64), 0.0, GAP_CAP_S)
    return np.stack(
        [
            np.log1p(gap),
            np.minimum(gap / np.maximum(dt_last, 0.01), 4.0),
            np.minimum(np.log(np.asarray(ref, dtype=np.float64) + EPS), _LOG_CAP),
        ],
        axis=1,
    )
