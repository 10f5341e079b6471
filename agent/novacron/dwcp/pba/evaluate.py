"""Scoring predictors on traces: the same decisions, targets and metrics for every predictor.

For each trace, decisions are taken on the 1 s grid (grid.py); a predictor has observed exactly
the samples with t_i <= tau and forecasts the mean throughput over (tau, tau + h] for h in
HORIZONS_S. Errors are pooled over all decisions of all traces in a set (long traces weigh more):
MAE and RMSE in Mbit/s, MdAPE = median of |pred - y| / y in percent over decisions with
y > MDAPE_MIN_MBPS (a relative error against ~0 throughput is meaningless).
Baselines run through their streaming API; the ML model runs in batch over each trace with the
very same inputs, GRU steps and head as its streaming form (seqdata.py, gru.py; a test checks
the two agree), because a Python call per decision would make evaluating ~10^6 decisions slow.
Traces come in as Trace values (well-formed by construction); reading them from files, and the
shipped model from the package, is the caller's (novacron/cli/pba.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from novacron.dwcp.pba.baselines import BASELINES
from novacron.dwcp.pba.dataset import Decisions, decisions
from novacron.dwcp.pba.gru import GruModel
from novacron.dwcp.pba.predictor import HORIZONS_S, BandwidthPredictor
from novacron.dwcp.pba.traces import Trace
from novacron_sdk.errors import InvalidInput

MDAPE_MIN_MBPS = 0.01
ML_NAME = "ml"
Metrics = dict[str, dict[str, dict[str, float]]]  # predictor -> "1s" -> {mae, rmse, mdape}


def horizon_key(h: int) -> str:
    return f"{h}s"


def run_streaming(factory: Callable[[], BandwidthPredictor], trace: Trace, dec: Decisions) -> np.ndarray:
    """Predictions (n, H): feed samples in time order, ask at each decision time."""
    p = factory()
    out = np.empty((len(dec), len(HORIZONS_S)))
    t, v = trace.t.tolist(), trace.mbps.tolist()
    i = 0
    for j, (tau, last) in enumerate(zip(dec.times.tolist(), dec.last.tolist(), strict=True)):
        while i <= last:
            p.observe(t[i], v[i])
            i += 1
        for k, h in enumerate(HORIZONS_S):
            out[j, k] = p.predict(h, tau)
    return out


def run_ml_batch(model: GruModel, trace: Trace, dec: Decisions) -> np.ndarray:
    from novacron.dwcp.pba.model import forecast_from_outputs
    from novacron.dwcp.pba.seqdata import seq_trace

    st = seq_trace(trace, dec)
    return forecast_from_outputs(model.outputs(st.x, st.last, st.dec), st.ref[st.last])


def metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(y)
    err = pred[ok] - y[ok]
    if not len(err):
        return {"mae": float("nan"), "rmse": float("nan"), "mdape": float("nan"), "n": 0.0}
    rel = y[ok] > MDAPE_MIN_MBPS
    mdape = float(np.median(np.abs(err[rel]) / y[ok][rel]) * 100) if rel.any() else float("nan")
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mdape": mdape,
        "n": float(len(err)),
    }


def predictions(
    traces: Iterable[Trace],
    model: GruModel | None,
    baselines: Iterable[str] = tuple(BASELINES),
    refused: list[InvalidInput] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stacked predictions per predictor and the stacked targets, over all decisions. A trace a
    predictor refuses (InvalidInput) is left out of every predictor's figures and, when `refused`
    is given, reported there instead of ending the evaluation; so is a trace too short to hold
    a decision (under 2 s)."""
    preds: dict[str, list[np.ndarray]] = {}
    ys: list[np.ndarray] = []
    names = list(baselines)
    for tr in traces:
        dec = decisions(tr)
        if not len(dec):
            if refused is not None:
                refused.append(InvalidInput(f"spans {tr.duration_s:g} s: too short to score (2 s)", field=tr.name))
            continue
        try:
            per = {name: run_streaming(BASELINES[name], tr, dec) for name in names}
            if model is not None:
                per[ML_NAME] = run_ml_batch(model, tr, dec)
        except InvalidInput as e:
            if refused is None:
                raise
            refused.append(InvalidInput(str(e), field=tr.name))
            continue
        ys.append(dec.y)
        for name, p in per.items():
            preds.setdefault(name, []).append(p)
    if not ys:
        return {}, np.zeros((0, len(HORIZONS_S)))
    return {k: np.concatenate(v) for k, v in preds.items()}, np.concatenate(ys)


def score(preds: dict[str, np.ndarray], y: np.ndarray) -> Metrics:
    return {
        name: {horizon_key(h): metrics(p[:, j], y[:, j]) for j, h in enumerate(HORIZONS_S)}
        for name, p in preds.items()
    }


def evaluate_traces(
    traces: Iterable[Trace], model: GruModel | None, refused: list[InvalidInput] | None = None
) -> Metrics:
    """Every baseline, and the ML model when given, scored on `traces` pooled (see predictions)."""
    return score(*predictions(traces, model, refused=refused))


def improvement(m: Metrics, horizon: str, baselines: Iterable[str] = tuple(BASELINES)) -> tuple[str, float]:
    """(best baseline name, % MAE reduction of ML vs it) for one horizon."""
    best = min(baselines, key=lambda b: m[b][horizon]["mae"])
    base = m[best][horizon]["mae"]
    return best, 100.0 * (base - m[ML_NAME][horizon]["mae"]) / base
