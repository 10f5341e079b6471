"""StreamController: N = clamp(ceil(BDP / window), min, max), with hysteresis and PBA input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from novacron.dwcp.amst import StreamController
from novacron_sdk.errors import InvalidInput

MIB = 1 << 20


def settle(c: StreamController, bps: float, rtt: float, n: int = 20) -> int:
    for _ in range(n):
        d = c.on_sample(bps, rtt)
    return d.target_streams


def test_target_follows_bdp_over_window() -> None:
    c = StreamController(min_streams=1, max_streams=64, per_stream_window=4 * MIB, initial=40)
    bps, rtt = 10e9, 0.05  # 10 Gbit/s x 50 ms = 62.5 MB in flight, 4 MiB per stream
    assert settle(c, bps, rtt) == math.ceil(bps / 8 * rtt / (4 * MIB))


def test_clamped_to_bounds() -> None:
    c = StreamController(min_streams=4, max_streams=16, per_stream_window=MIB)
    assert settle(c, 100e9, 0.2) == 16
    assert settle(c, 1e6, 0.001) == 4


def test_hysteresis_needs_confirmation_and_ignores_small_moves() -> None:
    c = StreamController(min_streams=1, max_streams=64, per_stream_window=MIB, initial=20, confirm=3)
    rtt = 0.01
    small = 16.5 * MIB * 8 / rtt  # wants 17 streams: inside the 20% band around 20
    assert not any(c.on_sample(small, rtt).changed for _ in range(10)) and c.current == 20
    big = 30 * MIB * 8 / rtt * 0.84
    c2 = StreamController(min_streams=1, max_streams=64, per_stream_window=MIB, initial=30, confirm=3)
    c2.on_sample(big / 3, rtt)  # one odd sample alone does not move the count
    assert c2.current == 30
    decisions = [c2.on_sample(big / 3, rtt) for _ in range(3)]
    assert [d.changed for d in decisions].count(True) == 1 and c2.current < 30


def test_window_limited_streams_probe_upwards() -> None:
    c = StreamController(min_streams=2, max_streams=64, per_stream_window=MIB, initial=4)
    rtt = 0.02
    full = 4 * MIB * 8 / rtt  # all 4 streams run at their window: capacity may be larger
    assert settle(c, full, rtt, n=5) > 4


def test_prediction_raises_the_target_before_throughput_shows_it() -> None:
    c = StreamController(min_streams=4, max_streams=64, per_stream_window=4 * MIB)
    c.set_predicted_bandwidth(20e9)
    assert settle(c, 1e9, 0.02) == math.ceil(20e9 / 8 * 0.02 / (4 * MIB))


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(st.tuples(st.floats(0, 1e11), st.floats(1e-5, 2.0)), min_size=1, max_size=40),
    lo=st.integers(1, 32),
    span=st.integers(0, 64),
)
def test_always_within_bounds(samples: list[tuple[float, float]], lo: int, span: int) -> None:
    c = StreamController(min_streams=lo, max_streams=lo + span)
    for bps, rtt in samples:
        d = c.on_sample(bps, rtt)
        assert lo <= d.target_streams <= lo + span
        assert 64 << 10 <= d.segment_size <= 1 << 20


@pytest.mark.parametrize(
    ("bps", "rtt", "field"),
    [
        (-1.0, 0.1, "throughput_bps"),
        (1e9, 0.0, "rtt_s"),
        (math.nan, 0.1, "throughput_bps"),
        (1e9, math.inf, "rtt_s"),
    ],
)
def test_bad_samples_name_the_field(bps: float, rtt: float, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        StreamController().on_sample(bps, rtt)
    assert err.value.field == field


def test_bad_bounds() -> None:
    with pytest.raises(InvalidInput, match="min_streams"):
        StreamController(min_streams=10, max_streams=4)
