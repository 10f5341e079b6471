"""The ML predictor at run time: shipped weights, a streaming GRU state, numpy-only inference.

Weights live in weights/pba_gru.npz inside the package (read with importlib.resources, so no
network and no path guessing); anything wrong with them raises ModelLoadError and the caller
(factory.make_predictor) falls back to a baseline. The stream keeps O(1) state: the GRU hidden
state of each ensemble member and the few numbers the sample inputs need (seqfeat.SampleStream).
Observing a sample is one GRU step; a prediction is one small head evaluation, cached per
(sample count, gap) so asking for three horizons costs one.
"""

from __future__ import annotations

import importlib.resources
import io
import math
from pathlib import Path

import numpy as np

from novacron.dwcp.pba import seqfeat
from novacron.dwcp.pba.gru import GruModel
from novacron.dwcp.pba.predictor import HORIZONS_S, BandwidthPredictor

WEIGHTS_FILE = "pba_gru.npz"
FEATURE_VERSION = 2  # 1 was the per-decision feature MLP; 2 the per-sample GRU of seqfeat.py


class ModelLoadError(ValueError):
    """The weights file is missing, unreadable or does not fit this code's inputs."""


def _validate(model: GruModel) -> GruModel:
    version = model.meta.get("feature_version")
    if version != FEATURE_VERSION:
        raise ModelLoadError(f"weights are for input version {version}, this code computes {FEATURE_VERSION}")
    if model.mu.shape != (seqfeat.N_IN,):
        raise ModelLoadError(f"weights read {model.mu.shape} sample inputs, code computes {seqfeat.N_IN}")
    if model.head[0][0].shape[1] != model.hidden + seqfeat.N_DEC:
        raise ModelLoadError(
            f"head reads {model.head[0][0].shape[1]} inputs, expected {model.hidden} + {seqfeat.N_DEC}"
        )
    if tuple(model.horizons) != HORIZONS_S:
        raise ModelLoadError(f"weights predict horizons {tuple(model.horizons)}, expected {HORIZONS_S}")
    arrays = [model.w_ih, model.w_hh, model.b_ih, model.b_hh, model.mu, model.sigma]
    if not all(np.isfinite(a).all() for a in arrays + [p for layer in model.head for p in layer]):
        raise ModelLoadError("weights contain non-finite values")
    if not (model.sigma > 0).all():
        raise ModelLoadError("input standardisation has a non-positive scale")
    return model


def load_weights(source: Path | bytes) -> GruModel:
    """Load and check an .npz written by tools/pba/train_gru.py `save_weights`."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
        model = GruModel.from_arrays(arrs)
    except Exception as e:  # zip, key, shape or dtype trouble: all mean "unusable file"
        raise ModelLoadError(f"cannot read PBA weights: {type(e).__name__}: {e}") from e
    return _validate(model)


def load_shipped() -> GruModel:
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


def forecast_from_outputs(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-horizon log ratios to the reference level -> Mbit/s, clipped at 0."""
    return np.maximum((ref[:, None] + seqfeat.EPS) * np.exp(out) - seqfeat.EPS, 0.0)


class MlPredictor(BandwidthPredictor):
    """Streaming form of the GRU ensemble; horizons between the trained ones interpolate the log
    ratio over log(horizon), horizons outside [1 s, 30 s] use the nearest trained one."""

    name = "ml"

    def __init__(self, model: GruModel) -> None:
        super().__init__()
        self.model = model
        self._stream = seqfeat.SampleStream()
        self._h = model.zero_state()
        self._seen = 0
        self._cache: tuple[int, float, np.ndarray] | None = None
        self._log_h = np.log(np.asarray(HORIZONS_S, dtype=np.float64))

    def _update(self, t_s: float, mbps: float) -> None:
        row = self._stream.push(t_s, mbps)
        self._h = self.model.step(self.model.input_proj(row), self._h)
        self._seen += 1

    def _outputs(self, gap_s: float) -> np.ndarray:
        if self._cache is not None and self._cache[0] == self._seen and self._cache[1] == gap_s:
            return self._cache[2]
        s = self._stream
        dec = seqfeat.decision_inputs(np.array([gap_s]), np.array([s.dt_last]))
        out = self.model.head_out(self._h[None], dec)[0]
        self._cache = (self._seen, gap_s, out)
        return out

    def _forecast(self, horizon_s: float, gap_s: float) -> float:
        o = float(np.interp(math.log(horizon_s), self._log_h, self._outputs(gap_s)))
        return (self._stream.ref + seqfeat.EPS) * math.exp(o) - seqfeat.EPS
