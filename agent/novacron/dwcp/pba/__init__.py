"""PBA: predictive bandwidth allocation — throughput forecasts for the next 1 s, 5 s and 30 s.

See grid.py for exactly what a forecast for horizon h is scored against. Only what the agent runs
lives here: the command that scores a folder of traces is novacron/cli/pba.py, the training of the
model tools/pba/.
"""

# Lazy exports (PEP 562): importing the package (the prober does, for its predictor factory) must
# not pull numpy into every agent start; the names load on first use.
_EXPORTS = {
    "BASELINES": "baselines", "Ewma": "baselines", "HarmonicMean": "baselines", "Holt": "baselines",
    "LastValue": "baselines", "evaluate_traces": "evaluate",
    "make_predictor": "factory", "MlPredictor": "model", "ModelLoadError": "model",
    "load_shipped": "model", "HORIZONS_S": "predictor", "BandwidthPredictor": "predictor",
    "Trace": "traces", "parse_trace": "traces",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
