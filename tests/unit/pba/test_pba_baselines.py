"""Baselines on inputs whose answers were worked out by hand."""

from __future__ import annotations

import pytest

from novacron.dwcp.pba.baselines import BASELINES, Ewma, HarmonicMean, Holt, LastValue
from novacron_sdk.errors import InvalidInput


def feed(p, values, t0=0.0, dt=1.0):
    for i, v in enumerate(values):
        p.observe(t0 + i * dt, v)
    return p


def test_last_value_returns_latest_sample_for_any_horizon():
    p = feed(LastValue(), [3.0, 7.0, 2.5])
    assert p.predict(1) == 2.5
    assert p.predict(30) == 2.5


def test_ewma_by_hand():
    # s = 2 ; s = 0.5*4 + 0.5*2 = 3 ; s = 0.5*8 + 0.5*3 = 5.5
    p = feed(Ewma(alpha=0.5), [2.0, 4.0, 8.0])
    assert p.predict(5) == pytest.approx(5.5)


def test_harmonic_mean_of_five():
    # 5 / (1 + 1/2 + 3/4) = 5 / 2.25
    p = feed(HarmonicMean(), [1.0, 2.0, 4.0, 4.0, 4.0])
    assert p.predict(1) == pytest.approx(5 / 2.25)


def test_harmonic_mean_uses_only_last_five_and_fewer_at_start():
    p = feed(HarmonicMean(), [2.0])
    assert p.predict(1) == pytest.approx(2.0)
    feed(p, [100.0, 1.0, 2.0, 4.0, 4.0, 4.0], t0=1.0)  # 100 has dropped out again
    assert p.predict(1) == pytest.approx(5 / 2.25)


def test_harmonic_mean_with_zero_sample_is_zero():
    assert feed(HarmonicMean(), [3.0, 0.0, 3.0]).predict(1) == 0.0


def test_holt_on_linear_ramp_predicts_the_ramp():
    # v(t) = 1 + 0.5 t sampled every 2 s up to t = 18; the mean over (18, 18+h] is 1 + 0.5*(18 + h/2)
    p = Holt(alpha=0.4, beta=0.1)
    for i in range(10):
        p.observe(2.0 * i, 1.0 + 0.5 * 2.0 * i)
    for h in (1.0, 5.0, 30.0):
        assert p.predict(h) == pytest.approx(1.0 + 0.5 * (18.0 + h / 2), rel=1e-9)
    # asked 4 s after the last sample, the window moves with it
    assert p.predict(5.0, now_s=22.0) == pytest.approx(1.0 + 0.5 * (22.0 + 2.5))


def test_holt_never_forecasts_negative_throughput():
    p = Holt()
    for i, v in enumerate([10.0, 8.0, 6.0, 4.0, 2.0]):
        p.observe(float(i), v)
    assert p.predict(30.0) == 0.0


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_constant_link_is_predicted_exactly(name):
    p = feed(BASELINES[name](), [4.0] * 20)
    for h in (1, 5, 30):
        assert p.predict(h, now_s=19.5) == pytest.approx(4.0)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_no_observation_predicts_zero(name):
    assert BASELINES[name]().predict(5) == 0.0


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: p.observe(0.0, -1.0), "mbps"),
        (lambda p: p.observe(float("nan"), 1.0), "t_s"),
        (lambda p: p.observe(float("inf"), 1.0), "t_s"),
        (lambda p: p.observe(5.0, float("nan")), "mbps"),
        (lambda p: p.predict(0.0), "horizon_s"),
        (lambda p: p.predict(-1.0), "horizon_s"),
    ],
)
def test_bad_input_names_the_field(call, field):
    p = LastValue()
    with pytest.raises(InvalidInput) as e:
        call(p)
    assert e.value.field == field


def test_time_going_backwards_and_now_before_last_sample_are_rejected():
    p = feed(LastValue(), [1.0, 2.0], t0=10.0)
    with pytest.raises(InvalidInput) as e:
        p.observe(10.5, 1.0)
    assert e.value.field == "t_s"
    with pytest.raises(InvalidInput) as e:
        p.predict(1.0, now_s=10.0)
    assert e.value.field == "now_s"


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_smoothing_constants_are_checked(bad):
    with pytest.raises(InvalidInput):
        Ewma(alpha=bad)
    with pytest.raises(InvalidInput):
        Holt(alpha=0.5, beta=bad)
