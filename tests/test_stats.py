"""Tests for analysis/stats.py against scipy's own interval estimates and the formulas."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from circle_survival.analysis.stats import mean_interval, wilson_interval


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_matches_scipy(kn):
    k, n = kn
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    z = stats.norm.ppf(0.975)
    lo, hi = wilson_interval(k, n, z=z)
    assert float(lo) == pytest.approx(ci.low, abs=1e-12)
    assert float(hi) == pytest.approx(ci.high, abs=1e-12)


def test_wilson_known_values_and_edges():
    lo, hi = wilson_interval(np.array([0, 5, 10]), np.array([10, 10, 10]))
    np.testing.assert_allclose(lo, [0.0, 0.23659, 0.72247], atol=1e-4)
    np.testing.assert_allclose(hi, [0.27753, 0.76341, 1.0], atol=1e-4)
    assert lo[0] == 0 and hi[2] == 1
    lo, hi = wilson_interval(0, 0)
    assert (float(lo), float(hi)) == (0.0, 1.0)
    lo, hi = wilson_interval(np.array([3, 0]), np.array([4, 0]))
    assert (lo[1], hi[1]) == (0, 1) and 0 < lo[0] < 0.75 < hi[0] <= 1
    # a larger z widens the interval
    assert wilson_interval(5, 10, z=3)[0] < wilson_interval(5, 10)[0]


def test_mean_interval_matches_scipy():
    x = np.array([2.0, 3, 5, 4, 4, 6])
    m, lo, hi = mean_interval(x)
    ref = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean())
    assert (lo, hi) == (pytest.approx(ref[0]), pytest.approx(ref[1]))
    ref90 = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean_interval(x, level=0.9)[1] == pytest.approx(ref90[0])


def test_mean_interval_small_and_non_finite():
    assert np.isnan(mean_interval([1.0])[1]) and mean_interval([1.0])[0] == 1.0
    assert all(np.isnan(v) for v in mean_interval([]))
    assert mean_interval([1.0, np.nan, 3.0, np.inf])[0] == 2.0
