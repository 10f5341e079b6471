"""The ML predictor at run time: shipped weights, streaming features, numpy-only inference.

Weights live in weights/pba_mlp.npz inside the package (read with importlib.resources, so
no network and no path guessing); anything wrong with them raises ModelLoadError and the
caller (factory.make_predictor) falls back to a baseline. The stream keeps just enough history
for the longest feature window, in growable numpy buffers, so a prediction costs one small
feature computation plus three matrix products.
"""

from __future__ import annotations

import importlib.resources
import io
import math
from pathlib import Path

import numpy as np

from novacron.dwcp.pba import features
from novacron.dwcp.pba.mlp import Ensemble
from novacron.dwcp.pba.predictor import HORIZONS_S, BandwidthPredictor

WEIGHTS_FILE = "pba_mlp.npz"
FEATURE_VERSION = 1


class ModelLoadError(ValueError):
    """The weights file is missing, unreadable or does not fit this code's features."""


def _validate(model: Ensemble) -> Ensemble:
    if int(model.meta.get("feature_version", -1)) != FEATURE_VERSION:
        raise ModelLoadError(
            f"weights are for feature version {model.meta.get('feature_version')}, "
            f"this code computes version {FEATURE_VERSION}"
        )
    nf = features.n_features()
    if model.mu.shape != (nf,) or model.sigma.shape != (nf,):
        raise ModelLoadError(f"weights standardise {model.mu.shape} features, code computes {nf}")
    if tuple(model.horizons) != HORIZONS_S:
        raise ModelLoadError(f"weights predict horizons {tuple(model.horizons)}, expected {HORIZONS_S}")
    for member in model.members:
        layers = member.layers
        if layers[0][0].shape[0] != nf or layers[-1][0].shape[1] != len(HORIZONS_S):
            raise ModelLoadError(
                f"a member maps {layers[0][0].shape[0]} features to "
                f"{layers[-1][0].shape[1]} outputs, expected {nf} -> {len(HORIZONS_S)}"
            )
        for w, b in layers:
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise ModelLoadError(f"bad layer shapes {w.shape} / {b.shape}")
        for a, b in zip(layers[:-1], layers[1:], strict=True):
            if a[0].shape[1] != b[0].shape[0]:
                raise ModelLoadError("layer shapes do not chain")
        if not all(np.isfinite(p).all() for layer in layers for p in layer):
            raise ModelLoadError("weights contain non-finite values")
    if not (np.isfinite(model.mu).all() and np.isfinite(model.sigma).all() and (model.sigma > 0).all()):
        raise ModelLoadError("input standardisation contains non-finite or non-positive values")
    return model


def load_weights(source: Path | bytes) -> Ensemble:
    """Load and check an .npz written by save_weights."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
        model = Ensemble.from_arrays(arrs)
    except ModelLoadError:
        raise
    except Exception as e:  # zip, key, shape or dtype trouble: all mean "unusable file"
        raise ModelLoadError(f"cannot read PBA weights: {type(e).__name__}: {e}") from e
    return _validate(model)


def load_shipped() -> Ensemble:
    try:
        data = (
            importlib.resources.files("novacron.dwcp.pba")
            .joinpath("weights")
            .joinpath(WEIGHTS_FILE)
            .read_bytes()
        )
    except (FileNotFoundError, OSError) as e:
        raise ModelLoadError(f"shipped PBA weights not found: {e}") from e
    return load_weights(data)


def save_weights(model: Ensemble, path: Path) -> None:
    model.meta["feature_version"] = float(FEATURE_VERSION)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez_compressed(f, **model.to_arrays())


def forecast_from_outputs(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-horizon log ratios -> Mbit/s, clipped at 0."""
    return np.maximum((ref[:, None] + features.EPS) * np.exp(out) - features.EPS, 0.0)


class MlPredictor(BandwidthPredictor):
    """Streaming form of the MLP; horizons between the trained ones interpolate the log ratio
    over log(horizon), horizons outside [1 s, 30 s] use the nearest trained one."""

    name = "ml"

    def __init__(self, model: Ensemble) -> None:
        super().__init__()
        self.model = model
        cap = 256
        self._t = np.empty(cap)
        self._c = np.empty(cap)
        self._v = np.empty(cap)
        self._ew = np.empty((cap, len(features.ALPHAS)))
        self._n = 0
        self._seen = 0
        self._t0 = 0.0
        self._v0 = 0.0
        self._cache: tuple[int, float, np.ndarray, float] | None = None
        self._x = np.empty(len(features.ALPHAS))  # what the EWMAs smooth (features.ewma_inputs)
        self._n_lin = len(features.EWMA_ALPHAS)
        self._log_h = np.log(np.asarray(HORIZONS_S, dtype=np.float64))

    def _update(self, t_s: float, mbps: float) -> None:
        if self._n == len(self._t):
            self._make_room()
        i = self._n
        x = self._x
        x[: self._n_lin] = mbps
        x[self._n_lin :] = math.log(mbps + features.EPS)
        if self._seen == 0:
            self._t0, self._v0 = t_s, mbps
            self._c[i] = 0.0
            self._ew[i] = x
        else:
            self._c[i] = self._c[i - 1] + mbps * (t_s - self._t[i - 1])
            self._ew[i] = features.ALPHAS * x + (1.0 - features.ALPHAS) * self._ew[i - 1]
        self._t[i] = t_s
        self._v[i] = mbps
        self._n += 1
        self._seen += 1

    def _make_room(self) -> None:
        """Drop samples no feature window can reach any more, or grow the buffers."""
        n = self._n
        horizon = self._t[n - 1] - features.MAX_WINDOW_S
        keep_from = int(np.searchsorted(self._t[:n], horizon, side="right")) - 1
        keep_from = min(keep_from, n - (max(features.N_LAST, features.N_SORTED) + 2))
        if keep_from > n // 4:
            for arr in (self._t, self._c, self._v, self._ew):
                arr[: n - keep_from] = arr[keep_from:n]
            self._n = n - keep_from
            return
        self._t = np.resize(self._t, 2 * n)
        self._c = np.resize(self._c, 2 * n)
        self._v = np.resize(self._v, 2 * n)
        self._ew = np.resize(self._ew, (2 * n, self._ew.shape[1]))

    def _outputs(self, gap_s: float) -> tuple[np.ndarray, float]:
        if self._cache is not None and self._cache[0] == self._seen and self._cache[1] == gap_s:
            return self._cache[2], self._cache[3]
        n = self._n
        m = np.array([n - 1])
        x, ref = features.compute(
            self._t[:n],
            self._c[:n],
            self._v[:n],
            self._ew[:n],
            m,
            np.array([gap_s]),
            self._t0,
            self._v0,
            np.array([self._seen]),
        )
        out = self.model.forward(x)[0]
        self._cache = (self._seen, gap_s, out, float(ref[0]))
        return out, float(ref[0])

    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        out, ref = self._outputs(gap_s)
        o = float(np.interp(math.log(horizon_s), self._log_h, out))
        return (ref + features.EPS) * math.exp(o) - features.EPS
