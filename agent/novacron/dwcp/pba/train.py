"""Offline training of the PBA MLP: numpy only, hand-written Adam, L1 (median) loss, fixed seed.

The loss is the absolute error of the log ratio log((y+EPS)/(ref+EPS)). Because the median
commutes with monotone maps, its minimiser is the conditional median of y itself, the point
forecast that minimises MAE, while log space keeps links of very different speed on one scale.
Every data set gets the same total weight (puffer has 20x more seconds than hsdpa-3g), and a
validation part of the TRAINING files (by file-name hash, separate from the test split) picks
the epoch. Test files are never read here.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from novacron.dwcp.pba import features
from novacron.dwcp.pba.dataset import batch_features, decisions
from novacron.dwcp.pba.mlp import Ensemble, Mlp
from novacron.dwcp.pba.predictor import HORIZONS_S
from novacron.dwcp.pba.traces import Trace

log = logging.getLogger(__name__)

SEED = 20240611
VAL_PERCENT = 20


@dataclass
class TrainConfig:
    hidden: tuple[int, ...] = (32, 32)
    members: int = 5
    epochs: int = 12
    batch: int = 512
    lr: float = 2e-3
    max_rows_per_dataset: int = 150_000
    seed: int = SEED


@dataclass
class Rows:
    x: np.ndarray
    y: np.ndarray  # (n, H) Mbit/s targets, NaN where undefined
    ref: np.ndarray
    group: np.ndarray  # data-set index, training weights only (never a model input)


def is_val(name: str) -> bool:
    digest = hashlib.sha256(f"pba-val-v1:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < VAL_PERCENT


def build_rows(traces: dict[str, list[Trace]], max_rows: int, rng: np.random.Generator) -> Rows:
    xs, ys, refs, groups = [], [], [], []
    for gi, (_, trs) in enumerate(sorted(traces.items())):
        parts = []
        for tr in trs:
            dec = decisions(tr)
            if len(dec):
                x, ref = batch_features(tr, dec)
                parts.append((x, dec.y, ref))
        if not parts:
            continue
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        ref = np.concatenate([p[2] for p in parts])
        if len(x) > max_rows:
            keep = np.sort(rng.choice(len(x), max_rows, replace=False))
            x, y, ref = x[keep], y[keep], ref[keep]
        xs.append(x)
        ys.append(y)
        refs.append(ref)
        groups.append(np.full(len(x), gi))
    return Rows(np.concatenate(xs), np.concatenate(ys), np.concatenate(refs), np.concatenate(groups))


def _log_target(rows: Rows) -> np.ndarray:
    return np.log(rows.y + features.EPS) - np.log(rows.ref + features.EPS)[:, None]


def _weights(group: np.ndarray) -> np.ndarray:
    counts = np.bincount(group)
    w = 1.0 / counts[group]
    return w / w.mean()


def val_loss(model: Mlp | Ensemble, rows: Rows) -> float:
    """Mean over data sets and horizons of MAE (Mbit/s) relative to that data set's mean target."""
    pred = predict_rows(model, rows)
    scores = []
    for g in np.unique(rows.group):
        sel = rows.group == g
        for j in range(rows.y.shape[1]):
            ok = sel & ~np.isnan(rows.y[:, j])
            if ok.any():
                scores.append(np.mean(np.abs(pred[ok, j] - rows.y[ok, j])) / np.mean(rows.y[ok, j]))
    return float(np.mean(scores))


def predict_rows(model: Mlp | Ensemble, rows: Rows) -> np.ndarray:
    o = model.forward(rows.x)
    return np.maximum((rows.ref[:, None] + features.EPS) * np.exp(o) - features.EPS, 0.0)


def fit(train: Rows, val: Rows, cfg: TrainConfig, seed: int) -> Mlp:
    """One member: its own initialisation and batch order from `seed`, best epoch on `val`."""
    rng = np.random.default_rng(seed)
    mu = train.x.mean(axis=0)
    sigma = train.x.std(axis=0) + 1e-6
    model = Mlp.init(
        [train.x.shape[1], *cfg.hidden, len(HORIZONS_S)], mu, sigma, np.asarray(HORIZONS_S, np.float64), rng
    )
    xs = (train.x - mu) / sigma
    z = _log_target(train)
    mask = ~np.isnan(z)
    z = np.where(mask, z, 0.0)
    w = _weights(train.group)
    params = [p for layer in model.layers for p in layer]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    b1, b2, step = 0.9, 0.999, 0
    best = (np.inf, model.copy(), -1)
    n = len(xs)
    steps_per_epoch = max(n // cfg.batch, 1)
    for epoch in range(cfg.epochs):
        lr = cfg.lr * 0.5 * (1 + np.cos(np.pi * epoch / cfg.epochs))  # cosine decay
        order = rng.permutation(n)
        for s in range(steps_per_epoch):
            idx = order[s * cfg.batch : (s + 1) * cfg.batch]
            out, acts = model.forward_train(xs[idx])
            wm = mask[idx] * w[idx, None]
            g_out = np.sign(out - z[idx]) * wm / wm.sum()
            grads = model.backward(acts, g_out)
            flat = [g for pair in grads for g in pair]
            step += 1
            for i, (p, g) in enumerate(zip(params, flat, strict=True)):
                m1[i] = b1 * m1[i] + (1 - b1) * g
                m2[i] = b2 * m2[i] + (1 - b2) * g * g
                p -= lr * (m1[i] / (1 - b1**step)) / (np.sqrt(m2[i] / (1 - b2**step)) + 1e-8)
        vl = val_loss(model, val)
        log.debug("epoch %d lr %.5f val %.4f", epoch, lr, vl)
        if vl < best[0]:
            best = (vl, model.copy(), epoch)
    log.info("member seed %d: best epoch %d, val %.4f", seed, best[2], best[0])
    return best[1]


def train_model(train_traces: dict[str, list[Trace]], cfg: TrainConfig | None = None) -> Ensemble:
    """Train on `train_traces` (already the training split), validating on a part of them."""
    cfg = cfg or TrainConfig()
    rng = np.random.default_rng(cfg.seed)
    fit_part = {d: [t for t in trs if not is_val(t.name)] for d, trs in train_traces.items()}
    val_part = {d: [t for t in trs if is_val(t.name)] for d, trs in train_traces.items()}
    rows = build_rows(fit_part, cfg.max_rows_per_dataset, rng)
    val = build_rows(val_part, cfg.max_rows_per_dataset // 3, rng)
    log.info("training rows %d, validation rows %d, features %d", len(rows.x), len(val.x), rows.x.shape[1])
    members = [fit(rows, val, cfg, cfg.seed + k) for k in range(cfg.members)]
    ens = Ensemble(members)
    ens.meta = {"val_loss": val_loss(ens, val), "seed": float(cfg.seed), "train_rows": float(len(rows.x))}
    log.info("ensemble of %d: val %.4f", cfg.members, ens.meta["val_loss"])
    return ens
