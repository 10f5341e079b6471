"""Metrics, evaluation on synthetic traces, evaluate_dir on the sample, and the CLI."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from novacron.dwcp.pba import evaluate
from novacron.dwcp.pba.cli import register_cli
from novacron.dwcp.pba.traces import Trace


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


def test_evaluate_dir_on_sample(sample_dir: Path):
    m = evaluate.evaluate_dir(sample_dir)
    assert set(m) == {"ml", "last", "ewma", "hm5", "holt"}
    for cells in m.values():
        assert set(cells) == {"1s", "5s", "30s"}
        for cell in cells.values():
            assert cell["n"] > 100
            assert all(math.isfinite(cell[k]) and cell[k] >= 0 for k in ("mae", "rmse", "mdape"))
            assert cell["rmse"] >= cell["mae"]


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="novacron")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_evaluate_json(sample_dir: Path, capsys):
    assert _run_cli(["pba", "evaluate", str(sample_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"ml", "last", "ewma", "hm5", "holt"}
    assert set(out["ml"]) == {"1s", "5s", "30s"}
    assert set(out["ml"]["5s"]) == {"mae", "rmse", "mdape"}
    direct = evaluate.evaluate_dir(sample_dir)
    assert out["ewma"]["30s"]["mae"] == pytest.approx(direct["ewma"]["30s"]["mae"], abs=1e-6)


def test_cli_evaluate_table(sample_dir: Path, capsys):
    assert _run_cli(["pba", "evaluate", str(sample_dir / "oboe")]) == 0
    out = capsys.readouterr().out
    assert "30s MAE" in out and out.count("\n") >= 6


def test_cli_evaluate_bad_input(tmp_path: Path, capsys):
    assert _run_cli(["pba", "evaluate", str(tmp_path / "missing")]) == 2
    assert "dir" in capsys.readouterr().err
    (tmp_path / "bad").write_text("0 1\n1 oops\n")
    assert _run_cli(["pba", "evaluate", str(tmp_path)]) == 2
    assert "bad:2" in capsys.readouterr().err
    assert _run_cli(["pba"]) == 2
