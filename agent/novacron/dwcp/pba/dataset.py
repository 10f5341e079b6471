"""Decision points of a trace in batch form: times, last sample seen, and targets.

One row per grid decision time tau_k (k = 1..K-1, see grid.py); targets for horizons that run
past the trace's end are NaN. seqdata.py turns these into the sequence model's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from novacron.dwcp.pba import grid
from novacron.dwcp.pba.predictor import HORIZONS_S
from novacron.dwcp.pba.traces import Trace


@dataclass(frozen=True)
class Decisions:
    times: np.ndarray  # (n,) decision times tau_k
    last: np.ndarray  # (n,) index of the last sample seen at tau_k
    y: np.ndarray  # (n, len(HORIZONS_S)) targets, NaN when the horizon runs past the end

    def __len__(self) -> int:
        return len(self.times)


def decisions(trace: Trace, horizons: tuple[int, ...] = HORIZONS_S) -> Decisions:
    bins = grid.resample(trace)
    n = max(len(bins) - 1, 0)
    times, last = grid.decision_times(trace, n)
    y = np.full((n, len(horizons)), np.nan)
    for j, h in enumerate(horizons):
        th = grid.targets(bins, h)
        y[: len(th), j] = th
    return Decisions(times=times, last=last, y=y)
