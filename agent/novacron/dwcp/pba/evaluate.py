"""Scoring predictors on traces: the same decisions, targets and metrics for every predictor.

For each trace, decisions are taken on the 1 s grid (grid.py); a predictor has observed exactly
the samples with t_i <= tau and forecasts the mean throughput over (tau, tau + h] for h in
HORIZONS_S. Errors are pooled over all decisions of all traces in a set (long traces weigh more):
MAE and RMSE in Mbit/s, MdAPE = median of |pred - y| / y in percent over decisions with
y > MDAPE_MIN_MBPS (a relative error against ~0 throughput is meaningless).
Baselines run through their streaming API; the ML model runs in batch over each trace with the
very same inputs, GRU steps and head as its streaming form (seqdata.py, gru.py; a test checks
the two agree), because a Python call per decision would make evaluating ~10^6 decisions slow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from novacron.dwcp.pba.baselines import BASELINES
from novacron.dwcp.pba.dataset import Decisions, decisions
from novacron.dwcp.pba.gru import GruModel
from novacron.dwcp.pba.predictor import HORIZONS_S, BandwidthPredictor
from novacron.dwcp.pba.traces import Trace, load_dir
from novacron_sdk.errors import InvalidInput

log = logging.getLogger(__name__)

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
    traces: Iterable[Trace], model: GruModel | None, baselines: Iterable[str] = tuple(BASELINES)
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stacked predictions per predictor and the stacked targets, over all decisions."""
    preds: dict[str, list[np.ndarray]] = {}
    ys: list[np.ndarray] = []
    names = list(baselines)
    for tr in traces:
        dec = decisions(tr)
        if not len(dec):
            continue
        ys.append(dec.y)
        for name in names:
            preds.setdefault(name, []).append(run_streaming(BASELINES[name], tr, dec))
        if model is not None:
            preds.setdefault(ML_NAME, []).append(run_ml_batch(model, tr, dec))
    if not ys:
        return {}, np.zeros((0, len(HORIZONS_S)))
    return {k: np.concatenate(v) for k, v in preds.items()}, np.concatenate(ys)


def score(preds: dict[str, np.ndarray], y: np.ndarray) -> Metrics:
    return {
        name: {horizon_key(h): metrics(p[:, j], y[:, j]) for j, h in enumerate(HORIZONS_S)}
        for name, p in preds.items()
    }


def evaluate_traces(traces: Iterable[Trace], model: GruModel | None) -> Metrics:
    return score(*predictions(traces, model))


def evaluate_dir(root: Path, model: GruModel | None = None, use_ml: bool = True) -> Metrics:
    """Score the shipped ML model (when it loads and `use_ml`) and all baselines on every trace
    file under `root`, pooled. A missing or broken model only drops the "ml" entry."""
    traces = load_dir(root)
    if not traces:
        raise InvalidInput(f"no trace files in {root}", field="dir")
    if use_ml and model is None:
        from novacron.dwcp.pba.model import load_shipped

        try:
            model = load_shipped()
        except Exception as e:
            log.warning("PBA ML model unavailable (%s); scoring baselines only", e)
    return evaluate_traces(traces, model if use_ml else None)


def improvement(m: Metrics, horizon: str, baselines: Iterable[str] = tuple(BASELINES)) -> tuple[str, float]:
    """(best baseline name, % MAE reduction of ML vs it) for one horizon."""
    best = min(baselines, key=lambda b: m[b][horizon]["mae"])
    base = m[best][horizon]["mae"]
    return best, 100.0 * (base - m[ML_NAME][horizon]["mae"]) / base
