"""The scoring grid: resampling, targets and what a predictor has seen at each decision."""

from __future__ import annotations

import numpy as np
import pytest

from novacron.dwcp.pba import grid
from novacron.dwcp.pba.dataset import decisions
from novacron.dwcp.pba.traces import Trace
from novacron_sdk.errors import InvalidInput


def trace(t, v):
    return Trace("hand", np.asarray(t, float), np.asarray(v, float))


def test_resample_time_weighted_by_hand():
    # f = 2 on (0, 0.5], 4 on (0.5, 2], 1 on (2, 3.5]  (each value covers the interval ending at it)
    tr = trace([0.0, 0.5, 2.0, 3.5], [9.0, 2.0, 4.0, 1.0])
    bins = grid.resample(tr)
    # (0,1]: 0.5*2 + 0.5*4 = 3 ; (1,2]: 4 ; (2,3]: 1 ; the partial bin (3,3.5] is dropped
    np.testing.assert_allclose(bins, [3.0, 4.0, 1.0])


def test_resample_with_coarse_spacing_and_offset_start():
    tr = trace([10.0, 15.0, 20.0], [0.0, 2.0, 6.0])
    np.testing.assert_allclose(grid.resample(tr), [2.0] * 5 + [6.0] * 5)
    np.testing.assert_allclose(grid.resample(tr, step=2.5), [2.0, 2.0, 6.0, 6.0])


def test_resample_preserves_the_integral():
    rng = np.random.default_rng(1)
    t = np.concatenate(([0.0], np.cumsum(rng.uniform(0.1, 3.0, 200))))
    v = rng.uniform(0, 10, len(t))
    tr = trace(t, v)
    k = grid.n_bins(tr)
    whole = float(np.interp(k, t, grid.cumulative(t, v)))
    assert grid.resample(tr).sum() == pytest.approx(whole)


def test_resample_rejects_bad_step():
    with pytest.raises(InvalidInput) as e:
        grid.resample(trace([0.0, 1.0], [1.0, 1.0]), step=0)
    assert e.value.field == "step"


def test_targets_are_means_of_the_next_bins():
    bins = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    # decision k=1 at tau=t0+1: bins 1.. ; h=1 -> 2 ; h=2 -> (2+3)/2
    np.testing.assert_allclose(grid.targets(bins, 1), [2, 3, 4, 5, 6])
    np.testing.assert_allclose(grid.targets(bins, 2), [2.5, 3.5, 4.5, 5.5])
    np.testing.assert_allclose(grid.targets(bins, 5), [4.0])
    assert len(grid.targets(bins, 6)) == 0


def test_decisions_see_only_samples_up_to_tau():
    tr = trace([0.0, 0.5, 2.0, 3.5, 4.2, 6.0], [1, 2, 4, 1, 3, 5])
    dec = decisions(tr, horizons=(1, 2))
    np.testing.assert_allclose(dec.times, [1, 2, 3, 4, 5])
    assert dec.last.tolist() == [1, 2, 2, 3, 4]  # the sample at exactly tau=2 is seen
    assert all(tr.t[i] <= tau for i, tau in zip(dec.last, dec.times, strict=True))
    bins = grid.resample(tr)
    np.testing.assert_allclose(dec.y[:, 0], bins[1:])
    assert np.isnan(dec.y[-1, 1]) and dec.y[0, 1] == pytest.approx((bins[1] + bins[2]) / 2)


def test_integral_extends_first_value_backwards():
    t = np.array([5.0, 6.0])
    c = grid.cumulative(t, np.array([2.0, 4.0]))
    np.testing.assert_allclose(
        grid.integral(np.array([3.0, 5.0, 5.5, 6.0]), t, c, 2.0), [-4.0, 0.0, 2.0, 4.0]
    )
