"""PBA: predictive bandwidth allocation — throughput forecasts for the next 1 s, 5 s and 30 s.

See grid.py for exactly what a forecast for horizon h is scored against.
"""

from novacron.dwcp.pba.baselines import BASELINES, Ewma, HarmonicMean, Holt, LastValue
from novacron.dwcp.pba.evaluate import evaluate_dir, evaluate_traces
from novacron.dwcp.pba.factory import make_predictor
from novacron.dwcp.pba.model import MlPredictor, ModelLoadError, load_shipped
from novacron.dwcp.pba.predictor import HORIZONS_S, BandwidthPredictor
from novacron.dwcp.pba.traces import Trace, load_dir, parse_trace

__all__ = [
    "BASELINES",
    "HORIZONS_S",
    "BandwidthPredictor",
    "Ewma",
    "HarmonicMean",
    "Holt",
    "LastValue",
    "MlPredictor",
    "ModelLoadError",
    "Trace",
    "evaluate_dir",
    "evaluate_traces",
    "load_dir",
    "load_shipped",
    "make_predictor",
    "parse_trace",
]
