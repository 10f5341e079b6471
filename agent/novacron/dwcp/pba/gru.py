"""The PBA sequence model in plain numpy: a small ensemble of GRUs, each with a per-decision MLP head.

Trained offline with PyTorch (tools/pba/train_gru.py) and exported to .npz; inference needs only numpy,
so the agent never depends on torch. The equations are PyTorch's nn.GRU (gate order r, z, n):

    r = sig(W_ir x + b_ir + W_hr h + b_hr)      z = sig(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      h' = (1 - z) * n + z * h

Member k's head maps [h_k, decision inputs] -> ReLU layer(s) -> per-horizon log ratios to the
reference level; the ensemble averages those log ratios (a geometric mean of the members).
All members are stacked along a leading axis K, so one step of the whole ensemble is a handful
of batched matrix products whatever K is; the stream (one step per sample) and the batch
evaluation (a whole trace) run the very same `step` and `head_out`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUT_CLIP = 6.0
_GRU_KEYS = ("w_ih", "w_hh", "b_ih", "b_hh")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


@dataclass
class GruModel:
    w_ih: np.ndarray  # (K, 3H, N_IN)
    w_hh: np.ndarray  # (K, 3H, H)
    b_ih: np.ndarray  # (K, 3H)
    b_hh: np.ndarray  # (K, 3H)
    head: list[tuple[np.ndarray, np.ndarray]]  # per layer: W (K, in, out), b (K, out); ReLU between
    mu: np.ndarray  # (N_IN,) input standardisation
    sigma: np.ndarray
    horizons: np.ndarray
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def members(self) -> int:
        return self.w_hh.shape[0]

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[2]

    def zero_state(self) -> np.ndarray:
        return np.zeros((self.members, self.hidden))

    def input_proj(self, x_raw: np.ndarray) -> np.ndarray:
        """W_ih x + b_ih for raw sample rows x (..., N_IN) -> (..., K, 3H)."""
        xs = (x_raw - self.mu) / self.sigma
        return np.einsum("...f,kgf->...kg", xs, self.w_ih) + self.b_ih

    def step(self, gi: np.ndarray, h: np.ndarray) -> np.ndarray:
        """One step of every member: gi (K, 3H) from input_proj, state h (K, H) -> new state."""
        H = self.hidden
        gh = np.matmul(self.w_hh, h[:, :, None])[:, :, 0] + self.b_hh
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        return (1.0 - z) * n + z * h

    def states(self, x_raw: np.ndarray) -> np.ndarray:
        """Hidden states (n, K, H) after each sample row of a trace, starting from zero."""
        gi = self.input_proj(x_raw)
        out = np.empty((len(x_raw), self.members, self.hidden))
        h = self.zero_state()
        for i in range(len(x_raw)):
            h = self.step(gi[i], h)
            out[i] = h
        return out

    def head_out(self, h: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Ensemble log ratios (n, n_horizons) from states h (n, K, H) and head inputs dec (n, D)."""
        a = np.concatenate([h, np.broadcast_to(dec[:, None, :], (*h.shape[:2], dec.shape[1]))], axis=2)
        a = a.transpose(1, 0, 2)  # (K, n, in)
        for w, b in self.head[:-1]:
            a = np.maximum(np.matmul(a, w) + b[:, None, :], 0.0)
        w, b = self.head[-1]
        out = (np.matmul(a, w) + b[:, None, :]).mean(axis=0)
        return np.clip(out, -OUT_CLIP, OUT_CLIP)

    def outputs(self, x_raw: np.ndarray, last: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Log ratios (n_dec, n_horizons) for a whole trace: sample rows, and for each decision
        the index of the last sample seen and its head inputs."""
        if not len(last):
            return np.zeros((0, len(self.horizons)))
        return self.head_out(self.states(x_raw)[last], dec)

    def n_params(self) -> int:
        arrays = [self.w_ih, self.w_hh, self.b_ih, self.b_hh, *(p for layer in self.head for p in layer)]
        return sum(a.size for a in arrays)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "mu": self.mu,
            "sigma": self.sigma,
            "horizons": self.horizons,
            "n_head": np.array(len(self.head)),
        }
        for name in _GRU_KEYS:
            out[name] = getattr(self, name).astype(np.float32)
        for i, (w, b) in enumerate(self.head):
            out[f"head_w{i}"] = w.astype(np.float32)
            out[f"head_b{i}"] = b.astype(np.float32)
        for key, val in self.meta.items():
            out[f"meta_{key}"] = np.array(val)
        return out

    @classmethod
    def from_arrays(cls, arrs: dict[str, np.ndarray]) -> GruModel:
        """Inverse of to_arrays; raises ValueError on any shape that does not chain."""
        n_head = int(arrs["n_head"])
        if not 1 <= n_head <= 8:
            raise ValueError(f"implausible number of head layers: {n_head}")

        def f64(key: str) -> np.ndarray:
            return np.asarray(arrs[key], np.float64)

        m = cls(
            *(f64(k) for k in _GRU_KEYS),
            head=[(f64(f"head_w{i}"), f64(f"head_b{i}")) for i in range(n_head)],
            mu=f64("mu"),
            sigma=f64("sigma"),
            horizons=f64("horizons"),
            meta={key[5:]: float(v) for key, v in arrs.items() if key.startswith("meta_")},
        )
        m.check_shapes()
        return m

    def check_shapes(self) -> None:
        K, G, F = self.w_ih.shape
        H = G // 3
        want = {"w_hh": (K, G, H), "b_ih": (K, G), "b_hh": (K, G), "mu": (F,), "sigma": (F,)}
        for name, shape in want.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if G != 3 * H or not 1 <= K <= 32:
            raise ValueError(f"implausible GRU shape {self.w_ih.shape}")
        width = None
        for i, (w, b) in enumerate(self.head):
            if w.ndim != 3 or w.shape[0] != K or b.shape != (K, w.shape[2]):
                raise ValueError(f"head layer {i} has shapes {w.shape} / {b.shape}")
            if width is not None and w.shape[1] != width:
                raise ValueError(f"head layer {i} takes {w.shape[1]} inputs, previous gives {width}")
            width = w.shape[2]
        if width != len(self.horizons):
            raise ValueError(f"head gives {width} outputs for {len(self.horizons)} horizons")
