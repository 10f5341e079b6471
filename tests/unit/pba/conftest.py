"""Shared fixtures for the PBA tests: the small trace sample shipped in tests/data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from novacron.dwcp.pba.traces import Trace

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "bandwidth-traces"


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE_DIR


def _random_trace(n: int, seed: int, spacing: tuple[float, float] = (0.1, 5.0)) -> Trace:
    """A synthetic trace with irregular spacing and a wandering, noisy level."""
    rng = np.random.default_rng(seed)
    t = np.concatenate(([3.0], 3.0 + np.cumsum(rng.uniform(*spacing, n - 1))))
    level = np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    v = level * rng.lognormal(0, 0.3, n)
    v[rng.random(n) < 0.02] = 0.0  # outages happen in real traces
    return Trace(name=f"synthetic-{seed}", t=t, mbps=v)


@pytest.fixture
def random_trace() -> Callable[..., Trace]:
    return _random_trace
