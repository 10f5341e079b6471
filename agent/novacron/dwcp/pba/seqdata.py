"""A trace in the sequence model's terms: per-sample inputs, and per-decision head inputs and targets.

Decisions are those of the scoring grid (grid.py / dataset.py): at tau_k the model has read the
samples up to `last` (index m) and is asked about (tau_k, tau_k + h]; the gap tau_k - t_m goes to
the head. Training (tools/pba/train_gru.py) and evaluation (evaluate.py) both build exactly these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from novacron.dwcp.pba import seqfeat
from novacron.dwcp.pba.dataset import Decisions, decisions
from novacron.dwcp.pba.traces import Trace


@dataclass(frozen=True)
class SeqTrace:
    x: np.ndarray  # (n_samples, N_IN) raw (unstandardised) sample inputs
    ref: np.ndarray  # (n_samples,) EWMA reference level after each sample
    last: np.ndarray  # (n_dec,) index of the last sample seen at each decision
    dec: np.ndarray  # (n_dec, N_DEC) head inputs
    y: np.ndarray  # (n_dec, H) targets in Mbit/s, NaN past the trace's end


def seq_trace(trace: Trace, dec: Decisions | None = None) -> SeqTrace:
    """`dec` defaults to decisions(trace); pass it when already computed."""
    x, ref = seqfeat.sample_inputs(trace.t, trace.mbps)
    d = dec if dec is not None else decisions(trace)
    dt = np.ones(len(trace.t))
    dt[1:] = np.diff(trace.t)
    gap = d.times - trace.t[d.last] if len(d) else np.zeros(0)
    head_in = seqfeat.decision_inputs(gap, dt[d.last])
    return SeqTrace(x=x, ref=ref, last=d.last, dec=head_in, y=d.y)
