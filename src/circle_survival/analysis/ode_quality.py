"""How well the linear ODE of experiment 11 describes the signals: the held-out one-step R^2
of the exact least-squares fit (cross-validation over the fit window), and the R^2 of many
runs summarised per embedding width d with t intervals over runs.

The authors judged their fits by the in-sample one-step R^2 (scikit-learn's ``score`` on the
fitted transitions). An in-sample R^2 of least squares cannot fall below 0 and rises with
every added coefficient, so it cannot refute "the dynamics are described by linear
equations"; a held-out R^2 can. The window's transitions are cut into ``folds`` folds, each
fold is predicted by the fit to the others, and

    R^2_cv(k) = 1 - sum over folds of SS(held-out residuals) / sum of SS(held-out changes
                about the mean change of the other folds)

per frequency k: above 0 where the fitted equations predict the held-out steps better than
the mean change of the fitted ones, below 0 where they predict them worse. Two ways to cut:

- "interleaved" (fold j holds the transitions t = j mod folds): every held-out step lies
  between fitted ones, so the test asks whether the changes follow the state as the fit
  says within the stretch of trajectory it was fitted to (it fails where they do not, e.g.
  for changes unrelated to the state);
- "contiguous" (folds blocks of consecutive steps): each block is predicted from the rest of
  the window, the first and last by extrapolation to states the fit never saw; a stricter
  test of the equations as a law beyond the steps they were fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .stats import mean_interval, one_sample_t

#: contiguous blocks of the held-out R^2
CV_FOLDS = 5


#: how the transitions are cut into folds
SCHEMES = ("interleaved", "contiguous")


def held_out_r2(trajectory: np.ndarray, folds: int = CV_FOLDS,
                scheme: str = "interleaved") -> np.ndarray:
    """Held-out one-step R^2 per frequency of the least-squares fit of s_{t+1} - s_t =
    A s_t + b, over ``folds`` folds of transitions.

    Args:
        trajectory: (N+1, K) the states s_0 .. s_N.
        folds: number of folds (each is held out once).
        scheme: "interleaved" (fold j holds the transitions t = j mod folds) or
            "contiguous" (blocks of consecutive transitions); see the module.

    Returns:
        (K,) R^2_cv per frequency (see the module); NaN where the held-out changes do not
        vary. ValueError with fewer than two transitions per fold or an unknown scheme.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (choose from {', '.join(SCHEMES)})")
    s = np.asarray(trajectory, dtype=float)
    if s.ndim != 2:
        raise ValueError(f"trajectory must be (N+1, K), got {s.shape}")
    x, y = s[:-1], np.diff(s, axis=0)
    n = len(x)
    if folds < 2 or n < 2 * folds:
        raise ValueError(f"{n} transitions cannot be cut into {folds} blocks of two or more")
    design = np.hstack([x, np.ones((n, 1))])
    blocks = (np.array_split(np.arange(n), folds) if scheme == "contiguous"
              else [np.arange(j, n, folds) for j in range(folds)])
    ss_res = np.zeros(y.shape[1])
    ss_base = np.zeros(y.shape[1])
    for held in blocks:
        fit = np.ones(n, dtype=bool)
        fit[held] = False
        coef, *_ = np.linalg.lstsq(design[fit], y[fit], rcond=None)
        ss_res += ((y[held] - design[held] @ coef) ** 2).sum(0)
        ss_base += ((y[held] - y[fit].mean(0)) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1 - ss_res / ss_base
    return np.where(ss_base > 0, out, np.nan)


def mean_held_out_r2(trajectory: np.ndarray, folds: int = CV_FOLDS,
                     scheme: str = "interleaved") -> float:
    """The mean over frequencies of :func:`held_out_r2` (NaN ones left out)."""
    r2 = held_out_r2(trajectory, folds, scheme)
    return float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan")


def r2_summary(results: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """R^2 of many runs per (d, method) with their 95% t interval over runs, and the
    one-sided one-sample t-test that the mean exceeds 0.

    Args:
        results: one row per (run, method) with columns d, method, r2 and optionally
            converged (False for a Lasso fit that did not converge) and n_iter.
        methods: the methods to keep, in this order (default: all, sorted).

    Returns:
        columns d, method, runs, mean, low, high, sd, t, p_above_0, p_below_0,
        not_converged (runs whose fit did not converge; 0 where unknown), max_n_iter.
    """
    rows = []
    for (d, method), g in results.groupby(["d", "method"], sort=True):
        if methods is not None and method not in methods:
            continue
        r2 = g["r2"].to_numpy(float)
        m, lo, hi = mean_interval(r2)
        t, above, below = one_sample_t(r2, 0.0)
        conv = g["converged"] if "converged" in g else pd.Series(dtype=object)
        iters = g["n_iter"].dropna() if "n_iter" in g else pd.Series(dtype=float)
        rows.append({"d": int(d), "method": method, "runs": int(np.isfinite(r2).sum()),
                     "mean": m, "low": lo, "high": hi,
                     "sd": float(np.nanstd(r2, ddof=1)) if len(r2) > 1 else float("nan"),
                     "t": t, "p_above_0": above, "p_below_0": below,
                     "not_converged": int((conv == False).sum()),  # noqa: E712 (None: OLS)
                     "max_n_iter": int(iters.max()) if len(iters) else None})
    out = pd.DataFrame(rows, columns=["d", "method", "runs", "mean", "low", "high", "sd", "t",
                                      "p_above_0", "p_below_0", "not_converged",
                                      "max_n_iter"])
    if methods is not None:
        order = {m: i for i, m in enumerate(methods)}
        out = out.sort_values(["d", "method"], key=lambda c: c.map(order) if c.name ==
                              "method" else c, kind="stable").reset_index(drop=True)
    return out
