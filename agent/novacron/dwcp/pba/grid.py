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

"Exactly" up to float rounding: `t_0 + k` and a sample time read from text as the same decimal
can differ by an ulp either way, and an ulp grows with the times (2.4e-7 s at 1.6e9 epoch
seconds). Comparisons therefore allow a few ulps of the trace's times (`slack`), and a sample
that counts as seen at tau_k is never later than the decision: `decision_times` moves tau_k onto
it, so a predictor is never asked about a moment before its last observation.
"""

from __future__ import annotations

import numpy as np

from novacron.dwcp.pba.traces import Trace
from novacron_sdk.errors import InvalidInput

_EPS = 1e-9  # the slack's floor, for times near 0
_ULPS = 4  # parsing t_0, adding k, parsing t_i: three roundings, each half an ulp


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


def slack(trace: Trace) -> float:
    """How far two of this trace's times may differ and still be the same instant (see above)."""
    return max(_EPS, _ULPS * float(np.spacing(max(abs(trace.t[0]), abs(trace.t[-1])))))


def n_bins(trace: Trace, step: float = 1.0) -> int:
    return int(np.floor((trace.duration_s + slack(trace)) / step))


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


def last_seen(trace: Trace, times: np.ndarray) -> np.ndarray:
    """Index of the last sample with t_i <= time (within `slack`), for each time."""
    return np.searchsorted(trace.t, times + slack(trace), side="right") - 1


def decision_times(trace: Trace, n: int, step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` grid decision times tau_1..tau_n and the last sample seen at each; a tau
    that a seen sample's time exceeds by rounding only is that time."""
    times = trace.t[0] + step * np.arange(1, n + 1)
    last = last_seen(trace, times)
    return np.maximum(times, trace.t[last]), last
