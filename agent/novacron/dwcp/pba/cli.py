"""`novacron pba evaluate DIR [--json]`: score the shipped predictor and the baselines on traces.

The lead's top-level CLI calls `register_cli(subparsers)`; each leaf parser sets `func`, which
takes the parsed arguments and returns the process exit code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from novacron_sdk.errors import NovacronError

if TYPE_CHECKING:
    from novacron.dwcp.pba.evaluate import Metrics


def register_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pba = subparsers.add_parser("pba", help="bandwidth prediction (PBA) tools")
    pba.set_defaults(func=lambda args: _usage(pba))
    sub = pba.add_subparsers(dest="pba_command")
    ev = sub.add_parser(
        "evaluate",
        help="score the shipped ML predictor and the baselines on a folder of traces",
        description="Every file under DIR (recursively; README/*.md skipped) is one trace of "
        "'<time s> <throughput Mbit/s>' lines. Prints MAE, RMSE (Mbit/s) and MdAPE (%%) per "
        "predictor and horizon (1s, 5s, 30s), pooled over all traces.",
    )
    ev.add_argument("dir", type=Path, metavar="DIR")
    ev.add_argument("--json", action="store_true", help="print {predictor: {horizon: {mae, rmse, mdape}}}")
    ev.set_defaults(func=_evaluate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _evaluate(args: argparse.Namespace) -> int:
    try:
        from novacron.dwcp.pba.evaluate import evaluate_dir  # numpy: only when asked

        result = evaluate_dir(args.dir)
    except NovacronError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(result), indent=2, sort_keys=True))
    else:
        print(format_table(result))
    return 0


def to_json(m: Metrics) -> dict[str, dict[str, dict[str, float | None]]]:
    """Only mae/rmse/mdape; NaN (no decision to score) becomes null so the output is valid JSON."""
    return {
        p: {
            h: {k: (None if math.isnan(cell[k]) else round(cell[k], 6)) for k in ("mae", "rmse", "mdape")}
            for h, cell in hs.items()
        }
        for p, hs in m.items()
    }


def format_table(m: Metrics) -> str:
    horizons = list(next(iter(m.values())).keys()) if m else []
    head = f"{'predictor':<10}" + "".join(
        f"{h + ' MAE':>10}{h + ' RMSE':>10}{h + ' MdAPE%':>12}" for h in horizons
    )
    lines = [head]
    for p, hs in m.items():
        lines.append(
            f"{p:<10}"
            + "".join(f"{hs[h]['mae']:>10.4f}{hs[h]['rmse']:>10.4f}{hs[h]['mdape']:>12.2f}" for h in horizons)
        )
    n = int(next(iter(next(iter(m.values())).values()))["n"]) if m else 0
    lines.append(f"({n} decisions at the 1s horizon; errors in Mbit/s)")
    return "\n".join(lines)
