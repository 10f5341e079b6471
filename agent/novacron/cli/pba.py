"""`novacron pba evaluate DIR [--json] [--strict]`: score the shipped predictor and the baselines
on a folder of traces.

The adapter around the sans-I/O PBA core (dwcp/pba): it reads the folder and the shipped weights,
reports what it cannot use, and prints. A file that is not a well-formed trace is named on stderr
with its reason and left out; the others are scored. Exit 0 when something was scored (1 with
--strict if a file was left out), 2 when nothing could be.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from novacron_sdk.errors import InvalidInput, NovacronError

if TYPE_CHECKING:
    from novacron.dwcp.pba.evaluate import Metrics
    from novacron.dwcp.pba.gru import GruModel


def register_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pba = subparsers.add_parser("pba", help="bandwidth prediction (PBA) tools")
    pba.set_defaults(func=lambda args: _usage(pba))
    sub = pba.add_subparsers(dest="pba_command")
    ev = sub.add_parser(
        "evaluate",
        help="score the shipped ML predictor and the baselines on a folder of traces",
        description="Every file under DIR (recursively; hidden files, README and *.md/*.rst skipped) "
        "is one trace of '<time s> <throughput Mbit/s>' lines. Prints MAE, RMSE (Mbit/s) and MdAPE "
        "(%) per predictor and horizon (1s, 5s, 30s), pooled over all traces. Files that are not "
        "well-formed traces are named on stderr and left out.",
    )
    ev.add_argument("dir", type=Path, metavar="DIR")
    ev.add_argument("--json", action="store_true", help="print {predictor: {horizon: {mae, rmse, mdape}}}")
    ev.add_argument("--strict", action="store_true", help="exit 1 when any file was left out")
    ev.set_defaults(func=_evaluate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _evaluate(args: argparse.Namespace) -> int:
    from novacron.cli.trace_files import read_dir
    from novacron.dwcp.pba.evaluate import evaluate_traces  # numpy: only when asked

    try:
        traces, unreadable = read_dir(args.dir)
    except NovacronError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unscored: list[InvalidInput] = []
    result = evaluate_traces(traces, _shipped_model(), refused=unscored) if traces else {}
    for e in unreadable + unscored:
        print(f"left out {e}", file=sys.stderr)
    if not result:
        why = "no usable trace" if traces or unreadable else "no trace files"
        print(f"error: dir: {why} in {args.dir}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(result), indent=2, sort_keys=True))
    else:
        print(format_table(result, len(traces) - len(unscored), len(unreadable) + len(unscored)))
    return 1 if args.strict and (unreadable or unscored) else 0


def _shipped_model() -> GruModel | None:
    from novacron.dwcp.pba.model import load_shipped

    try:
        return load_shipped()
    except Exception as e:  # a missing or broken model only drops the "ml" row
        print(f"warning: PBA ML model unavailable ({e}); scoring baselines only", file=sys.stderr)
        return None


def to_json(m: Metrics) -> dict[str, dict[str, dict[str, float | None]]]:
    """Only mae/rmse/mdape; NaN (no decision to score) becomes null so the output is valid JSON."""
    return {
        p: {
            h: {k: (None if math.isnan(cell[k]) else round(cell[k], 6)) for k in ("mae", "rmse", "mdape")}
            for h, cell in hs.items()
        }
        for p, hs in m.items()
    }


def format_table(m: Metrics, scored: int, left_out: int = 0) -> str:
    horizons = list(next(iter(m.values())).keys())
    head = f"{'predictor':<10}" + "".join(
        f"{h + ' MAE':>10}{h + ' RMSE':>10}{h + ' MdAPE%':>12}" for h in horizons
    )
    lines = [head]
    for p, hs in m.items():
        lines.append(
            f"{p:<10}"
            + "".join(f"{hs[h]['mae']:>10.4f}{hs[h]['rmse']:>10.4f}{hs[h]['mdape']:>12.2f}" for h in horizons)
        )
    n = int(next(iter(next(iter(m.values())).values()))["n"])
    aside = f", {left_out} file(s) left out" if left_out else ""
    lines.append(f"({n} decisions at the 1s horizon from {scored} trace(s){aside}; errors in Mbit/s)")
    return "\n".join(lines)
