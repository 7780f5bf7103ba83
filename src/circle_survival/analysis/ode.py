"""Linear dynamics of the signals (experiment 11 of the paper).

Over a window of early training (default the first 1000 steps) the signals
s_t = (S_1 .. S_K)(t), K = (p-1)//2, are fitted by the linear difference equation

    s_{t+1} - s_t = A s_t + b,

with three fits: scikit-learn's ``Lasso(alpha=0.01)`` (intercept on), the authors' "linear
regression", which is ``Lasso(alpha=0)`` (coordinate descent with no penalty, stopped by its
iteration limit, so not the least-squares solution; method "lasso0"), and the exact ordinary
least squares (method "ols"). The two Lasso fits use scikit-learn's default iteration limit and
tolerance, as the authors' scripts do (:data:`AUTHORS_LASSO`).
The fitted map is rolled out from s_0, and the matching linear ODE ds/dt = A s + b is
solved exactly,

    s(t) = e^{At} s_0 + (e^{At} - I) A^{-1} b,

through the augmented matrix M = [[A, b], [0, 0]]: d/dt [s; 1] = M [s; 1], so
[s(t); 1] = expm(M t) [s_0; 1]. This needs no inverse and holds for singular A. The authors
computed the closed form with A + 10^-8 I in place of A (:func:`analytic_solution_authors`,
the ridge in the exponential and in the inverse, the reading that reproduces their figure);
both are returned.

Time unit: one record interval. The signals must be recorded at equally spaced steps; with
``signal_every = 1`` (the paper's) the unit is one optimiser step.

When the design matrix [s_t, 1] (N x (K+1)) is rank-deficient — fewer transitions than
unknowns, constant or otherwise degenerate trajectories — A and b are not determined by the
data: the fit is still returned (OLS gives the minimum-norm solution) with
``identifiable = False``, its rank, and a :class:`NonIdentifiableWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import expm

METHODS = ("lasso", "lasso0", "ols")
#: scikit-learn's Lasso defaults, which the authors' fits use (iteration limit, tolerance)
AUTHORS_LASSO = {"max_iter": 1000, "tol": 1e-4}
#: the ridge the authors add to A in the closed-form solution
AUTHORS_RIDGE = 1e-8


class NonIdentifiableWarning(UserWarning):
    """The data cannot identify A and b (rank-deficient design matrix)."""


@dataclass
class ODEFit:
    """A fitted linear difference equation s_{t+1} - s_t = A s_t + b.

    A: (K, K), row i gives the change of frequency ks[i] from every frequency ks[j].
    b: (K,). ks: (K,) the frequencies. r2: (K,) R^2 of the fitted differences per frequency
    (NaN where a frequency's differences are constant); r2_mean: their mean (NaN ignored).
    method: "lasso" or "ols"; alpha: the Lasso penalty (None for OLS).
    identifiable, rank: whether the design [s_t, 1] has full column rank K + 1, and its rank.
    condition: its condition number. n_samples: number of transitions N.
    converged, n_iter, max_iter (the Lasso fits; None for OLS): whether coordinate descent
    reached its tolerance (False where scikit-learn raised its ConvergenceWarning), the
    iterations it used (the most over the K targets) and its limit.
    """

    A: np.ndarray
    b: np.ndarray
    ks: np.ndarray
    r2: np.ndarray
    r2_mean: float
    method: str
    alpha: float | None
    identifiable: bool
    rank: int
    condition: float
    n_samples: int
    converged: bool | None = None
    n_iter: int | None = None
    max_iter: int | None = None


def ode_window(
    signals: np.ndarray, steps: np.ndarray, p: int, window: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trajectory of frequencies 1 .. (p-1)//2 over steps 0 .. window.

    Args:
        signals: (T, K_all) one run's signals (K_all = p//2 + 1 or p).
        steps: (T,) their steps, ascending and equally spaced.
        p: the modulus.
        window: the last step included.

    Returns:
        steps (N+1,), trajectory (N+1, K) and ks (K,).
    """
    sig = np.asarray(signals, dtype=float)
    steps = np.asarray(steps)
    if sig.ndim != 2 or steps.shape != (sig.shape[0],):
        raise ValueError(f"signals must be (T, K) with steps (T,), got {sig.shape}, {steps.shape}")
    if sig.shape[1] not in (p, p // 2 + 1):
        raise ValueError(f"expected {p // 2 + 1} or {p} frequencies for p={p}, got {sig.shape[1]}")
    sel = steps <= window
    st = steps[sel]
    if len(st) > 2 and np.ptp(np.diff(st)) != 0:
        raise ValueError("the ODE fit needs signals recorded at equally spaced steps")
    ks = np.arange(1, (p - 1) // 2 + 1)
    return st, sig[sel][:, ks], ks


def r2_per_column(y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """R^2 of each column (N, K) -> (K,); NaN for a constant column or a non-finite
    prediction."""
    y, y_hat = np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ss_res = ((y - y_hat) ** 2).sum(0)
        ss_tot = ((y - y.mean(0)) ** 2).sum(0)
        out = 1 - ss_res / ss_tot
    return np.where((ss_tot > 0) & np.isfinite(ss_res), out, np.nan)


def fit_trajectory(
    trajectory: np.ndarray,
    method: str = "lasso",
    alpha: float = 0.01,
    ks: Sequence[int] | None = None,
    *,
    max_iter: int = 100_000,
    tol: float = 1e-6,
) -> ODEFit:
    """Fit s_{t+1} - s_t = A s_t + b to one trajectory.

    Args:
        trajectory: (N+1, K) the states s_0 .. s_N (N transitions).
        method: "lasso" (scikit-learn Lasso with intercept, penalty ``alpha``), "lasso0" (the
            same with alpha = 0: the authors' "linear regression") or "ols" (least squares on
            [s_t, 1], minimum-norm when rank-deficient).
        alpha: the Lasso penalty (scikit-learn's scaling: (1/2N) ||residual||^2 + alpha |A|_1).
        ks: labels of the K columns (default 1 .. K).
        max_iter, tol: Lasso's coordinate-descent settings.

    Returns:
        ODEFit. Emits NonIdentifiableWarning when [s_t, 1] is rank-deficient.
    """
    s = np.asarray(trajectory, dtype=float)
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError(f"trajectory must be (N+1, K) with N >= 1, got {s.shape}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    x, y = s[:-1], np.diff(s, axis=0)
    n, k = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    sv = np.linalg.svd(design, compute_uv=False)
    rank = int(np.linalg.matrix_rank(design))
    identifiable = rank == k + 1
    condition = float(sv[0] / sv[-1]) if len(sv) == k + 1 and sv[-1] > 0 else float("inf")
    if not identifiable:
        warnings.warn(
            f"the signals cannot identify A and b: the design [s_t, 1] has rank {rank} < "
            f"{k + 1} unknowns per frequency ({n} transitions"
            f"{', fewer than the unknowns' if n < k + 1 else ''})",
            NonIdentifiableWarning,
            stacklevel=2,
        )
    if method == "ols":
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        a, b = coef[:k].T, coef[k]
        used_alpha, converged, n_iter, max_iter = None, None, None, None
    else:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import Lasso

        used = 0.0 if method == "lasso0" else alpha
        model = Lasso(alpha=used, fit_intercept=True, max_iter=max_iter, tol=tol)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if method == "lasso0":  # scikit-learn advises against alpha = 0; that is the point
                warnings.filterwarnings("ignore", message=".*alpha.*")
            model.fit(x, y)
        for w in caught:  # pass them on, having noted whether coordinate descent converged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        n_iter = int(np.max(model.n_iter_))
        a = np.atleast_2d(model.coef_).reshape(k, k)
        b = np.atleast_1d(model.intercept_).reshape(k)
        used_alpha = float(used)
    r2 = r2_per_column(y, x @ a.T + b)
    return ODEFit(
        A=a, b=b,
        ks=np.arange(1, k + 1) if ks is None else np.asarray(ks),
        r2=r2,
        r2_mean=float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan"),
        method=method, alpha=used_alpha, identifiable=identifiable, rank=rank,
        condition=condition, n_samples=n, converged=converged, n_iter=n_iter,
        max_iter=max_iter,
    )


def fit_linear_ode(
    signals: np.ndarray,
    steps: np.ndarray,
    p: int,
    *,
    window: int = 1000,
    method: str = "lasso",
    alpha: float = 0.01,
    **lasso: Any,
) -> ODEFit:
    """Fit the linear difference equation to one run's signals over steps 0 .. window.

    Args:
        signals: (T, p//2 + 1) or (T, p) one run's recorded signals; steps: (T,).
        p: the modulus; frequencies 1 .. (p-1)//2 are fitted.
        window, method, alpha, lasso (max_iter, tol): see :func:`ode_window` and
            :func:`fit_trajectory`.
    """
    _, traj, ks = ode_window(signals, steps, p, window)
    return fit_trajectory(traj, method, alpha, ks, **lasso)


def rollout(A: np.ndarray, b: np.ndarray, s0: np.ndarray, n_steps: int) -> np.ndarray:
    """Iterate s_{t+1} = s_t + A s_t + b from s_0: returns (n_steps + 1, K)."""
    out = np.empty((n_steps + 1, len(s0)))
    out[0] = s0
    step = np.eye(len(s0)) + np.asarray(A)
    with np.errstate(over="ignore", invalid="ignore"):  # an unstable fit may diverge
        for t in range(n_steps):
            out[t + 1] = step @ out[t] + b
    return out


def analytic_solution(A: np.ndarray, b: np.ndarray, s0: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exact solution of ds/dt = A s + b, s(0) = s0, at times t: (len(t), K).

    s(t) = e^{At} s0 + (e^{At} - I) A^{-1} b, computed as expm(M t) [s0; 1] with the
    augmented M = [[A, b], [0, 0]], which is exact for singular A too.
    """
    a = np.asarray(A, dtype=float)
    k = a.shape[0]
    m = np.zeros((k + 1, k + 1))
    m[:k, :k] = a
    m[:k, k] = b
    t = np.atleast_1d(np.asarray(t, dtype=float))
    z0 = np.append(np.asarray(s0, dtype=float), 1.0)
    return (expm(t[:, None, None] * m) @ z0)[:, :k]


def analytic_solution_authors(A: np.ndarray, b: np.ndarray, s0: np.ndarray, t: np.ndarray,
                              ridge: float = AUTHORS_RIDGE,
                              ridge_in_exponent: bool = True) -> np.ndarray:
    """The closed form as the authors computed it: s(t) = e^{A_r t} s0 + (e^{A_r t} - I)
    A_r^{-1} b with A_r = A + ridge I (their 10^-8 I) in place of A, e^{A_r t} by ``expm``:
    (len(t), K).

    ``ridge_in_exponent=False`` is the other reading of "A + 10^-8 I": the ridge only in the
    inverse, e^{At} with A itself. That reading loses the drift t b along A's null space (a
    Lasso fit with a zero column has one; e^{At} - I is zero there while A_r^{-1} b is 10^8 b)
    and does not follow the signals where the authors' figure does: the default follows the
    figure.
    """
    a = np.asarray(A, dtype=float)
    t = np.atleast_1d(np.asarray(t, dtype=float))
    eye = np.eye(a.shape[0])
    a_r = a + ridge * eye
    e_at = expm(t[:, None, None] * (a_r if ridge_in_exponent else a))
    inv_b = np.linalg.solve(a_r, np.asarray(b, dtype=float))
    return e_at @ np.asarray(s0, dtype=float) + (e_at - eye) @ inv_b


def rollout_errors(
    true: np.ndarray, predictions: Mapping[str, np.ndarray], ks: Sequence[int]
) -> pd.DataFrame:
    """Errors of predicted trajectories against the true one, per frequency.

    Args:
        true: (N+1, K) the true trajectory; predictions: name -> (N+1, K).
        ks: (K,) frequency labels.

    Returns:
        DataFrame with columns prediction, k, rmse (over the window), final_abs_error and
        final_rel_error (|pred - true| / |true| at the end of the window).
    """
    true = np.asarray(true, dtype=float)
    rows = []
    for name, pred in predictions.items():
        err = np.asarray(pred, dtype=float) - true
        rmse = np.sqrt((err**2).mean(0))
        final_abs = np.abs(err[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            final_rel = final_abs / np.abs(true[-1])
        for i, k in enumerate(ks):
            rows.append({"prediction": name, "k": int(k), "rmse": rmse[i],
                         "final_abs_error": final_abs[i], "final_rel_error": final_rel[i]})
    return pd.DataFrame(rows)


@dataclass
class ODEAnalysis:
    """Experiment 11 for one run.

    steps: (N+1,) the window's steps; true: (N+1, K) the signals; ks: (K,).
    fits: method -> ODEFit for "lasso" (alpha as given), "lasso0" (the authors' linear
    regression) and "ols". predictions: name -> (N+1, K): "<method>_rollout" (the fitted map
    iterated from s_0), "<method>_analytic" (the exact solution of ds/dt = A s + b) and
    "<method>_analytic_authors" (the closed form with A + 10^-8 I). errors:
    :func:`rollout_errors` of them.
    """

    steps: np.ndarray
    true: np.ndarray
    ks: np.ndarray
    fits: dict[str, ODEFit]
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    errors: pd.DataFrame | None = None

    @property
    def lasso(self) -> ODEFit:
        return self.fits["lasso"]

    @property
    def ols(self) -> ODEFit:
        return self.fits["ols"]


def analyse_ode(
    signals: np.ndarray,
    steps: np.ndarray,
    p: int,
    *,
    window: int = 1000,
    alpha: float = 0.01,
) -> ODEAnalysis:
    """Fit (Lasso, the authors' Lasso(alpha=0), OLS), roll out, solve analytically and score
    against the true signals.

    Args:
        signals: (T, p//2 + 1) or (T, p) one run's signals; steps: (T,) equally spaced.
        p: the modulus. window: last step of the fit. alpha: the Lasso penalty.
    """
    st, traj, ks = ode_window(signals, steps, p, window)
    fits = {"lasso": fit_trajectory(traj, "lasso", alpha, ks, **AUTHORS_LASSO)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonIdentifiableWarning)  # already warned once
        fits["lasso0"] = fit_trajectory(traj, "lasso0", 0.0, ks, **AUTHORS_LASSO)
        fits["ols"] = fit_trajectory(traj, "ols", alpha, ks)
    n = len(st) - 1
    t = np.arange(n + 1, dtype=float)  # time in record intervals
    preds = {}
    for name, fit in fits.items():
        preds[f"{name}_rollout"] = rollout(fit.A, fit.b, traj[0], n)
        with np.errstate(all="ignore"):
            preds[f"{name}_analytic"] = analytic_solution(fit.A, fit.b, traj[0], t)
            preds[f"{name}_analytic_authors"] = analytic_solution_authors(fit.A, fit.b,
                                                                          traj[0], t)
    return ODEAnalysis(st, traj, ks, fits, preds, rollout_errors(traj, preds, ks))
