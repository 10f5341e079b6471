"""Offline training of the PBA sequence model with PyTorch, and writing its weights (the agent
never runs this: it reads the weights with novacron.dwcp.pba.model).

A GRU reads each training trace from its first sample, exactly as the agent's stream will, in
truncated-BPTT chunks whose hidden state carries over (traces are packed into parallel streams,
each padded to whole chunks so a new trace always starts a chunk with a zero state). The loss is
the absolute error in Mbit/s of the horizon mean, i.e. the scored MAE itself; its minimiser is the
conditional median. Each data set gets equal total weight, and within a data set its decisions
are weighted by 1 / (that data set's mean target), so the loss is the mean over data sets of
MAE / mean level, the figure the validation part of the TRAINING files picks the epoch with.
Test files are never read here. Seeds are fixed; results on CPU are repeatable to rounding.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from novacron.dwcp.pba import seqfeat
from novacron.dwcp.pba.gru import GruModel
from novacron.dwcp.pba.model import FEATURE_VERSION
from novacron.dwcp.pba.predictor import HORIZONS_S
from novacron.dwcp.pba.seqdata import SeqTrace, seq_trace
from novacron.dwcp.pba.traces import Trace

log = logging.getLogger(__name__)

SEED = 20240611
VAL_PERCENT = 20


class TorchMissing(RuntimeError):
    """Training needs PyTorch, which is deliberately not a dependency of the agent."""


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise TorchMissing(
            "training the PBA model needs PyTorch (CPU build), which the agent does not depend on: "
            "install it into the venv (`.venv/bin/pip install torch`), or evaluate the shipped "
            "weights with `benchmarks/pba.py --use-shipped`"
        ) from e
    return torch


@dataclass
class TrainConfig:
    hidden: int = 96
    head: int = 64
    members: int = 3
    epochs: int = 45
    streams: int = 32
    chunk: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-5
    threads: int = 1
    seed: int = SEED


def is_val(name: str) -> bool:
    digest = hashlib.sha256(f"pba-val-v1:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < VAL_PERCENT


@dataclass
class Packed:
    """Traces packed into B streams of whole chunks, and the decisions that fall in each chunk."""

    x: np.ndarray  # (B, T, N_IN) standardised
    reset: np.ndarray  # (B, n_chunks) 1 where a trace starts at that chunk
    chunks: list[tuple[np.ndarray, ...]]  # per chunk: b, pos-in-chunk, dec, ref, y, w


def _pack(
    items: list[tuple[SeqTrace, int]],
    mu: np.ndarray,
    sigma: np.ndarray,
    wscale: np.ndarray,
    cfg: TrainConfig,
    rng: np.random.Generator | None,
) -> Packed:
    order = rng.permutation(len(items)) if rng is not None else np.arange(len(items))
    L = cfg.chunk
    lens = np.zeros(cfg.streams, dtype=np.int64)
    place: list[tuple[int, int, int]] = []  # item, stream, start
    for k in order.tolist():
        n = len(items[k][0].x)
        b = int(np.argmin(lens))
        place.append((k, b, int(lens[b])))
        lens[b] += -(-n // L) * L
    T = int(lens.max())
    x = np.zeros((cfg.streams, T, seqfeat.N_IN), dtype=np.float32)
    reset = np.zeros((cfg.streams, T // L), dtype=np.float32)
    rows: list[tuple[np.ndarray, ...]] = []
    for k, b, start in place:
        st, g = items[k]
        x[b, start : start + len(st.x)] = (st.x - mu) / sigma
        reset[b, start // L] = 1.0
        if len(st.last):
            pos = start + st.last
            w = np.repeat(wscale[g][None, :], len(st.last), 0)
            rows.append((np.full(len(pos), b), pos, st.dec, st.ref[st.last], st.y, w))
    cat = [np.concatenate([r[i] for r in rows]) for i in range(6)]
    chunk_of = cat[1] // L
    srt = np.argsort(chunk_of, kind="stable")
    cat = [c[srt] for c in cat]
    bounds = np.searchsorted(chunk_of[srt], np.arange(T // L + 1))
    chunks = []
    for c in range(T // L):
        s, e = bounds[c], bounds[c + 1]
        b, pos, dec, ref, y, w = (a[s:e] for a in cat)
        chunks.append((b, pos - c * L, dec.astype(np.float32), ref.astype(np.float32), y, w))
    return Packed(x=x, reset=reset, chunks=chunks)


def _net(torch: Any, cfg: TrainConfig) -> Any:
    nn = torch.nn

    class Net(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(seqfeat.N_IN, cfg.hidden, batch_first=True)
            self.fc1 = nn.Linear(cfg.hidden + seqfeat.N_DEC, cfg.head)
            self.fc2 = nn.Linear(cfg.head, len(HORIZONS_S))
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

        def head(self, h: Any, dec: Any) -> Any:
            z = torch.relu(self.fc1(torch.cat([h, dec], dim=1)))
            return self.fc2(z)

    return Net()


def _run(torch: Any, net: Any, packed: Packed, opt: Any | None) -> tuple[float, np.ndarray, np.ndarray]:
    """One pass over the packed streams; trains when `opt` is given. Returns (weighted loss,
    predictions, targets) over all decisions (in chunk order)."""
    B = packed.x.shape[0]
    L = packed.x.shape[1] // packed.reset.shape[1]
    h = torch.zeros(1, B, net.gru.hidden_size)
    xs = torch.from_numpy(packed.x)
    preds, ys, tot, totw = [], [], 0.0, 0.0
    for c, (b, pos, dec, ref, y, w) in enumerate(packed.chunks):
        keep = torch.from_numpy(1.0 - packed.reset[:, c])[None, :, None]
        h = h.detach() * keep
        with torch.set_grad_enabled(opt is not None):
            out, h = net.gru(xs[:, c * L : (c + 1) * L], h)
            if not len(b):
                continue
            hs = out[torch.from_numpy(b), torch.from_numpy(pos)]
            o = torch.clamp(net.head(hs, torch.from_numpy(dec)), -6.0, 6.0)
            r = torch.from_numpy(ref)[:, None] + seqfeat.EPS
            pred = torch.clamp(r * torch.exp(o) - seqfeat.EPS, min=0.0)
            mask = ~np.isnan(y)
            yt = torch.from_numpy(np.where(mask, y, 0.0).astype(np.float32))
            wt = torch.from_numpy((w * mask).astype(np.float32))
            loss_sum = (wt * torch.abs(pred - yt)).sum()
            if opt is not None:
                opt.zero_grad()
                (loss_sum / wt.sum().clamp(min=1e-9)).backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
        tot += float(loss_sum.detach())
        totw += float(wt.sum())
        preds.append(pred.detach().numpy())
        ys.append(y)
    return tot / max(totw, 1e-9), np.concatenate(preds), np.concatenate(ys)


def _export(nets: list[Any], mu: np.ndarray, sigma: np.ndarray) -> GruModel:
    """Stack the members' weights into the numpy model (head weights transposed to (in, out))."""
    sds = [{k: v.detach().numpy().astype(np.float64) for k, v in n.state_dict().items()} for n in nets]

    def stack(key: str, transpose: bool = False) -> np.ndarray:
        return np.stack([sd[key].T if transpose else sd[key] for sd in sds])

    return GruModel(
        w_ih=stack("gru.weight_ih_l0"),
        w_hh=stack("gru.weight_hh_l0"),
        b_ih=stack("gru.bias_ih_l0"),
        b_hh=stack("gru.bias_hh_l0"),
        head=[(stack("fc1.weight", True), stack("fc1.bias")), (stack("fc2.weight", True), stack("fc2.bias"))],
        mu=mu,
        sigma=sigma,
        horizons=np.asarray(HORIZONS_S, np.float64),
    )


def torch_outputs(nets: list[Any], model: GruModel, st: SeqTrace) -> np.ndarray:
    """The ensemble's log ratios for one trace computed by PyTorch itself (float32): the golden
    output the numpy implementation is tested against."""
    torch = _torch()
    xs = torch.from_numpy(((st.x - model.mu) / model.sigma).astype(np.float32))[None]
    dec = torch.from_numpy(st.dec.astype(np.float32))
    with torch.no_grad():
        outs = [n.head(n.gru(xs)[0][0][torch.from_numpy(st.last)], dec) for n in nets]
        o = torch.clamp(torch.stack(outs).mean(0), -6.0, 6.0)
    return o.numpy().astype(np.float64)


def _dataset_scale(items: list[tuple[SeqTrace, int]], n_groups: int) -> np.ndarray:
    """(G, H) decision weights: 1 / (decisions x mean target) of each data set and horizon."""
    out = np.ones((n_groups, len(HORIZONS_S)))
    for g in range(n_groups):
        ys = [st.y for st, gi in items if gi == g]
        if not ys:
            continue
        y = np.concatenate(ys)
        for j in range(y.shape[1]):
            ok = ~np.isnan(y[:, j])
            if ok.any():
                out[g, j] = 1.0 / max(ok.sum() * float(np.mean(y[ok, j])), 1e-9)
    return out * 1e4


def fit_member(
    fit: list[tuple[SeqTrace, int]],
    val: list[tuple[SeqTrace, int]],
    mu: np.ndarray,
    sigma: np.ndarray,
    cfg: TrainConfig,
    seed: int,
) -> tuple[Any, float]:
    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_groups = 1 + max(g for _, g in fit + val)
    w_fit, w_val = _dataset_scale(fit, n_groups), _dataset_scale(val, n_groups)
    net = _net(torch, cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    val_packed = _pack(val, mu, sigma, w_val, cfg, None)
    best: tuple[float, dict[str, Any], int] = (math.inf, {}, -1)
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        net.train()
        tl, _, _ = _run(torch, net, _pack(fit, mu, sigma, w_fit, cfg, rng), opt)
        sched.step()
        net.eval()
        vl, _, _ = _run(torch, net, val_packed, None)
        log.info(
            "seed %d epoch %d train %.4f val %.4f (%.1f s)", seed, epoch, tl, vl, time.perf_counter() - t0
        )
        if vl < best[0]:
            best = (vl, {k: v.clone() for k, v in net.state_dict().items()}, epoch)
    net.load_state_dict(best[1])
    log.info("member seed %d: best epoch %d, val %.4f", seed, best[2], best[0])
    return net, best[0]


def train_model(
    train_traces: dict[str, list[Trace]], cfg: TrainConfig | None = None
) -> tuple[GruModel, list[Any]]:
    """Train on `train_traces` (already the training split), validating on a part of them.
    Returns the numpy model and the torch members it was exported from (for golden outputs)."""
    cfg = cfg or TrainConfig()
    torch = _torch()
    torch.set_num_threads(cfg.threads)
    groups = sorted(train_traces)
    fit = [(seq_trace(t), g) for g, d in enumerate(groups) for t in train_traces[d] if not is_val(t.name)]
    val = [(seq_trace(t), g) for g, d in enumerate(groups) for t in train_traces[d] if is_val(t.name)]
    xs = np.concatenate([st.x for st, _ in fit])
    mu, sigma = xs.mean(axis=0), xs.std(axis=0) + 1e-6
    mu[seqfeat.FLAG_COL], sigma[seqfeat.FLAG_COL] = 0.0, 1.0  # the flag stays a 0/1 flag
    log.info("fit traces %d (%d samples), val traces %d", len(fit), len(xs), len(val))
    nets, vals = [], []
    for k in range(cfg.members):
        net, v = fit_member(fit, val, mu, sigma, cfg, cfg.seed + k)
        nets.append(net)
        vals.append(v)
    model = _export(nets, mu, sigma)
    model.meta = {"seed": float(cfg.seed), "member_val_loss": float(np.mean(vals))}
    return model, nets


def save_weights(model: GruModel, path: Path) -> None:
    """Write `model` as the .npz the agent loads, stamped with the input version this code computes."""
    model.meta["feature_version"] = float(FEATURE_VERSION)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez_compressed(f, **model.to_arrays())
