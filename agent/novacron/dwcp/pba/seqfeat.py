"""Inputs of the sequence model, shared verbatim by training (batch) and the agent (stream).

The GRU reads one row per MEASUREMENT, not per second: a link reports samples at its own pace
(0.1 s to 5 s apart), and the spacing itself is information (back-to-back transfers, idle gaps).
Each row holds the change of the log value, the log spacing, a first-sample flag, the value's
log ratio to the reference level and the age of the trace. A forecast is asked at some time
after the last sample; the head gets the hidden state plus how long ago that sample was (the
"gap"), in seconds and relative to the last spacing.

The reference level `ref` is the EWMA baseline itself (alpha = baselines.EWMA_ALPHA): the model
outputs per-horizon log ratios to it, so a zero head is exactly the fallback.

Everything is scale-free: no input is the absolute level. The traces are 3G, home broadband and
video sessions of 0.01-25 Mbit/s, while the agent's migration links run at 1-10 Gbit/s; a model
that reads the level learns facts of those access networks (here: "a steady 20 Mbit/s link will
drop") and applies them far outside their range: a variant reading the level scored a little
better on the traces but forecast a steady fast link well below its rate; this one forecasts a
steady link near its rate, whatever the rate (decisions.md: pba-scale-free-inputs). Nothing
names a data set either.
"""

from __future__ import annotations

import math

import numpy as np

from novacron.dwcp.pba.baselines import EWMA_ALPHA

EPS = 0.01  # Mbit/s: floor inside logs, so zero-throughput samples stay finite
AGE_CAP_S = 3600.0
GAP_CAP_S = 10.0
N_IN = 5
N_DEC = 2
FLAG_COL = 2  # the first-sample flag: a 0/1 column that training leaves unstandardised


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
    x = np.zeros((n, N_IN))
    x[1:, 0] = np.diff(lv)
    x[:, 1] = np.log(np.clip(dt, 0.01, 60.0))
    x[:1, FLAG_COL] = 1.0
    x[:, 3] = lv - np.log(ref + EPS)
    if n:
        x[:, 4] = np.log1p(np.clip(t - t[0], 0.0, AGE_CAP_S))
    return x, ref


class SampleStream:
    """The same rows as `sample_inputs`, one observation at a time."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.t_last = 0.0
        self.lv_last = 0.0
        self.dt_last = 1.0
        self.ref = 0.0

    def push(self, t: float, v: float) -> np.ndarray:
        lv = math.log(v + EPS)
        first = self.t0 is None
        if self.t0 is None:
            self.t0, dt, self.ref = t, 1.0, v
        else:
            dt = t - self.t_last
            self.ref = EWMA_ALPHA * v + (1.0 - EWMA_ALPHA) * self.ref
        row = np.array(
            [
                0.0 if first else lv - self.lv_last,
                math.log(min(max(dt, 0.01), 60.0)),
                1.0 if first else 0.0,
                lv - math.log(self.ref + EPS),
                math.log1p(min(max(t - self.t0, 0.0), AGE_CAP_S)),
            ]
        )
        self.t_last, self.lv_last, self.dt_last = t, lv, dt
        return row


def decision_inputs(gap: np.ndarray, dt_last: np.ndarray) -> np.ndarray:
    """(n, N_DEC): time since the last sample, as log1p(seconds) and relative to the last spacing."""
    gap = np.clip(np.asarray(gap, dtype=np.float64), 0.0, GAP_CAP_S)
    return np.stack([np.log1p(gap), np.minimum(gap / np.maximum(dt_last, 0.01), 4.0)], axis=1)
