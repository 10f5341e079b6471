"""PBA benchmark: train (or load the shipped weights) and score every predictor on held-out traces.

    .venv/bin/python benchmarks/pba.py                 # train (needs PyTorch, ~10-15 min), evaluate
    .venv/bin/python benchmarks/pba.py --use-shipped   # evaluate the shipped weights (numpy only)
    .venv/bin/python benchmarks/pba.py --save-shipped --readme   # retrain, ship, rewrite README

Training uses PyTorch, which is NOT a dependency of the agent (inference is numpy); without it
the training mode stops with a message saying so. --save-shipped also writes the golden
outputs (PyTorch's own, for a fixed synthetic trace) that tests/unit/pba check numpy against.

Prints, per data set x predictor x horizon, MAE / RMSE (Mbit/s) and MdAPE (%) on the test split,
the ML-vs-best-baseline MAE improvement, and inference microseconds per prediction of the ML
predictor next to the run-time fallback baseline, both measured here in the same run.
"""

from __future__ import annotations

import os

# One BLAS thread: faster for these small matrices than two contending threads, and the
# training result is bit-for-bit reproducible.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import itertools  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "agent"), str(ROOT)]  # the agent's package, and tools/

from novacron.cli.trace_files import load_datasets  # noqa: E402
from novacron.dwcp.pba import baselines, dataset, evaluate, factory, traces  # noqa: E402
from novacron.dwcp.pba.model import WEIGHTS_FILE, MlPredictor, load_shipped  # noqa: E402
from novacron.dwcp.pba.predictor import HORIZONS_S, BandwidthPredictor  # noqa: E402
from novacron.dwcp.pba.seqdata import seq_trace  # noqa: E402

DEFAULT_DATA = Path("/work/shared/data/bandwidth-traces")
WEIGHTS = ROOT / "agent/novacron/dwcp/pba/weights" / WEIGHTS_FILE
GOLDEN = ROOT / "tests/unit/pba/data/gru_golden.npz"
README = ROOT / "benchmarks/README.md"
TARGET_PCT = 15.0


def per_dataset(test: dict[str, list[traces.Trace]], model: object) -> dict[str, evaluate.Metrics]:
    return {d: evaluate.evaluate_traces(trs, model) for d, trs in test.items()}  # type: ignore[arg-type]


def time_predictor(p: BandwidthPredictor, tr: traces.Trace, reps: int = 3) -> float:
    """Microseconds per (observe one sample + predict one horizon), best of `reps` passes."""
    best = float("inf")
    t, v = tr.t.tolist(), tr.mbps.tolist()
    for _ in range(reps):
        fresh = MlPredictor(p.model) if isinstance(p, MlPredictor) else type(p)()
        start = time.perf_counter()
        for ts, mbps in zip(t, v, strict=True):
            fresh.observe(ts, mbps)
            fresh.predict(5.0)
        best = min(best, (time.perf_counter() - start) / len(t) * 1e6)
    return best


def tune_baselines(train_traces: dict[str, list[traces.Trace]], per_set: int = 60) -> None:
    """Rank EWMA / Holt constants by mean (over data sets and horizons) of MAE / mean target,
    on a seeded subset of TRAINING files; the winners are the constants in baselines.py."""
    rng = np.random.default_rng(0)
    cands: dict[str, Callable[[], BandwidthPredictor]] = {}
    for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8):
        cands[f"ewma a={a}"] = functools.partial(baselines.Ewma, a)
    for a, b in itertools.product((0.2, 0.3, 0.5, 0.8), (0.01, 0.05, 0.2)):
        cands[f"holt a={a} b={b}"] = functools.partial(baselines.Holt, a, b)
    scores: dict[str, list[float]] = {k: [] for k in cands}
    for trs in train_traces.values():
        chosen = [trs[i] for i in rng.choice(len(trs), min(per_set, len(trs)), replace=False)]
        decs = [(t, dataset.decisions(t)) for t in chosen]
        y = np.concatenate([d.y for _, d in decs])
        for name, make in cands.items():
            p = np.concatenate([evaluate.run_streaming(make, t, d) for t, d in decs])
            for j in range(y.shape[1]):
                ok = ~np.isnan(y[:, j])
                scores[name].append(float(np.mean(np.abs(p[ok, j] - y[ok, j])) / np.mean(y[ok, j])))
    for name, sc in sorted(scores.items(), key=lambda kv: np.mean(kv[1])):
        print(f"{name:<18} {np.mean(sc):.4f}")


def table(results: dict[str, evaluate.Metrics], counts: dict[str, tuple[int, int]]) -> list[str]:
    hs = [evaluate.horizon_key(h) for h in HORIZONS_S]
    out = [
        "| data set (test/train files) | predictor | "
        + " | ".join(f"{h} MAE | {h} RMSE | {h} MdAPE %" for h in hs)
        + " |",
        "|---|---|" + "---:|" * (3 * len(hs)),
    ]
    for d, m in results.items():
        for p, cells in m.items():
            row = " | ".join(
                f"{cells[h]['mae']:.3f} | {cells[h]['rmse']:.3f} | {cells[h]['mdape']:.1f}" for h in hs
            )
            out.append(f"| {d} ({counts[d][1]}/{counts[d][0]}) | {p} | {row} |")
    return out


def improvement_table(results: dict[str, evaluate.Metrics]) -> tuple[list[str], bool]:
    hs = [evaluate.horizon_key(h) for h in HORIZONS_S]
    out = [
        "| data set | "
        + " | ".join(f"{h}: best baseline, ML MAE vs it" for h in hs)
        + " | >= 15% everywhere |",
        "|---|" + "---|" * len(hs) + "---|",
    ]
    all_ok = True
    for d, m in results.items():
        cells, ok = [], True
        for h in hs:
            best, pct = evaluate.improvement(m, h)
            ok &= pct >= TARGET_PCT
            cells.append(f"{best} {m[best][h]['mae']:.3f} -> {m['ml'][h]['mae']:.3f}: **{-pct:+.1f}%**")
        all_ok &= ok
        out.append(f"| {d} | " + " | ".join(cells) + f" | {'yes' if ok else 'no'} |")
    return out, all_ok


def update_readme(section: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## PBA\b.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip() + "\n\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    README.write_text(text)


def golden_trace() -> traces.Trace:
    """A fixed synthetic trace (irregular spacing, level drift, an outage, a long gap): the input
    of the golden outputs. Regenerated identically by tests/unit/pba/test_pba_model.py."""
    rng = np.random.default_rng(12345)
    n = 400
    dt = rng.choice([0.1, 0.5, 1.0, 2.0, 5.0], n - 1)
    dt[200] = 40.0
    t = 7.0 + np.concatenate(([0.0], np.cumsum(dt)))
    v = np.exp(np.cumsum(rng.normal(0, 0.08, n))) * rng.lognormal(0, 0.3, n) * 3.0
    v[150:160] = 0.0
    return traces.Trace("golden", np.round(t, 3), np.round(v, 6))


def save_golden(model: object, nets: list[object]) -> None:
    from tools.pba.train_gru import torch_outputs

    tr = golden_trace()
    st = seq_trace(tr)
    out = torch_outputs(nets, model, st)  # type: ignore[arg-type]
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, t=tr.t, mbps=tr.mbps, x=st.x, last=st.last, dec=st.dec, torch_out=out)
    print(f"saved golden outputs {GOLDEN}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of data-set sub-folders")
    ap.add_argument("--use-shipped", action="store_true", help="skip training, load the packaged weights")
    ap.add_argument("--save-shipped", action="store_true", help="write the trained weights into the package")
    ap.add_argument(
        "--readme", action="store_true", help="rewrite the '## PBA' table in benchmarks/README.md"
    )
    ap.add_argument(
        "--tune-baselines", action="store_true", help="grid-search EWMA/Holt constants on training files"
    )
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads for training (default 1)")
    ap.add_argument("--members", type=int, default=None, help="ensemble size (default: TrainConfig's)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per member (default: TrainConfig's)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    data = load_datasets(args.data)
    split = {d: traces.split(trs) for d, trs in data.items()}
    counts = {d: (len(a), len(b)) for d, (a, b) in split.items()}
    print("split (train/test files):", ", ".join(f"{d} {a}/{b}" for d, (a, b) in counts.items()))
    if args.tune_baselines:
        tune_baselines({d: a for d, (a, _) in split.items()})
        return 0

    if args.use_shipped:
        model = load_shipped()
        secs = model.meta.get("train_seconds")
        trained = f", trained in {secs:.0f} s on one core" if secs else ""
        how = (
            f"shipped weights{trained}; validation loss {model.meta.get('member_val_loss', float('nan')):.4f}"
        )
    else:
        from tools.pba import train_gru

        cfg = train_gru.TrainConfig(threads=args.threads)
        if args.members:
            cfg.members = args.members
        if args.epochs:
            cfg.epochs = args.epochs
        t0 = time.perf_counter()
        try:
            model, nets = train_gru.train_model({d: a for d, (a, _) in split.items()}, cfg)
        except train_gru.TorchMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        secs = time.perf_counter() - t0
        how = f"trained in this run in {secs:.0f} s with {args.threads} thread(s)"
        model.meta["train_seconds"] = secs
        if args.save_shipped:
            train_gru.save_weights(model, WEIGHTS)
            print(f"saved {WEIGHTS} ({WEIGHTS.stat().st_size} bytes)")
            save_golden(model, nets)
    shape = f"{model.members} x GRU({model.hidden}) + head {[w.shape[1:] for w, _ in model.head]}"
    print(f"ML model: {shape}, {model.n_params()} parameters, {how}")

    t0 = time.perf_counter()
    results = per_dataset({d: b for d, (_, b) in split.items()}, model)
    print(f"evaluated in {time.perf_counter() - t0:.0f} s")

    longest = max((t for _, b in split.values() for t in b), key=lambda t: len(t.t))
    us_ml = time_predictor(MlPredictor(model), longest)
    us_fb = time_predictor(factory.FALLBACK(), longest)
    us_line = (
        f"Inference (observe one sample + predict, one core, {len(longest.t)}-sample trace): "
        f"ml {us_ml:.1f} µs/prediction vs {factory.FALLBACK.name} (run-time fallback) "
        f"{us_fb:.2f} µs/prediction."
    )

    rows = table(results, counts)
    imp, all_ok = improvement_table(results)
    verdict = "Target (ML MAE >= 15% below the best baseline on every data set and horizon): " + (
        "MET." if all_ok else "NOT MET on the cells marked 'no' — figures above are as measured."
    )
    print("\n".join(rows), "\n", "\n".join(imp), "\n", verdict, "\n", us_line, sep="\n")

    if args.readme:
        update_readme(readme_section(rows, imp, verdict, us_line, how, shape, model.n_params()))
        print(f"updated {README}")
    return 0


def readme_section(
    rows: list[str], imp: list[str], verdict: str, us_line: str, how: str, shape: str, n_params: int
) -> str:
    return f"""## PBA

Bandwidth prediction (agent/novacron/dwcp/pba/). Reproduce: `.venv/bin/python benchmarks/pba.py`
(trains; needs PyTorch, CPU build, ~10–15 min on one core) or
`.venv/bin/python benchmarks/pba.py --use-shipped` (numpy only, ~1 min); add `--readme` to
rewrite this section. Any folder of traces: `novacron pba evaluate DIR [--json]`.

**What is scored.** A sample `(t_i, v_i)` is the mean throughput over `(t_(i-1), t_i]`; a trace is
thus a step function, resampled into 1 s bins by time-weighted average. Decisions are taken at
every grid time `tau = t_0 + k` s (k >= 1); every predictor has seen exactly the samples with
`t_i <= tau` and forecasts the mean throughput over `(tau, tau + h]`, h = 1, 5, 30 s (decisions
whose horizon runs past the trace end are dropped). Errors are pooled over all decisions of the
held-out traces of a data set: MAE and RMSE in Mbit/s, MdAPE = median |error|/target in % over
targets > 0.01 Mbit/s. The "best baseline" of a cell is picked on the test files themselves
(the strictest reading of the target).

**Split.** By file: test iff `sha256("pba-split-v1:<data set>/<file>") mod 100 < 30`
(≈30% test); the ML model never reads test files. It trains on the training files of all data
sets together; 20% of them (another hash) are held back to pick each member's epoch. Baseline
constants (EWMA α={baselines.EWMA_ALPHA}, Holt α={baselines.HOLT_ALPHA},
β={baselines.HOLT_BETA}) were chosen by grid search on training files only.

**ML model.** {shape}, {n_params} parameters ({how}). Each GRU reads one row per measurement
from the link's first sample on (change of the log value, log spacing, first-sample flag, log
ratio to the EWMA level, trace age); at a decision its head gets the hidden state and the time
since the last sample, and outputs log(forecast / EWMA level) for 1, 5 and 30 s; the members'
outputs are averaged. Trained with PyTorch (truncated BPTT over whole traces, Adam, cosine
schedule, fixed seeds) with the L1 loss on the horizon mean in Mbit/s — the scored MAE itself,
minimised by the conditional median — each data set weighted equally (decisions scaled by 1 / its
mean target). No input names a data set, and none is the absolute level: the traces are access
networks of 0.01–25 Mbit/s and the agent's links run at 1–10 Gbit/s (seqfeat.py says what a
level-reading variant gained and why it is not shipped). Inference is numpy (weights exported to
.npz; a unit test checks numpy against PyTorch's own outputs saved at export).

{chr(10).join(rows)}

ML MAE change vs the best baseline of each cell (negative = ML better):

{chr(10).join(imp)}

{verdict}

{us_line}

Not shipped: a smaller ensemble (3 x GRU(64), 30 epochs) given the absolute log level (capped at
25 Mbit/s) as an extra input, measured once with this script (not re-run by it), scored fcc
-9.1/-8.1/-9.6%, hsdpa-3g -9.1/-10.5/-13.1%, oboe -9.5/-9.9/-10.6%, puffer -3.4/-7.4/-25.4% at
1/5/30 s: within ±0.6 points of the shipped model except 30 s on oboe (+2.9) and puffer (+1.9),
still short of -15% on 11 of 12 cells. But it had learned the traces' pull towards their
population's mean, forecasting a steady 25 Mbit/s link (and so any faster one) at 89/74/57% of
its rate. The agent's links are 1–10 Gbit/s, so the scale-free model is the one shipped (it
forecasts a steady link at 98/97/92% of its rate, whatever the rate).

Caveats. hsdpa-3g and the Norway part of fcc-hsdpa-mixed come from the same 2010–2011 campaign
(Riiser et al.), so a held-out trace of one may share a commute with a training trace of the
other; a check with the earlier feature-MLP model (dropping one source from training) moved the
other's test MAE by under 1.2%. Puffer file names carry a session id with a `_N` suffix, so
streams of one session can fall on both sides of the file split; no input identifies a session.
"""


if __name__ == "__main__":
    raise SystemExit(main())
