"""`novacron pba evaluate`: scores any folder of well-formed traces, names (and leaves out) the files
that are not, and fails only when nothing could be scored."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from novacron.cli.pba import register_cli
from novacron.cli.trace_files import read_dir
from novacron.dwcp.pba import evaluate
from novacron.dwcp.pba.model import load_shipped

PREDICTORS = {"ml", "last", "ewma", "hm5", "holt"}


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="novacron")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _trace(t0: float, n: int = 120, step: float = 0.25, seed: int = 0) -> str:
    v = np.random.default_rng(seed).uniform(0.2, 8.0, n)
    return "\n".join(f"{float(t0 + i * step)!r} {float(x)!r}" for i, x in enumerate(v)) + "\n"


def test_cli_evaluate_json_on_the_sample(sample_dir: Path, capsys):
    assert _run_cli(["pba", "evaluate", str(sample_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == PREDICTORS
    assert set(out["ml"]) == {"1s", "5s", "30s"}
    assert set(out["ml"]["5s"]) == {"mae", "rmse", "mdape"}
    direct = evaluate.evaluate_traces(read_dir(sample_dir)[0], load_shipped())
    assert out["ewma"]["30s"]["mae"] == pytest.approx(direct["ewma"]["30s"]["mae"], abs=1e-6)
    for cells in direct.values():
        for cell in cells.values():
            assert cell["n"] > 100
            assert all(math.isfinite(cell[k]) and cell[k] >= 0 for k in ("mae", "rmse", "mdape"))
            assert cell["rmse"] >= cell["mae"]


def test_cli_evaluate_table(sample_dir: Path, capsys):
    assert _run_cli(["pba", "evaluate", str(sample_dir / "oboe")]) == 0
    out = capsys.readouterr().out
    assert "30s MAE" in out and out.count("\n") >= 6 and "from 2 trace(s)" in out


def test_traces_at_epoch_times_with_fractional_steps_are_scored(tmp_path: Path, capsys):
    for i, t0 in enumerate((1.6e9, 1600000000.3, 0.474, 12345.678)):
        (tmp_path / f"link{i}").write_text(_trace(t0, seed=i))
    assert _run_cli(["pba", "evaluate", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert set(json.loads(out)) == PREDICTORS and err == ""


def test_malformed_files_are_named_and_left_out_and_the_rest_scored(tmp_path: Path, capsys):
    (tmp_path / "good").write_text(_trace(1.6e9))
    (tmp_path / "dupes").write_text("0 1\n1 2\n1 3\n2 2\n3 1\n")  # repeated timestamps are fine
    bad = {
        "empty": "",
        "single": "1600000000.5 3.0\n",
        "unsorted": "0 1\n2 1\n1 1\n3 1\n",
        "nan": "0 1\n1 nan\n2 1\n",
        "negative": "0 1\n1 -3\n2 1\n",
        "binary": b"\x89PNG\r\n\x1a\n\x00\xff",
        "huge-span": "0 1\n5e6 1\n",
        "short": "0 1\n1.5 1\n",
    }
    for name, body in bad.items():
        path = tmp_path / "sub" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(body) if isinstance(body, bytes) else path.write_text(body)
    assert _run_cli(["pba", "evaluate", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "from 2 trace(s), 8 file(s) left out" in out
    named = {line.split()[2].split(":")[0] for line in err.splitlines() if line.startswith("left out")}
    assert named == {f"sub/{name}" for name in bad}
    assert _run_cli(["pba", "evaluate", str(tmp_path), "--strict"]) == 1  # for scripts that must not skip


def test_nothing_to_score_is_an_error_naming_why(tmp_path: Path, capsys):
    assert _run_cli(["pba", "evaluate", str(tmp_path / "missing")]) == 2
    assert "dir" in capsys.readouterr().err
    assert _run_cli(["pba", "evaluate", str(tmp_path)]) == 2
    assert "no trace files" in capsys.readouterr().err
    (tmp_path / "bad").write_text("0 1\n1 oops\n")
    assert _run_cli(["pba", "evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad:2" in err and "no usable trace" in err
    assert _run_cli(["pba"]) == 2
