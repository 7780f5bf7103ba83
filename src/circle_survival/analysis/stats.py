"""Statistics shared by the experiments and their figures.

- :func:`wilson_interval`: the Wilson score interval of a binomial rate (survival rates);
- :func:`mean_interval`: a mean with its two-sided Student t interval (run averages);
- :func:`pearson`, :func:`spearman`: correlations with their p-values, NaN when undefined;
- :func:`mcnemar`: the exact McNemar test of paired binary outcomes;
- :func:`sign_test`: the one-sided sign test of paired differences.
"""

from __future__ import annotations

from collections.abc import Sequence

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
