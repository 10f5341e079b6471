"""A small multi-output MLP in plain numpy: inference for the agent, gradients for training.

Outputs are per-horizon log ratios o_h; the forecast is (ref + EPS) * exp(o_h) - EPS, clipped at
0, so the network only learns how the future departs from the recent level.
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
    def init(cls, sizes: list[int], mu: np.ndarray, sigma: np.ndarray, horizons: np.ndarray,
             rng: np.random.Generator) -> Mlp:
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

    def to_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"mu": self.mu, "sigma": self.sigma, "horizons": self.horizons,
                                      "n_layers": np.array(len(self.layers))}
        for i, (w, b) in enumerate(self.layers):
            out[f"w{i}"] = w.astype(np.float32)
            out[f"b{i}"] = b.astype(np.float32)
        for k, val in self.meta.items():
            out[f"meta_{k}"] = np.array(val)
        return out

    @classmethod
    def from_arrays(cls, arrs: dict[str, np.ndarray]) -> Mlp:
        n = int(arrs["n_layers"])
        layers = [(np.asarray(arrs[f"w{i}"], np.float64), np.asarray(arrs[f"b{i}"], np.float64))
                  for i in range(n)]
        meta = {k[5:]: float(v) for k, v in arrs.items() if k.startswith("meta_")}
        return cls(layers=layers, mu=np.asarray(arrs["mu"], np.float64),
                   sigma=np.asarray(arrs["sigma"], np.float64),
                   horizons=np.asarray(arrs["horizons"], np.float64), meta=meta)
