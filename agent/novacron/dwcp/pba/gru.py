"""The PBA sequence model in plain numpy: a small GRU ensemble with a per-decision MLP head.

Trained offline with PyTorch (train_gru.py) and exported to .npz; inference needs only numpy,
so the agent never depends on torch. The equations are PyTorch's nn.GRU (gate order r, z, n):

    r = sig(W_ir x + b_ir + W_hr h + b_hr)      z = sig(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      h' = (1 - z) * n + z * h

Each member's head maps [h, decision inputs] -> ReLU layer -> per-horizon log ratios to the
reference level; the ensemble averages those log ratios (a geometric mean of the members).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUT_CLIP = 6.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


@dataclass
class GruMember:
    w_ih: np.ndarray  # (3H, N_IN)
    w_hh: np.ndarray  # (3H, H)
    b_ih: np.ndarray  # (3H,)
    b_hh: np.ndarray  # (3H,)
    head: list[tuple[np.ndarray, np.ndarray]]  # (W (in, out), b (out,)) per layer, ReLU between

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[1]

    def step(self, gi: np.ndarray, h: np.ndarray) -> np.ndarray:
        """One GRU step given the input projection gi = W_ih x + b_ih (3H,) and state h (H,)."""
        H = self.hidden
        gh = self.w_hh @ h + self.b_hh
        r = _sigmoid(gi[:H] + gh[:H])
        z = _sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
        n = np.tanh(gi[2 * H :] + r * gh[2 * H :])
        return (1.0 - z) * n + z * h

    def states(self, xs: np.ndarray) -> np.ndarray:
        """Hidden state after each row of the standardised inputs xs (n, N_IN), from zero."""
        gi_all = xs @ self.w_ih.T + self.b_ih
        out = np.empty((len(xs), self.hidden))
        h = np.zeros(self.hidden)
        for i in range(len(xs)):
            h = self.step(gi_all[i], h)
            out[i] = h
        return out

    def head_out(self, h: np.ndarray, dec: np.ndarray) -> np.ndarray:
        a = np.concatenate([h, dec], axis=-1)
        for w, b in self.head[:-1]:
            a = np.maximum(a @ w + b, 0.0)
        w, b = self.head[-1]
        return a @ w + b

    def n_params(self) -> int:
        return sum(a.size for a in (self.w_ih, self.w_hh, self.b_ih, self.b_hh)) + sum(
            w.size + b.size for w, b in self.head
        )


@dataclass
class GruModel:
    members: list[GruMember]
    mu: np.ndarray  # (N_IN,) input standardisation
    sigma: np.ndarray
    horizons: np.ndarray
    meta: dict[str, float] = field(default_factory=dict)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mu) / self.sigma

    def outputs(self, x: np.ndarray, last: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Per-horizon log ratios (n_dec, H) for a whole trace: raw sample inputs x, the last
        sample index and head inputs of each decision."""
        xs = self.standardise(x)
        total = np.zeros((len(last), len(self.horizons)))
        for m in self.members:
            total += m.head_out(m.states(xs)[last], dec)
        return np.clip(total / len(self.members), -OUT_CLIP, OUT_CLIP)

    def n_params(self) -> int:
        return sum(m.n_params() for m in self.members)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "mu": self.mu,
            "sigma": self.sigma,
            "horizons": self.horizons,
            "n_members": np.array(len(self.members)),
            "n_head": np.array(len(self.members[0].head)),
        }
        for k, m in enumerate(self.members):
            for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
                out[f"m{k}_{name}"] = getattr(m, name).astype(np.float32)
            for i, (w, b) in enumerate(m.head):
                out[f"m{k}_hw{i}"] = w.astype(np.float32)
                out[f"m{k}_hb{i}"] = b.astype(np.float32)
        for key, val in self.meta.items():
            out[f"meta_{key}"] = np.array(val)
        return out

    @classmethod
    def from_arrays(cls, arrs: dict[str, np.ndarray]) -> GruModel:
        n_members, n_head = int(arrs["n_members"]), int(arrs["n_head"])
        if not (1 <= n_members <= 32 and 1 <= n_head <= 8):
            raise ValueError(f"implausible model size: {n_members} members, {n_head} head layers")

        def f64(key: str) -> np.ndarray:
            return np.asarray(arrs[key], np.float64)

        members = [
            GruMember(
                w_ih=f64(f"m{k}_w_ih"),
                w_hh=f64(f"m{k}_w_hh"),
                b_ih=f64(f"m{k}_b_ih"),
                b_hh=f64(f"m{k}_b_hh"),
                head=[(f64(f"m{k}_hw{i}"), f64(f"m{k}_hb{i}")) for i in range(n_head)],
            )
            for k in range(n_members)
        ]
        meta = {key[5:]: float(v) for key, v in arrs.items() if key.startswith("meta_")}
        return cls(members, f64("mu"), f64("sigma"), f64("horizons"), meta)
