"""Input features of the ML predictor, shared verbatim by training (batch) and the agent (stream).

Everything is scale-free: values enter as log ratios to a reference level `ref` (the time-weighted
mean over the last REF_WINDOW_S seconds), so one model serves links of 0.1 and 100 Mbit/s alike;
the absolute level enters once, as log(ref). Features use only samples up to the last one seen,
at time `anchor`; `gap` is how long ago that was. Nothing names a data set: a link does not know
where it comes from, it only knows its own samples and their spacing.
"""

from __future__ import annotations

import numpy as np

from novacron.dwcp.pba.grid import integral

EPS = 0.01  # Mbit/s: floor inside logs, so zero-throughput samples stay finite
REF_WINDOW_S = 8.0
WINDOWS_S = (1.0, 2.0, 4.0, 16.0, 32.0, 64.0, 128.0, 256.0)
MAX_WINDOW_S = max(WINDOWS_S)
N_LAST = 16  # raw samples fed individually
N_SPACING = 8
EWMA_ALPHAS = (0.1, 0.3, 0.5)  # per-sample EWMA of the value
LOG_EWMA_ALPHAS = (0.02, 0.1, 0.3)  # per-sample EWMA of log(value): geometric means, near medians
N_SORTED = 32  # order statistics of the last N_SORTED samples...
SORTED_AT = (0, 3, 7, 11, 15, 19, 23, 27, 31)  # ...taken at these ranks
N_SORTED_SHORT = 8
GAP_CAP_S = 10.0
HISTORY_CAP_S = 600.0


def ewma_inputs(v: np.ndarray) -> np.ndarray:
    """What each EWMA state smooths: the value for EWMA_ALPHAS, log(value + EPS) for the log ones."""
    lv = np.log(v + EPS)
    return np.concatenate([np.repeat(v[:, None], len(EWMA_ALPHAS), 1),
                           np.repeat(lv[:, None], len(LOG_EWMA_ALPHAS), 1)], axis=1)


ALPHAS = np.asarray(EWMA_ALPHAS + LOG_EWMA_ALPHAS)


def ewma_states(v: np.ndarray) -> np.ndarray:
    """Per-sample EWMA states, shape (len(v), len(ALPHAS)); row i has seen samples 0..i."""
    x = ewma_inputs(v)
    out = np.empty_like(x)
    if len(v):
        out[0] = x[0]
        s = x[0].copy()
        keep = 1.0 - ALPHAS
        for i in range(1, len(v)):
            s = ALPHAS * x[i] + keep * s
            out[i] = s
    return out


def n_features() -> int:
    return (len(WINDOWS_S) + N_LAST + len(SORTED_AT) + N_SORTED_SHORT + N_SPACING + len(ALPHAS) + 8)


def compute(
    t: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    ew: np.ndarray,
    m: np.ndarray,
    gap: np.ndarray,
    t0: float,
    v0: float,
    n_seen: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, n_features()) and ref levels (n,) for decisions whose last seen sample is m.

    t, c, v, ew: sample times, cumulative integral (grid.cumulative), values, EWMA states — any
    contiguous stretch of a trace that holds at least MAX_WINDOW_S + one sample of history (or
    starts at the trace's first sample t0/v0). m: index of the last seen sample in those arrays.
    """
    m = np.asarray(m, dtype=np.int64)
    anchor = t[m]
    f_anchor = _f(anchor, t, c, t0, v0)
    ref = (f_anchor - _f(anchor - REF_WINDOW_S, t, c, t0, v0)) / REF_WINDOW_S
    log_ref = np.log(np.maximum(ref, 0.0) + EPS)
    cols: list[np.ndarray] = []
    for w in WINDOWS_S:
        mean_w = (f_anchor - _f(anchor - w, t, c, t0, v0)) / w
        cols.append(np.log(np.maximum(mean_w, 0.0) + EPS) - log_ref)
    idx = np.maximum(m[:, None] - np.arange(N_LAST)[None, :], 0)
    lv = np.log(v[idx] + EPS)
    cols.extend((lv - log_ref[:, None]).T)
    sp_idx = np.maximum(m[:, None] - np.arange(N_SPACING)[None, :], 1)
    dt = t[sp_idx] - t[sp_idx - 1] if len(t) > 1 else np.ones((len(m), N_SPACING))
    cols.extend(np.log(np.clip(dt, 0.01, 60.0)).T)
    sidx = np.maximum(m[:, None] - np.arange(N_SORTED)[None, :], 0)
    srt = np.sort(np.log(v[sidx] + EPS), axis=1) - log_ref[:, None]
    cols.extend(srt[:, list(SORTED_AT)].T)
    cols.extend((np.sort(lv[:, :N_SORTED_SHORT], axis=1) - log_ref[:, None]).T)
    ne = len(EWMA_ALPHAS)
    cols.extend((np.log(ew[m, :ne] + EPS) - log_ref[:, None]).T)
    cols.extend((ew[m, ne:] - log_ref[:, None]).T)
    life = np.where(anchor > t0, c[m] / np.maximum(anchor - t0, 1e-9), v[m])
    cols.append(np.log(np.maximum(life, 0.0) + EPS) - log_ref)
    dlv = np.abs(np.diff(lv, axis=1))
    cols.append(dlv.mean(axis=1))
    cols.append(lv.std(axis=1))
    cols.append(log_ref)
    cols.append(np.log1p(np.clip(gap, 0.0, GAP_CAP_S)))
    cols.append(np.log1p(np.clip(anchor - t0, 0.0, HISTORY_CAP_S)))
    cols.append(np.log1p(np.asarray(n_seen, dtype=np.float64)))
    cols.append(np.log(v[m] + EPS) - np.log(_harmonic(v, m) + EPS))
    return np.stack(cols, axis=1), np.maximum(ref, 0.0)


def _f(x: np.ndarray, t: np.ndarray, c: np.ndarray, t0: float, v0: float) -> np.ndarray:
    """F(x) (integral since the trace's first sample) on a stretch that may start after t0."""
    if t[0] > t0:  # trimmed stream buffer: x never reaches before t[0] by construction
        return np.interp(x, t, c)
    return integral(x, t, c, v0)


def _harmonic(v: np.ndarray, m: np.ndarray, n: int = 5) -> np.ndarray:
    idx = m[:, None] - np.arange(n)[None, :]
    ok = idx >= 0
    vals = np.where(ok, v[np.maximum(idx, 0)], 1.0)
    inv = np.where(ok, 1.0 / np.maximum(vals, 1e-6), 0.0)
    return ok.sum(axis=1) / inv.sum(axis=1)
