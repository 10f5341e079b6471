"""The shipped ML predictor: loads offline, agrees with its batch form, falls back safely."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from novacron.dwcp.pba import factory, make_predictor
from novacron.dwcp.pba.baselines import Ewma
from novacron.dwcp.pba.dataset import batch_features, decisions
from novacron.dwcp.pba.model import (
    MlPredictor,
    ModelLoadError,
    forecast_from_outputs,
    load_shipped,
    load_weights,
)
from novacron.dwcp.pba.traces import load_datasets


@pytest.fixture(scope="module")
def model():
    return load_shipped()


def test_shipped_model_predicts_finite_positive_values(model, sample_dir: Path):
    for trs in load_datasets(sample_dir).values():
        for tr in trs:
            p = MlPredictor(model)
            for t, v in zip(tr.t, tr.mbps, strict=True):
                p.observe(float(t), float(v))
                for h in (1.0, 5.0, 30.0):
                    y = p.predict(h)
                    assert math.isfinite(y) and y > 0.0


def test_forecasts_follow_the_link_level(model):
    slow, fast = MlPredictor(model), MlPredictor(model)
    for i in range(120):
        slow.observe(float(i), 0.5)
        fast.observe(float(i), 50.0)
    assert slow.predict(5) == pytest.approx(0.5, rel=0.3)
    assert fast.predict(5) == pytest.approx(50.0, rel=0.3)


def test_stream_matches_batch_including_buffer_trimming(model, random_trace):
    tr = random_trace(3000, seed=7)  # ~7500 s: the stream buffer is trimmed many times
    dec = decisions(tr)
    x, ref = batch_features(tr, dec)
    batch = forecast_from_outputs(model.forward(x), ref)
    p = MlPredictor(model)
    i = 0
    picks = set(np.linspace(0, len(dec) - 1, 400).astype(int).tolist())
    for j, (tau, last) in enumerate(zip(dec.times, dec.last, strict=True)):
        while i <= last:
            p.observe(float(tr.t[i]), float(tr.mbps[i]))
            i += 1
        if j in picks:
            got = [p.predict(h, now_s=float(tau)) for h in (1, 5, 30)]
            np.testing.assert_allclose(got, batch[j], rtol=1e-9, atol=1e-12)
    assert len(p._t) < 3000  # bounded memory: old samples were dropped, not kept forever


def test_horizon_between_trained_ones_interpolates(model, random_trace):
    tr = random_trace(200, seed=3, spacing=(0.5, 1.5))
    p = MlPredictor(model)
    for t, v in zip(tr.t, tr.mbps, strict=True):
        p.observe(float(t), float(v))
    lo, hi = sorted((p.predict(5), p.predict(30)))
    assert lo <= p.predict(12) <= hi
    assert p.predict(0.2) == p.predict(1)  # outside the trained range: nearest horizon
    assert p.predict(300) == p.predict(30)


def test_make_predictor_uses_ml_when_enabled(model):
    p = make_predictor(True)
    assert isinstance(p, MlPredictor) and p.name == "ml"
    assert isinstance(make_predictor(False), Ewma)


def _corrupt_weights(tmp_path: Path) -> list[Path]:
    good = load_shipped().to_arrays()
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 definitely not a zip")
    truncated = tmp_path / "truncated.npz"
    data = (Path(__file__).resolve().parents[3] / "agent/novacron/dwcp/pba/weights/pba_mlp.npz").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, **{**good, "m1_w0": np.zeros((5, good["m1_w0"].shape[1]), np.float32)})
    nan = tmp_path / "nan.npz"
    np.savez(nan, **{**good, "m0_b1": np.full_like(good["m0_b1"], np.nan)})
    missing_key = tmp_path / "missing_key.npz"
    np.savez(missing_key, **{k: v for k, v in good.items() if k != "m0_w2"})
    too_many = tmp_path / "too_many.npz"
    np.savez(too_many, **{**good, "n_members": np.array(10**9)})
    old_version = tmp_path / "old_version.npz"
    np.savez(old_version, **{**good, "meta_feature_version": np.array(0.0)})
    return [tmp_path / "absent.npz", garbage, truncated, wrong_shape, nan, missing_key, too_many, old_version]


def test_broken_weights_fall_back_to_baseline_with_a_warning(tmp_path: Path, caplog):
    for path in _corrupt_weights(tmp_path):
        with pytest.raises(ModelLoadError):
            load_weights(path)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="novacron.dwcp.pba.factory"):
            p = make_predictor(True, weights_path=path)
        assert isinstance(p, factory.FALLBACK), path.name
        assert any("using baseline" in r.message for r in caplog.records), path.name
        p.observe(0.0, 2.0)
        assert p.predict(5) == 2.0


def test_missing_shipped_weights_fall_back(monkeypatch, caplog):
    def boom():
        raise ModelLoadError("shipped PBA weights not found")

    monkeypatch.setattr(factory, "load_shipped", boom)
    factory._shipped.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="novacron.dwcp.pba.factory"):
            p = make_predictor(True)
    finally:
        factory._shipped.cache_clear()
    assert isinstance(p, factory.FALLBACK)
    assert "not found" in caplog.text


def test_shipped_weights_are_small():
    path = Path(__file__).resolve().parents[3] / "agent/novacron/dwcp/pba/weights/pba_mlp.npz"
    assert path.stat().st_size < 2 * 1024 * 1024
