"""Tests for analysis/stats.py against scipy's own estimates (intervals, t-tests, Stouffer's
method), a direct maximum likelihood (the logistic fixed-effect test) and the formulas."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from circle_survival.analysis.stats import (
    logistic_lrt,
    mean_interval,
    one_sample_t,
    stouffer,
    wilson_interval,
)


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


# -- one-sample t, the logistic fixed-effect test, Stouffer ---------------------------------
def test_one_sample_t_matches_scipy():
    x = np.array([0.91, 0.88, 0.95, 0.9])
    t, above, below = one_sample_t(x, 0.5)
    ref = stats.ttest_1samp(x, 0.5, alternative="greater")
    assert t == pytest.approx(ref.statistic) and above == pytest.approx(ref.pvalue)
    assert below == pytest.approx(stats.ttest_1samp(x, 0.5, alternative="less").pvalue)
    assert all(np.isnan(v) for v in one_sample_t([1.0]))
    assert all(np.isnan(v) for v in one_sample_t([2.0, 2.0, 2.0]))


def _negloglik(params, y, x, index):
    """The negative log-likelihood of logit P(y) = c_group + beta x: the second computation,
    by scipy's optimiser instead of scikit-learn."""
    logit = params[index] + params[-1] * x
    return np.logaddexp(0.0, -np.where(y, 1.0, -1.0) * logit).sum()


def _trials(beta, seed, groups=6, per=40):
    """Synthetic embeddings: survival depends on the group (strongly, and rising with the
    group's x offset: a between-group effect) and, within a group, on alpha by ``beta``."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    alpha = np.tile(np.linspace(0.85, 1.15, per), groups)
    offset = np.linspace(-2.0, 2.0, groups)  # the groups differ: rate and x shift together
    logit = offset[g] + beta * (alpha - 1.0)
    y = rng.random(len(g)) < 1 / (1 + np.exp(-logit))
    x = 10.0 * alpha + 5.0 * offset[g]  # like α·S_k − mean: shifted per embedding
    return y, alpha, g, x


def test_logistic_lrt_matches_a_direct_maximum_likelihood():
    from scipy.optimize import minimize

    y, alpha, g, _ = _trials(beta=8.0, seed=3)
    fit = logistic_lrt(y, alpha, g)
    full = minimize(_negloglik, np.zeros(7), args=(y, alpha, g), method="BFGS",
                    options={"gtol": 1e-9})
    null = minimize(lambda c: _negloglik(np.append(c, 0.0), y, alpha, g), np.zeros(6),
                    method="BFGS", options={"gtol": 1e-9})
    lr = 2 * (null.fun - full.fun)
    assert fit.coef == pytest.approx(full.x[-1], rel=1e-4)
    assert fit.statistic == pytest.approx(lr, rel=1e-5)
    assert fit.p_value == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-4)
    assert fit.z == pytest.approx(np.sqrt(lr), rel=1e-5) and fit.p_greater < 0.05
    assert (fit.n, fit.groups, fit.dropped, fit.converged) == (240, 6, 0, True)
    one = logistic_lrt(y[g == 0], alpha[g == 0])  # one group: an intercept
    ref = minimize(lambda q: _negloglik(q, y[g == 0], alpha[g == 0], np.zeros(40, int)),
                   np.zeros(2), method="BFGS", options={"gtol": 1e-9})
    assert one.coef == pytest.approx(ref.x[-1], rel=1e-4)


def test_within_group_effect_holds_with_it_and_fails_without_it():
    """With an effect of alpha within groups the test finds it; without one it rejects at
    about its level, while the pooled correlation of the group rates against x (the
    between-group effect) is significant either way."""
    y, alpha, g, x = _trials(beta=10.0, seed=0)
    assert logistic_lrt(y, alpha, g).p_greater < 0.01
    rejections = 0
    for seed in range(40):
        y, alpha, g, x = _trials(beta=0.0, seed=seed)
        rejections += logistic_lrt(y, alpha, g).p_greater < 0.05
        if seed == 0:
            rho, p = stats.spearmanr(x, y)
            assert rho > 0 and p < 1e-6  # the pooled view "holds" with no effect of alpha
    assert rejections <= 6  # about 5% of 40


def test_logistic_lrt_edges():
    y = np.array([0, 0, 1, 1, 0, 1, 1, 1], bool)
    a = np.array([1.0, 2, 3, 4, 1, 2, 3, 4])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    sep = logistic_lrt(y, a, g)  # alpha separates both groups
    ll_null = 4 * np.log(0.5) + 3 * np.log(0.75) + np.log(0.25)  # the full model's log L -> 0
    assert sep.separated and sep.coef > 0
    assert sep.statistic == pytest.approx(-2 * ll_null, rel=1e-3)
    const = logistic_lrt(np.r_[y[:4], [True] * 4], a, g)  # group 1 always survives
    assert const.groups == 1 and const.dropped == 1 and const.n == 4
    none = logistic_lrt(np.zeros(8, bool), a, g)
    assert np.isnan(none.statistic) and none.groups == 0 and none.dropped == 2
    flat = logistic_lrt(y, np.ones(8), g)
    assert np.isnan(flat.p_value)
    with pytest.raises(ValueError, match="differ in length"):
        logistic_lrt(y, a[:3], g)


def test_stouffer_matches_scipy():
    p = np.array([0.01, 0.2, 0.6, 0.04])
    z = stats.norm.isf(p)
    combined, pv = stouffer(z)
    ref = stats.combine_pvalues(p, method="stouffer")
    assert combined == pytest.approx(ref.statistic) and pv == pytest.approx(ref.pvalue)
    w = np.array([1.0, 2, 3, 4])
    ref_w = stats.combine_pvalues(p, method="stouffer", weights=w)
    assert stouffer(z, w) == (pytest.approx(ref_w.statistic), pytest.approx(ref_w.pvalue))
    assert stouffer([np.nan, z[0]])[0] == pytest.approx(z[0])
    assert all(np.isnan(v) for v in stouffer([np.nan]))
