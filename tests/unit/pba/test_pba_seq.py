"""Sequence-model inputs (stream == batch), the numpy GRU against its equations, and training's
PyTorch requirement (tools/pba: a clear error without it; a tiny run that exports faithfully and
writes weights the agent loads, with it)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from novacron.cli.trace_files import load_datasets
from novacron.dwcp.pba import seqfeat
from novacron.dwcp.pba.gru import GruModel
from novacron.dwcp.pba.model import load_weights


def test_stream_rows_equal_batch_rows(random_trace):
    tr = random_trace(500, seed=11)
    tr.t[40] = tr.t[39]  # a repeated timestamp is legal
    x, ref = seqfeat.sample_inputs(tr.t, tr.mbps)
    s = seqfeat.SampleStream()
    for i, (t, v) in enumerate(zip(tr.t.tolist(), tr.mbps.tolist(), strict=True)):
        np.testing.assert_allclose(s.push(t, v), x[i], rtol=1e-12, atol=1e-12)
        assert s.ref == pytest.approx(ref[i], rel=1e-12)
    assert x[0, seqfeat.FLAG_COL] == 1.0 and (x[1:, seqfeat.FLAG_COL] == 0.0).all()
    assert np.isfinite(x).all()


def test_reference_level_is_the_ewma_baseline(random_trace):
    from novacron.dwcp.pba.baselines import Ewma

    tr = random_trace(100, seed=2)
    _, ref = seqfeat.sample_inputs(tr.t, tr.mbps)
    e = Ewma()
    for i, (t, v) in enumerate(zip(tr.t.tolist(), tr.mbps.tolist(), strict=True)):
        e.observe(t, v)
        assert e.predict(1) == pytest.approx(ref[i], rel=1e-12)


def _tiny_model(rng: np.random.Generator, k: int = 2, h: int = 4) -> GruModel:
    f, d = seqfeat.N_IN, seqfeat.N_DEC
    return GruModel(
        w_ih=rng.normal(0, 0.5, (k, 3 * h, f)),
        w_hh=rng.normal(0, 0.5, (k, 3 * h, h)),
        b_ih=rng.normal(0, 0.1, (k, 3 * h)),
        b_hh=rng.normal(0, 0.1, (k, 3 * h)),
        head=[
            (rng.normal(0, 0.5, (k, h + d, 5)), rng.normal(0, 0.1, (k, 5))),
            (rng.normal(0, 0.5, (k, 5, 3)), np.zeros((k, 3))),
        ],
        mu=np.zeros(f),
        sigma=np.ones(f),
        horizons=np.array([1.0, 5.0, 30.0]),
    )


def test_gru_step_follows_the_pytorch_equations():
    rng = np.random.default_rng(0)
    m = _tiny_model(rng)
    x = rng.normal(size=(6, seqfeat.N_IN))
    states = m.states(x)

    def sig(a):
        return 1.0 / (1.0 + np.exp(-a))

    for k in range(m.members):
        h = np.zeros(4)
        W_ir, W_iz, W_in = np.split(m.w_ih[k], 3)
        W_hr, W_hz, W_hn = np.split(m.w_hh[k], 3)
        b_ir, b_iz, b_in = np.split(m.b_ih[k], 3)
        b_hr, b_hz, b_hn = np.split(m.b_hh[k], 3)
        for i in range(len(x)):
            r = sig(W_ir @ x[i] + b_ir + W_hr @ h + b_hr)
            z = sig(W_iz @ x[i] + b_iz + W_hz @ h + b_hz)
            n = np.tanh(W_in @ x[i] + b_in + r * (W_hn @ h + b_hn))
            h = (1 - z) * n + z * h
            np.testing.assert_allclose(states[i, k], h, rtol=1e-12, atol=1e-12)


def test_model_round_trips_through_arrays():
    m = _tiny_model(np.random.default_rng(1))
    m.meta = {"feature_version": 2.0}
    back = GruModel.from_arrays(m.to_arrays())
    x = np.random.default_rng(2).normal(size=(20, seqfeat.N_IN))
    dec = np.zeros((5, seqfeat.N_DEC))
    last = np.array([0, 3, 3, 10, 19])
    np.testing.assert_allclose(back.outputs(x, last, dec), m.outputs(x, last, dec), atol=1e-5)
    assert back.meta == m.meta


def test_weights_training_writes_are_what_the_agent_loads(tmp_path):
    from tools.pba import train_gru

    m = _tiny_model(np.random.default_rng(3))
    train_gru.save_weights(m, tmp_path / "sub" / "w.npz")
    back = load_weights(tmp_path / "sub" / "w.npz")  # checks the input version the writer stamped
    x = np.random.default_rng(4).normal(size=(12, seqfeat.N_IN))
    dec, last = np.zeros((3, seqfeat.N_DEC)), np.array([0, 5, 11])
    np.testing.assert_allclose(back.outputs(x, last, dec), m.outputs(x, last, dec), atol=1e-5)


def test_training_without_torch_says_what_to_do(monkeypatch):
    from tools.pba import train_gru

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(train_gru.TorchMissing, match="PyTorch.*--use-shipped"):
        train_gru.train_model({})


def test_tiny_training_run_exports_what_pytorch_computes(sample_dir):
    pytest.importorskip("torch", reason="training needs PyTorch, which CI need not have")
    from novacron.dwcp.pba.seqdata import seq_trace
    from tools.pba import train_gru

    data = load_datasets(sample_dir)
    cfg = train_gru.TrainConfig(hidden=8, head=8, members=2, epochs=2, streams=4, chunk=32)
    model, nets = train_gru.train_model(data, cfg)
    assert model.members == 2 and model.hidden == 8
    for trs in data.values():
        st = seq_trace(trs[0])
        np.testing.assert_allclose(
            model.outputs(st.x, st.last, st.dec), train_gru.torch_outputs(nets, model, st), atol=1e-5
        )
