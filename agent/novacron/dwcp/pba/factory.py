"""Choosing the run-time predictor: the ML model when wanted and loadable, else the best baseline.

Bandwidth prediction is advisory, so a missing or damaged weights file must never stop the
agent: it costs a warning and a slightly worse forecast (EWMA, the baseline with the lowest
error over all data sets and horizons of the training split), never an exception.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from novacron.dwcp.pba.baselines import Ewma
from novacron.dwcp.pba.gru import GruModel
from novacron.dwcp.pba.model import MlPredictor, load_shipped, load_weights
from novacron.dwcp.pba.predictor import BandwidthPredictor

log = logging.getLogger(__name__)

FALLBACK = Ewma


@functools.lru_cache(maxsize=1)
def _shipped() -> GruModel:
    return load_shipped()


def make_predictor(enable_ml: bool, weights_path: Path | None = None) -> BandwidthPredictor:
    """A fresh predictor for one link. `weights_path` overrides the shipped weights (tests, trials)."""
    if not enable_ml:
        return FALLBACK()
    try:
        model = load_weights(weights_path) if weights_path is not None else _shipped()
    except Exception as e:  # never let a model problem take the agent down
        log.warning("PBA ML predictor unavailable (%s); using baseline %r", e, FALLBACK.name)
        return FALLBACK()
    return MlPredictor(model)
