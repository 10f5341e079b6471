"""The scoring grid: what "the throughput over (t, t+h]" means for a trace.

A sample `(t_i, v_i)` reports the mean throughput over the interval that ENDS at its timestamp,
`(t_{i-1}, t_i]` (Pensieve/Mahimahi convention: a throughput is measured over the transfer that
just finished). The trace is therefore a piecewise-constant function f; the first sample only
anchors time (its interval is unknown). Its integral F(x) = integral of f from t_0 to x is
piecewise linear, and every window mean is a difference of F: this is the time-weighted average.

`resample` cuts f into bins `(t_0 + k*step, t_0 + (k+1)*step]` for k = 0..K-1, K = floor(duration
/ step); decisions are taken at grid times `tau_k = t_0 + k*step` (k >= 1) and the target for
horizon h is the mean of f over `(tau_k, tau_k + h]`, i.e. the mean of the next h/step bins. A
predictor at tau_k has seen exactly the samples with `t_i <= tau_k`.
"""

from __future__ import annotations

import numpy as np

from novacron.dwcp.pba.traces import Trace
from novacron_sdk.errors import InvalidInput

_EPS = 1e-9


def cumulative(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """C[i] = integral of f over (t_0, t_i]; C[0] = 0."""
    c = np.zeros(len(t), dtype=np.float64)
    if len(t) > 1:
        c[1:] = np.cumsum(v[1:] * np.diff(t))
    return c


def integral(x: np.ndarray, t: np.ndarray, c: np.ndarray, v0: float) -> np.ndarray:
    """F(x) for x <= t[-1]. Before t_0 the first sample's value is extended backwards, so a
    short history reads as "flat at the first measurement" rather than as zero throughput."""
    x = np.asarray(x, dtype=np.float64)
    inside = np.interp(x, t, c)
    return np.where(x >= t[0], inside, (x - t[0]) * v0)


def n_bins(trace: Trace, step: float = 1.0) -> int:
    return int(np.floor(trace.duration_s / step + _EPS))


def resample(trace: Trace, step: float = 1.0) -> np.ndarray:
    """Time-weighted mean throughput of each bin `(t_0 + k*step, t_0 + (k+1)*step]`."""
    if not step > 0:
        raise InvalidInput(f"must be > 0, got {step}", field="step")
    k = n_bins(trace, step)
    c = cumulative(trace.t, trace.mbps)
    edges = trace.t[0] + step * np.arange(k + 1)
    return np.diff(np.interp(edges, trace.t, c)) / step


def targets(bins: np.ndarray, horizon_steps: int) -> np.ndarray:
    """y[k-1] = mean of bins k..k+h-1 = throughput over (tau_k, tau_k + h], for k = 1..K-h."""
    if horizon_steps < 1:
        raise InvalidInput(f"must be >= 1 step, got {horizon_steps}", field="horizon")
    cs = np.concatenate(([0.0], np.cumsum(bins)))
    k = np.arange(1, len(bins) - horizon_steps + 1)
    return (cs[k + horizon_steps] - cs[k]) / horizon_steps


def decision_times(trace: Trace, n: int, step: float = 1.0) -> np.ndarray:
    """The first `n` grid decision times tau_1..tau_n."""
    return trace.t[0] + step * np.arange(1, n + 1)


def last_seen(trace: Trace, times: np.ndarray) -> np.ndarray:
    """Index of the last sample with t_i <= time, for each decision time."""
    return np.searchsorted(trace.t, times + _EPS, side="right") - 1
