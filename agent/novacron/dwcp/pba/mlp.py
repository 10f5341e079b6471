"""Small multi-output MLPs in plain numpy: inference for the agent, gradients for training.

Outputs are per-horizon log ratios o_h; the forecast is (ref + EPS) * exp(o_h) - EPS, clipped at
0, so the network only learns how the future departs from the recent level. The shipped model is
an Ensemble: a few MLPs trained from different seeds on the same rows, outputs averaged, which
cuts variance for a few matrix products more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUT_CLIP = 6.0


@dataclass
class Mlp:
    """Weights: layers[i] = (W, b). ReLU between layers, linear output. mu/sigma standardise X."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    mu: np.ndarray
    sigma: np.ndarray
    horizons: np.ndarray
    meta: dict[str, float] = field(default_factory=dict)

    @classmethod
    def init(
        cls,
        sizes: list[int],
        mu: np.ndarray,
        sigma: np.ndarray,
        horizons: np.ndarray,
        rng: np.random.Generator,
    ) -> Mlp:
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            scale = np.sqrt(2.0 / a) if i < len(sizes) - 2 else 0.01 / np.sqrt(a)
            layers.append((rng.normal(0.0, scale, (a, b)), np.zeros(b)))
        return cls(layers=layers, mu=mu, sigma=sigma, horizons=horizons)

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mu) / self.sigma
        for w, b in self.layers[:-1]:
            h = np.maximum(h @ w + b, 0.0)
        w, b = self.layers[-1]
        return np.clip(h @ w + b, -OUT_CLIP, OUT_CLIP)

    def forward_train(self, xs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Forward on standardised inputs, keeping activations for `backward`."""
        acts = [xs]
        h = xs
        for w, b in self.layers[:-1]:
            h = np.maximum(h @ w + b, 0.0)
            acts.append(h)
        w, b = self.layers[-1]
        return h @ w + b, acts

    def backward(self, acts: list[np.ndarray], g_out: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        grads: list[tuple[np.ndarray, np.ndarray]] = []
        g = g_out
        for i in range(len(self.layers) - 1, -1, -1):
            w, _ = self.layers[i]
            a = acts[i]
            grads.append((a.T @ g, g.sum(axis=0)))
            if i:
                g = (g @ w.T) * (a > 0)
        grads.reverse()
        return grads

    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in self.layers)

    def copy(self) -> Mlp:
        return Mlp(
            [(w.copy(), b.copy()) for w, b in self.layers],
            self.mu,
            self.sigma,
            self.horizons,
            dict(self.meta),
        )


@dataclass
class Ensemble:
    """Members share the input standardisation and horizons; forward averages their outputs."""

    members: list[Mlp]
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def mu(self) -> np.ndarray:
        return self.members[0].mu

    @property
    def sigma(self) -> np.ndarray:
        return self.members[0].sigma

    @property
    def horizons(self) -> np.ndarray:
        return self.members[0].horizons

    def forward(self, x: np.ndarray) -> np.ndarray:
        h0 = (x - self.mu) / self.sigma
        total = np.zeros((len(x), len(self.horizons)))
        for member in self.members:
            h = h0
            for w, b in member.layers[:-1]:
                h = np.maximum(h @ w + b, 0.0)
            w, b = member.layers[-1]
            total += h @ w + b
        return np.clip(total / len(self.members), -OUT_CLIP, OUT_CLIP)

    def n_params(self) -> int:
        return sum(m.n_params() for m in self.members)

    def shapes(self) -> list[tuple[int, int]]:
        return [w.shape for w, _ in self.members[0].layers]

    def to_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "mu": self.mu,
            "sigma": self.sigma,
            "horizons": self.horizons,
            "n_members": np.array(len(self.members)),
            "n_layers": np.array(len(self.members[0].layers)),
        }
        for k, member in enumerate(self.members):
            for i, (w, b) in enumerate(member.layers):
                out[f"m{k}_w{i}"] = w.astype(np.float32)
                out[f"m{k}_b{i}"] = b.astype(np.float32)
        for key, val in self.meta.items():
            out[f"meta_{key}"] = np.array(val)
        return out

    @classmethod
    def from_arrays(cls, arrs: dict[str, np.ndarray]) -> Ensemble:
        n_members, n_layers = int(arrs["n_members"]), int(arrs["n_layers"])
        if not (1 <= n_members <= 64 and 1 <= n_layers <= 16):
            raise ValueError(f"implausible ensemble size {n_members} x {n_layers}")
        mu, sigma = np.asarray(arrs["mu"], np.float64), np.asarray(arrs["sigma"], np.float64)
        horizons = np.asarray(arrs["horizons"], np.float64)
        members = [
            Mlp(
                [
                    (np.asarray(arrs[f"m{k}_w{i}"], np.float64), np.asarray(arrs[f"m{k}_b{i}"], np.float64))
                    for i in range(n_layers)
                ],
                mu,
                sigma,
                horizons,
            )
            for k in range(n_members)
        ]
        meta = {key[5:]: float(v) for key, v in arrs.items() if key.startswith("meta_")}
        return cls(members=members, meta=meta)
