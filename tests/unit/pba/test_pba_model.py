"""The shipped ML predictor: loads offline, matches PyTorch's golden outputs and its batch form,
and falls back safely when its weights are unusable."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from novacron.cli.trace_files import load_datasets
from novacron.dwcp.pba import evaluate, factory, make_predictor
from novacron.dwcp.pba.baselines import Ewma
from novacron.dwcp.pba.dataset import decisions
from novacron.dwcp.pba.model import WEIGHTS_FILE, MlPredictor, ModelLoadError, load_shipped, load_weights
from novacron.dwcp.pba.seqdata import seq_trace
from novacron.dwcp.pba.traces import Trace

WEIGHTS = Path(__file__).resolve().parents[3] / "agent/novacron/dwcp/pba/weights" / WEIGHTS_FILE
GOLDEN = Path(__file__).resolve().parent / "data" / "gru_golden.npz"


@pytest.fixture(scope="module")
def model():
    return load_shipped()


def test_numpy_inference_matches_pytorch_golden_outputs(model):
    """benchmarks/pba.py --save-shipped ran PyTorch on a fixed trace and saved its outputs; the
    numpy GRU must reproduce them (float32 weights, so agreement to ~1e-5, not bit for bit)."""
    with np.load(GOLDEN) as g:
        gold = {k: g[k] for k in g.files}
    st = seq_trace(Trace("golden", gold["t"], gold["mbps"]))
    np.testing.assert_array_equal(st.last, gold["last"])
    np.testing.assert_allclose(st.x, gold["x"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(st.dec, gold["dec"], rtol=0, atol=1e-12)
    out = model.outputs(st.x, st.last, st.dec)
    assert out.shape == gold["torch_out"].shape == (len(st.last), 3)
    assert np.abs(gold["torch_out"]).max() > 0.05  # the golden is not a trivial all-zero head
    np.testing.assert_allclose(out, gold["torch_out"], rtol=0, atol=2e-4)


def test_shipped_model_predicts_finite_positive_values(model, sample_dir: Path):
    for trs in load_datasets(sample_dir).values():
        for tr in trs:
            p = MlPredictor(model)
            for t, v in zip(tr.t, tr.mbps, strict=True):
                p.observe(float(t), float(v))
                for h in (1.0, 5.0, 30.0):
                    y = p.predict(h)
                    assert math.isfinite(y) and y > 0.0


@pytest.mark.parametrize("level", [0.5, 5.0, 50.0, 5000.0])
def test_forecasts_follow_the_link_level(model, level):
    """A steady link is forecast near its level, also far above the training traces' range (a
    10 Gbit/s migration link): the level input is capped and everything else is a ratio."""
    p = MlPredictor(model)
    for i in range(120):
        p.observe(float(i), level)
    for h in (1, 5, 30):
        assert p.predict(h) == pytest.approx(level, rel=0.3)


def test_stream_matches_batch(model, random_trace):
    tr = random_trace(2000, seed=7)
    dec = decisions(tr)
    batch = evaluate.run_ml_batch(model, tr, dec)
    p = MlPredictor(model)
    i = 0
    picks = set(np.linspace(0, len(dec) - 1, 300).astype(int).tolist())
    for j, (tau, last) in enumerate(zip(dec.times, dec.last, strict=True)):
        while i <= last:
            p.observe(float(tr.t[i]), float(tr.mbps[i]))
            i += 1
        if j in picks:
            got = [p.predict(h, now_s=float(tau)) for h in (1, 5, 30)]
            np.testing.assert_allclose(got, batch[j], rtol=1e-9, atol=1e-12)
    assert p._h.shape == (model.members, model.hidden)  # O(1) state, however long the stream


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
    data = WEIGHTS.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    out = [tmp_path / "absent.npz", garbage, truncated]
    w_hh = good["w_hh"]
    variants = {
        "wrong_shape": {**good, "w_hh": np.zeros((w_hh.shape[0], w_hh.shape[1], 5), np.float32)},
        "nan": {**good, "head_b1": np.full_like(good["head_b1"], np.nan)},
        "missing_key": {k: v for k, v in good.items() if k != "head_w1"},
        "too_many_layers": {**good, "n_head": np.array(10**9)},
        "old_version": {**good, "meta_feature_version": np.array(1.0)},
        "wrong_inputs": {**good, "mu": np.zeros(9), "sigma": np.ones(9)},
        "zero_scale": {**good, "sigma": np.zeros_like(good["sigma"])},
        "wrong_horizons": {**good, "horizons": np.array([1.0, 5.0, 60.0])},
    }
    for name, arrs in variants.items():
        np.savez(tmp_path / f"{name}.npz", **arrs)
        out.append(tmp_path / f"{name}.npz")
    return out


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
    assert WEIGHTS.stat().st_size < 5 * 1024 * 1024
