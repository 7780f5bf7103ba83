"""Statistics shared by the experiments and their figures.

- :func:`wilson_interval`: the Wilson score interval of a binomial rate (survival rates);
- :func:`mean_interval`: a mean with its two-sided Student t interval (run averages);
- :func:`pearson`, :func:`spearman`: correlations with their p-values, NaN when undefined;
- :func:`mcnemar`: the exact McNemar test of paired binary outcomes;
- :func:`sign_test`: the one-sided sign test of paired differences;
- :func:`one_sample_t`: the one-sided one-sample t-test of a mean against a reference;
- :func:`logistic_lrt`: a logistic regression of a binary outcome on x with groups as fixed
  effects, x tested by a likelihood-ratio test (the within-group effect of x);
- :func:`stouffer`: Stouffer's combination of one-sided z scores.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def wilson_interval(successes: np.ndarray | int, n: np.ndarray | int, z: float = 1.96
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the rate successes / n (95% for z = 1.96).

    Args:
        successes, n: counts, scalars or arrays of one shape.

    Returns:
        (low, high) arrays of that shape, within [0, 1]; low = 0 where successes = 0,
        high = 1 where successes = n, and (0, 1) where n = 0.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    safe = np.where(n > 0, n, 1.0)
    rate = k / safe
    denom = 1 + z**2 / safe
    centre = (rate + z**2 / (2 * safe)) / denom
    half = z * np.sqrt(rate * (1 - rate) / safe + z**2 / (4 * safe**2)) / denom
    low = np.where((n > 0) & (k > 0), np.clip(centre - half, 0.0, 1.0), 0.0)
    high = np.where((n > 0) & (k < n), np.clip(centre + half, 0.0, 1.0), 1.0)
    return low, high


def mean_interval(values: Sequence[float] | np.ndarray, level: float = 0.95
                  ) -> tuple[float, float, float]:
    """(mean, low, high) of the finite values: the mean and its two-sided t interval at
    ``level``; NaN bounds for fewer than two values, all NaN for none."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def _corr(fn, x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    res = fn(a, b)
    return float(res.statistic), float(res.pvalue)


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Pearson's r and its two-sided p-value; NaN for fewer than three points or a constant
    column."""
    return _corr(stats.pearsonr, x, y)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's r and its two-sided p-value; NaN for fewer than three points or a constant
    column."""
    return _corr(stats.spearmanr, x, y)


def mcnemar(n_first_only: int, n_second_only: int) -> float:
    """Exact two-sided McNemar p-value (binomial test on the discordant pairs); NaN without
    discordant pairs."""
    n = int(n_first_only) + int(n_second_only)
    if n == 0:
        return float("nan")
    return float(stats.binomtest(int(n_first_only), n, 0.5).pvalue)


def sign_test(differences: Sequence[float] | np.ndarray) -> tuple[int, int, float]:
    """One-sided sign test that paired differences are more often negative than positive.

    Returns (negative count, non-zero count, p-value); p is NaN without non-zero differences.
    """
    x = np.asarray(differences, dtype=float)
    x = x[np.isfinite(x) & (x != 0)]
    neg = int((x < 0).sum())
    if x.size == 0:
        return 0, 0, float("nan")
    return neg, int(x.size), float(stats.binomtest(neg, x.size, 0.5,
                                                   alternative="greater").pvalue)


def one_sample_t(values: Sequence[float] | np.ndarray, reference: float = 0.0
                 ) -> tuple[float, float, float]:
    """One-sided one-sample t-test that the mean of the finite values exceeds ``reference``:
    (t, p for mean > reference, p for mean < reference); NaN for fewer than two values or
    no spread."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan")
    t = float((x.mean() - reference) / (x.std(ddof=1) / np.sqrt(x.size)))
    return t, float(stats.t.sf(t, x.size - 1)), float(stats.t.cdf(t, x.size - 1))


@dataclass(frozen=True)
class LogisticLRT:
    """A logistic regression of a binary outcome on x, groups as fixed effects, and the
    likelihood-ratio test of x.

    coef: the log-odds change per unit of x (within groups). statistic: the likelihood ratio
    2 (log L(groups + x) - log L(groups)), chi-squared with one degree of freedom under no
    effect of x; p_value its two-sided p. z: the signed root sign(coef) sqrt(statistic), and
    p_greater = P(Z > z): the one-sided p for coef > 0. n, groups: the observations and
    groups used; dropped: groups left out because their outcome does not vary (they carry
    no information on x within a group). converged: whether the solver reported
    convergence. separated: x (nearly) separates the outcomes within the groups (a
    standardised coefficient above 20): the coefficient then grows without bound and is not
    meaningful, while the likelihood ratio approaches its finite limit.
    """

    coef: float
    statistic: float
    p_value: float
    z: float
    p_greater: float
    n: int
    groups: int
    dropped: int
    converged: bool
    separated: bool = False


def _bernoulli_loglik(y: np.ndarray, logit: np.ndarray) -> float:
    """log L of outcomes y (0/1) under log-odds ``logit``, stable for large |logit|."""
    sign = np.where(y, 1.0, -1.0)
    return float(-np.logaddexp(0.0, -sign * logit).sum())


def logistic_lrt(y: Sequence[bool] | np.ndarray, x: Sequence[float] | np.ndarray,
                 groups: Sequence | np.ndarray | None = None, *, max_iter: int = 10_000
                 ) -> LogisticLRT:
    """Likelihood-ratio test of x in the logistic model logit P(y) = c_group + beta x.

    Args:
        y: (N,) binary outcomes; x: (N,) the tested term; groups: (N,) labels of the fixed
            effects (default one group: an intercept).
        max_iter: the solver's iteration limit.

    The null model (one rate per group) is fitted in closed form; the full model by
    scikit-learn's unpenalised ``LogisticRegression`` on the group indicators and x
    (standardised for the solver; ``coef`` is per unit of x). Groups whose outcome is
    constant are dropped (their fixed effect is infinite in both models). All NaN when no
    group is left or x is constant within every group.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    yy = np.asarray(y, dtype=bool)
    xx = np.asarray(x, dtype=float)
    gg = np.zeros(len(yy), dtype=int) if groups is None else np.asarray(groups)
    if not (len(yy) == len(xx) == len(gg)):
        raise ValueError(f"y, x and groups differ in length: {len(yy)}, {len(xx)}, {len(gg)}")
    labels, index = np.unique(gg, return_inverse=True)
    n1 = np.bincount(index, weights=yy.astype(float), minlength=len(labels))
    n = np.bincount(index, minlength=len(labels))
    informative = (n1 > 0) & (n1 < n)
    keep = informative[index]
    yy, xx, index = yy[keep], xx[keep], np.unique(index[keep], return_inverse=True)[1]
    n_groups, dropped = int(informative.sum()), int((~informative).sum())
    nan = float("nan")
    if n_groups == 0 or all(np.ptp(xx[index == g]) == 0 for g in range(n_groups)):
        return LogisticLRT(nan, nan, nan, nan, nan, int(len(yy)), n_groups, dropped, True,
                           False)
    rate = (n1 / n)[informative]
    ll0 = _bernoulli_loglik(yy, np.log(rate / (1 - rate))[index])
    scale = float(xx.std()) or 1.0
    design = np.hstack([np.eye(n_groups)[index], (xx / scale)[:, None]])
    model = LogisticRegression(penalty=None, fit_intercept=False, max_iter=max_iter,
                               tol=1e-10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(design, yy)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    ll1 = _bernoulli_loglik(yy, design @ model.coef_.ravel())
    lr = max(0.0, 2.0 * (ll1 - ll0))
    standardised = float(model.coef_.ravel()[-1])
    z = float(np.sign(standardised) * np.sqrt(lr))
    return LogisticLRT(standardised / scale, lr, float(stats.chi2.sf(lr, 1)), z,
                       float(stats.norm.sf(z)), int(len(yy)), n_groups, dropped, converged,
                       bool(abs(standardised) > 20))


def stouffer(z: Sequence[float] | np.ndarray, weights: Sequence[float] | None = None
             ) -> tuple[float, float]:
    """Stouffer's combined Z = sum(w z) / sqrt(sum(w^2)) of one-sided z scores (NaN ones
    left out) and its one-sided p = P(Z' > Z); (NaN, NaN) without a finite z."""
    zz = np.asarray(z, dtype=float)
    w = np.ones_like(zz) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(zz) & np.isfinite(w)
    if not ok.any():
        return float("nan"), float("nan")
    combined = float((w[ok] * zz[ok]).sum() / np.sqrt((w[ok] ** 2).sum()))
    return combined, float(stats.norm.sf(combined))
