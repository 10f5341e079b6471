"""Metrics, evaluation on synthetic traces, traces that start anywhere on the clock, and traces a
predictor refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from novacron.dwcp.pba import evaluate, grid
from novacron.dwcp.pba.baselines import LastValue
from novacron.dwcp.pba.dataset import decisions
from novacron.dwcp.pba.traces import Trace, parse_trace
from novacron_sdk.errors import InvalidInput


def test_metrics_by_hand():
    pred = np.array([1.0, 2.0, 5.0, 0.0, 9.0])
    y = np.array([2.0, 2.0, 4.0, 0.0, np.nan])  # NaN: no target, ignored
    m = evaluate.metrics(pred, y)
    assert m["mae"] == pytest.approx(0.5)  # |{-1, 0, 1, 0}| / 4
    assert m["rmse"] == pytest.approx(math.sqrt(0.5))
    # MdAPE over targets > 0.01 only: {50%, 0%, 25%} -> median 25%
    assert m["mdape"] == pytest.approx(25.0)
    assert m["n"] == 4


def _step_trace(name: str, levels: list[float], seconds_each: int) -> Trace:
    t = np.arange(len(levels) * seconds_each + 1, dtype=float)
    v = np.concatenate(([levels[0]], np.repeat(levels, seconds_each)))
    return Trace(name, t, v)


def test_evaluate_traces_on_a_tiny_synthetic_set():
    flat = _step_trace("flat", [3.0], 40)
    step = _step_trace("step", [2.0, 6.0], 20)  # jumps from 2 to 6 at t=20
    m = evaluate.evaluate_traces([flat, step], model=None)
    assert set(m) == {"last", "ewma", "hm5", "holt"}
    last = m["last"]
    # flat: 39 decisions, all exact. step, h=1: 39 decisions, only tau=19 misses (predicts 2, truth 6)
    assert last["1s"]["n"] == 78
    assert last["1s"]["mae"] == pytest.approx(4.0 / 78)
    assert last["1s"]["rmse"] == pytest.approx(math.sqrt(16.0 / 78))
    assert last["1s"]["mdape"] == 0.0
    # h=30: flat has 10 decisions, step 10 (tau=1..10): truth over (tau, tau+30] vs last = 2
    truth = [(2.0 * (20 - k) + 6.0 * (k + 10)) / 30 for k in range(1, 11)]
    assert last["30s"]["mae"] == pytest.approx(sum(abs(x - 2.0) for x in truth) / 20)


def _as_text(t0: float, steps: np.ndarray, v: np.ndarray) -> str:
    """A trace file as a logger writes one: each time the start plus the sample's offset, rounded
    to a float and printed in decimal (at 1.6e9 s a float resolves 2.4e-7 s)."""
    offsets = np.concatenate(([0.0], np.cumsum(steps)))
    return "\n".join(f"{float(t0 + o)!r} {float(x)!r}" for o, x in zip(offsets, v, strict=True))


OFFSETS = [0.0, 0.474, 12345.678, 1.6e9, 1600000000.3, 1712345678.901]


@pytest.mark.parametrize("t0", OFFSETS)
@pytest.mark.parametrize("step", [0.1, 0.7, 1.0, 0.333])
def test_a_trace_scores_the_same_wherever_its_clock_starts(t0: float, step: float):
    """Decision times t0 + k fall a float's width before or after sample times read from text;
    none may crash the evaluation (the predictor refuses a question about its past), and the
    scores are those of the same samples starting at 0 (up to the times' own precision)."""
    rng = np.random.default_rng(7)
    steps = np.full(400, step)
    v = rng.uniform(0.5, 5.0, 401)
    at_zero = evaluate.evaluate_traces([parse_trace(_as_text(0.0, steps, v), "zero")], model=None)
    shifted = parse_trace(_as_text(t0, steps, v), "shifted")
    dec = decisions(shifted)
    assert (dec.times >= shifted.t[dec.last]).all()  # nobody is asked about a moment before its data
    got = evaluate.evaluate_traces([shifted], model=None)
    for name, cells in at_zero.items():
        for h, cell in cells.items():
            assert got[name][h]["n"] == cell["n"], (name, h)
            assert got[name][h]["mae"] == pytest.approx(cell["mae"], rel=1e-3, abs=1e-6), (name, h)


@pytest.mark.parametrize("t0", OFFSETS)
def test_a_sample_at_a_decision_time_is_seen_there_whatever_the_offset(t0: float):
    # samples every 0.5 s: every decision time t0 + k coincides with one in decimal
    tr = parse_trace(_as_text(t0, np.full(20, 0.5), np.arange(21.0) + 1), "grid")
    dec = decisions(tr, horizons=(1,))
    assert dec.last.tolist() == [2 * k for k in range(1, len(dec) + 1)]
    assert (np.abs(dec.times - tr.t[dec.last]) <= grid.slack(tr)).all()


def test_a_trace_a_predictor_refuses_is_reported_and_the_others_are_scored(monkeypatch):
    class Picky(LastValue):
        name = "last"

        def _update(self, t_s: float, mbps: float) -> None:
            if mbps > 100:
                raise InvalidInput("too fast for me", field="mbps")
            super()._update(t_s, mbps)

    monkeypatch.setitem(evaluate.BASELINES, "last", Picky)
    fine = _step_trace("fine", [3.0], 40)
    fast = _step_trace("fast", [300.0], 40)
    short = Trace("short", np.array([0.0, 1.5]), np.array([1.0, 1.0]))
    refused: list[InvalidInput] = []
    m = evaluate.evaluate_traces([fine, fast, short], model=None, refused=refused)
    assert m["last"]["1s"]["n"] == m["ewma"]["1s"]["n"] == 39  # "fast" is out of every row alike
    assert [(e.field, e.detail) for e in refused] == [
        ("fast", "mbps: too fast for me"),
        ("short", "spans 1.5 s: too short to score (2 s)"),
    ]
    with pytest.raises(InvalidInput):  # a caller that takes no report gets the error
        evaluate.evaluate_traces([fine, fast], model=None)
