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
    return np.concatenate(
        [np.repeat(v[:, None], len(EWMA_ALPHAS), 1), np.repeat(lv[:, None], len(LOG_EWMA_ALPHAS), 1)], axis=1
    )


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
    return len(WINDOWS_S) + N_LAST + len(SORTED_AT) + N_SORTED_SHORT + N_SPACING + len(ALPHAS) + 8


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
    # one interpolation for all window edges: column 0 is the anchor, then the ref window, ...
    back = np.array((0.0, REF_WINDOW_S, *WINDOWS_S))
    f = _f(anchor[:, None] - back[None, :], t, c, t0, v0)
    means = np.maximum((f[:, :1] - f[:, 1:]) / back[None, 1:], 0.0)
    ref = means[:, 0]
    log_ref = np.log(ref + EPS)[:, None]
    rel_windows = np.log(means[:, 1:] + EPS) - log_ref

    back_idx = m[:, None] - np.arange(max(N_SORTED, N_LAST, 5))[None, :]
    lv_all = np.log(v[np.maximum(back_idx, 0)] + EPS)
    lv = lv_all[:, :N_LAST]
    srt = np.sort(lv_all[:, :N_SORTED], axis=1)[:, list(SORTED_AT)] - log_ref
    srt_short = np.sort(lv[:, :N_SORTED_SHORT], axis=1) - log_ref

    raw = back_idx[:, :N_SPACING]
    if len(t) > 1:  # spacing before the first sample is unknown: read as a neutral 1 s
        sp_idx = np.clip(raw, 1, len(t) - 1)
        dt = np.where(raw >= 1, t[sp_idx] - t[sp_idx - 1], 1.0)
    else:
        dt = np.ones(raw.shape)

    ne = len(EWMA_ALPHAS)
    ewm = ew[m]
    life = np.where(anchor > t0, c[m] / np.maximum(anchor - t0, 1e-9), v[m])
    ok5 = back_idx[:, :5] >= 0
    inv = np.where(ok5, 1.0 / np.maximum(v[np.maximum(back_idx[:, :5], 0)], 1e-6), 0.0)
    harmonic = ok5.sum(axis=1) / inv.sum(axis=1)
    misc = np.stack(
        [
            np.log(np.maximum(life, 0.0) + EPS) - log_ref[:, 0],
            np.abs(np.diff(lv, axis=1)).mean(axis=1),
            lv.std(axis=1),
            log_ref[:, 0],
            np.log1p(np.clip(gap, 0.0, GAP_CAP_S)),
            np.log1p(np.clip(anchor - t0, 0.0, HISTORY_CAP_S)),
            np.log1p(np.asarray(n_seen, dtype=np.float64)),
            lv[:, 0] - np.log(harmonic + EPS),
        ],
        axis=1,
    )
    x = np.concatenate(
        [
            rel_windows,
            lv - log_ref,
            np.log(np.clip(dt, 0.01, 60.0)),
            srt,
            srt_short,
            np.log(ewm[:, :ne] + EPS) - log_ref,
            ewm[:, ne:] - log_ref,
            misc,
        ],
        axis=1,
    )
    return x, ref


def _f(x: np.ndarray, t: np.ndarray, c: np.ndarray, t0: float, v0: float) -> np.ndarray:
    """F(x) (integral since the trace's first sample) on a stretch that may start after t0."""
    if t[0] > t0:  # trimmed stream buffer: x never reaches before t[0] by construction
        return np.interp(x, t, c)
    return integral(x, t, c, v0)
