"""Generalised Lotka-Volterra dynamics of the signals, against the paper's linear fit.

The paper fits the signals s_t = (S_1 .. S_K)(t), K = (p-1)//2, by the linear difference
equation s_{t+1} - s_t = A s_t + b (``ode.py``). Its inspiration, the competition of species,
suggests the generalised Lotka-Volterra form instead,

    s_{t+1} - s_t = s_t * (r + A s_t)      (elementwise product),

where r_i is frequency i's own growth rate and A_ij how frequency j helps (> 0) or suppresses
(< 0) it. Both are fitted on the same window of early steps (by default 0 .. 500) and judged on
what the fit did not see: the one-step R^2 on later steps, the error of the rollout from s_0
over later steps, and whether the rollout ends with the right survivors.

Fitting. Row i of the LV model is linear in its unknowns (r_i, A_i.): the change of
frequency i is regressed on s_i * [1, s_t] (N x (K+1)), by least squares (minimum-norm when
rank-deficient) or by scikit-learn's Lasso (no intercept, its penalty scaling). The linear
model is fitted by ``ode.fit_trajectory``.

Time unit: one optimiser step. The fit window must be recorded at every step (``signal_every
= 1`` or ``signal_dense_until`` >= the window); later records may be sparser, and rollouts are
compared at the recorded steps.

Survivors of a rollout: the paper's 2x-mean rule (``fourier.survival``) on the predicted
S_1 .. S_K at the run's last recorded step, with the constant term S_0 taken from the record
(neither model predicts it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import fourier
from ..store import Store
from .ode import METHODS, NonIdentifiableWarning, fit_trajectory, r2_per_column, rollout

MODELS = ("linear", "lv")


@dataclass
class LVFit:
    """A fitted generalised Lotka-Volterra map s_{t+1} - s_t = s_t * (r + A s_t).

    r: (K,) growth rates; A: (K, K) interactions, row i acting on frequency ks[i]; ks: (K,).
    r2: (K,) in-sample R^2 of the fitted differences; r2_mean: their mean (NaN ignored).
    method: "ols" or "lasso"; alpha: the Lasso penalty (None for OLS); n_samples: transitions.
    """

    r: np.ndarray
    A: np.ndarray
    ks: np.ndarray
    r2: np.ndarray
    r2_mean: float
    method: str
    alpha: float | None
    n_samples: int


def pooled_r2(y: np.ndarray, y_hat: np.ndarray) -> float:
    """R^2 over all columns at once (N, K) -> float: 1 - total residual / total variance
    (each column about its own mean), so that near-constant columns do not dominate."""
    y, y_hat = np.asarray(y, dtype=float), np.asarray(y_hat, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ss_res = float(((y - y_hat) ** 2).sum())
        ss_tot = float(((y - y.mean(0)) ** 2).sum())
    if ss_tot <= 0 or not np.isfinite(ss_res):
        return float("nan")
    return 1 - ss_res / ss_tot


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def lv_step(r: np.ndarray, A: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The change s * (r + A s) for states s (..., K)."""
    return s * (r + s @ np.asarray(A).T)


def fit_lv(
    trajectory: np.ndarray,
    method: str = "ols",
    alpha: float = 0.01,
    ks: Sequence[int] | None = None,
    *,
    max_iter: int = 100_000,
    tol: float = 1e-6,
) -> LVFit:
    """Fit s_{t+1} - s_t = s_t * (r + A s_t) to one trajectory.

    Args:
        trajectory: (N+1, K) the states s_0 .. s_N (N transitions).
        method: "ols" (least squares per row) or "lasso" (scikit-learn Lasso per row, no
            intercept, penalty ``alpha`` on (r_i, A_i.)).
        alpha: the Lasso penalty; ks: labels of the K columns (default 1 .. K).
        max_iter, tol: Lasso's coordinate-descent settings.
    """
    s = np.asarray(trajectory, dtype=float)
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError(f"trajectory must be (N+1, K) with N >= 1, got {s.shape}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    x, y = s[:-1], np.diff(s, axis=0)
    n, k = x.shape
    base = np.hstack([np.ones((n, 1)), x])  # [1, s_t]
    coef = np.empty((k, k + 1))
    for i in range(k):
        design = x[:, i : i + 1] * base
        if method == "ols":
            coef[i], *_ = np.linalg.lstsq(design, y[:, i], rcond=None)
        else:
            from sklearn.linear_model import Lasso

            model = Lasso(alpha=alpha, fit_intercept=False, max_iter=max_iter, tol=tol)
            coef[i] = model.fit(design, y[:, i]).coef_
    r, a = coef[:, 0], coef[:, 1:]
    r2 = r2_per_column(y, lv_step(r, a, x))
    return LVFit(r=r, A=a, ks=np.arange(1, k + 1) if ks is None else np.asarray(ks), r2=r2,
                 r2_mean=_mean(r2), method=method,
                 alpha=None if method == "ols" else float(alpha), n_samples=n)


def lv_rollout(r: np.ndarray, A: np.ndarray, s0: np.ndarray, n_steps: int) -> np.ndarray:
    """Iterate s_{t+1} = s_t + s_t * (r + A s_t) from s_0: (n_steps + 1, K). A diverging
    rollout turns into inf/NaN and stays so."""
    out = np.empty((n_steps + 1, len(s0)))
    out[0] = s0
    a = np.asarray(A)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(n_steps):
            st = out[t]
            out[t + 1] = st + st * (r + a @ st)
    return out


@dataclass
class ModelComparison:
    """The linear and the LV fit of one run, and how each predicts what it did not see.

    steps: (T,) the recorded steps; true: (T, K) the recorded S_1 .. S_K; ks: (K,).
    fit_until: the last step of the fit window. linear, lv: the fits.
    predictions: model -> (T, K) rollout from s_0 at the recorded steps.
    scores: one row per model: model, r2_fit (one-step R^2 on the window), r2_heldout
        (one-step R^2 on the held-out transitions fit_until .. heldout_until; both pooled over
        the frequencies, :func:`pooled_r2`), diverged (the rollout overflows before the last
        recorded step), rel_error_fit,
        rel_error_heldout, rel_error_beyond (rollout RMSE over the recorded steps in 0 ..
        fit_until, fit_until .. heldout_until and after heldout_until, divided by the RMS of
        the true signals there; inf for a diverging rollout), survivors_true,
        survivors_predicted (circles at the last step, strongest first), survivors_match,
        survivor_accuracy (fraction of frequencies whose fate the rollout gets right).
    """

    steps: np.ndarray
    true: np.ndarray
    ks: np.ndarray
    fit_until: int
    heldout_until: int
    linear: object
    lv: LVFit
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    scores: pd.DataFrame | None = None


def _rel_error(pred: np.ndarray, true: np.ndarray) -> float:
    if len(true) == 0:
        return float("nan")
    with np.errstate(over="ignore", invalid="ignore"):
        err = float(np.sqrt(np.mean((pred - true) ** 2)) / np.sqrt(np.mean(true**2)))
    return err if math.isfinite(err) else float("inf")


def _survivors(pred_last: np.ndarray, s0_last: float, p: int) -> list[int]:
    if not np.all(np.isfinite(pred_last)):
        return []
    half = np.zeros(p // 2 + 1)
    half[0] = s0_last
    half[1 : len(pred_last) + 1] = np.abs(pred_last)
    return [int(k) for k in fourier.circles(half, p)]


def compare_linear_lv(
    signals: np.ndarray,
    steps: np.ndarray,
    p: int,
    *,
    fit_until: int = 500,
    heldout_until: int = 1000,
    method: str = "ols",
    alpha: float = 0.01,
) -> ModelComparison:
    """Fit both models on steps 0 .. fit_until of one run and score them on later steps.

    Args:
        signals: (T, p//2 + 1) or (T, p) one run's recorded signals; steps: (T,) ascending,
            every step present in 0 .. heldout_until.
        p: the modulus. fit_until, heldout_until: the fit window and the end of the held-out
            window (later records form the "beyond" window).
        method, alpha: "ols" or "lasso" (both models alike) and the Lasso penalty.
    """
    sig = np.asarray(signals, dtype=float)
    steps = np.asarray(steps, dtype=np.int64)
    if sig.ndim != 2 or steps.shape != (sig.shape[0],):
        raise ValueError(f"signals must be (T, K) with steps (T,), got {sig.shape}, {steps.shape}")
    if not 1 <= fit_until < heldout_until:
        raise ValueError(f"need 1 <= fit_until < heldout_until, got {fit_until}, {heldout_until}")
    dense = np.arange(heldout_until + 1)
    if steps[0] != 0 or len(steps) <= heldout_until or np.any(steps[: heldout_until + 1] != dense):
        raise ValueError(f"the comparison needs the signals of every step 0 .. {heldout_until} "
                         "(signal_every=1 or signal_dense_until >= that step)")
    ks = np.arange(1, fourier.n_freq(p) + 1)
    true = sig[:, ks]
    window = true[: fit_until + 1]
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # the scores below show how good each fit is
        warnings.simplefilter("ignore", NonIdentifiableWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        lin = fit_trajectory(window, method, alpha, ks)
        lv = fit_lv(window, method, alpha, ks)
    horizon = int(steps[-1])
    preds = {"linear": rollout(lin.A, lin.b, true[0], horizon)[steps],
             "lv": lv_rollout(lv.r, lv.A, true[0], horizon)[steps]}
    x_fit, y_fit = window[:-1], np.diff(window, axis=0)
    x_held = true[fit_until:heldout_until]
    y_held = np.diff(true[fit_until : heldout_until + 1], axis=0)
    one_step = {"linear": lambda s: s @ lin.A.T + lin.b, "lv": lambda s: lv_step(lv.r, lv.A, s)}
    in_fit = steps <= fit_until
    held = (steps > fit_until) & (steps <= heldout_until)
    beyond = steps > heldout_until
    truth = _survivors(true[-1], sig[-1, 0], p)
    rows = []
    for name in MODELS:
        pred = preds[name]
        with np.errstate(over="ignore", invalid="ignore"):
            r2_fit = pooled_r2(y_fit, one_step[name](x_fit))
            r2_held = pooled_r2(y_held, one_step[name](x_held))
        got = _survivors(pred[-1], sig[-1, 0], p)
        alive_true = np.isin(ks, truth)
        alive_pred = np.isin(ks, got)
        rows.append({
            "model": name, "r2_fit": r2_fit, "r2_heldout": r2_held,
            "diverged": not bool(np.all(np.isfinite(pred))),
            "rel_error_fit": _rel_error(pred[in_fit], true[in_fit]),
            "rel_error_heldout": _rel_error(pred[held], true[held]),
            "rel_error_beyond": _rel_error(pred[beyond], true[beyond]),
            "survivors_true": truth, "survivors_predicted": got,
            "survivors_match": sorted(truth) == sorted(got),
            "survivor_accuracy": float((alive_true == alive_pred).mean()),
        })
    return ModelComparison(steps, true, ks, fit_until, heldout_until, lin, lv, preds,
                           pd.DataFrame(rows))


def compare_store(
    store: Store,
    run_ids: Iterable[str] | None = None,
    **kwargs,
) -> pd.DataFrame:
    """:func:`compare_linear_lv` on every run: one row per (run, model), with run_id, p and d
    first. Runs whose records are too sparse for the windows are left out (none left raises
    ValueError)."""
    ids = list(store.runs.index if run_ids is None else run_ids)
    parts = []
    for rid in ids:
        steps, sig = store.signals(rid)
        p = int(store.runs.loc[rid, "p"])
        try:
            cmp = compare_linear_lv(sig, steps, p, **kwargs)
        except ValueError:
            continue
        df = cmp.scores.copy()
        df.insert(0, "d", int(store.runs.loc[rid, "d"]))
        df.insert(0, "p", p)
        df.insert(0, "run_id", rid)
        parts.append(df)
    if not parts:
        raise ValueError("no run has signals at every step of the fit and held-out windows")
    return pd.concat(parts, ignore_index=True)


def summarize(table: pd.DataFrame) -> dict:
    """Which model predicts better over many runs.

    For each score: the median per model, how many runs the LV model wins (lower error or
    higher R^2), and a paired two-sided Wilcoxon signed-rank p-value (NaN with fewer than
    two runs or no differences). Also how often each model's rollout ends with the right
    survivors, with an exact McNemar (binomial) test on the discordant runs.
    """
    from scipy import stats

    wide = table.pivot(index="run_id", columns="model")
    out: dict = {"n_runs": int(len(wide))}
    for score, lower_better in (("r2_fit", False), ("r2_heldout", False),
                                ("rel_error_heldout", True), ("rel_error_beyond", True)):
        a = wide[score]["linear"].to_numpy(float)
        b = wide[score]["lv"].to_numpy(float)
        ok = ~(np.isnan(a) | np.isnan(b))
        a, b = a[ok], b[ok]
        wins = (b < a) if lower_better else (b > a)
        with np.errstate(invalid="ignore"):
            diff = np.nan_to_num(a - b, nan=0.0, posinf=1e300, neginf=-1e300)
        try:
            pv = float(stats.wilcoxon(diff).pvalue) if len(a) >= 2 and np.any(diff) else np.nan
        except ValueError:
            pv = float("nan")
        out[score] = {"median_linear": float(np.median(a)) if len(a) else None,
                      "median_lv": float(np.median(b)) if len(b) else None,
                      "lv_wins": int(wins.sum()), "n": int(len(a)), "wilcoxon_p": pv}
    m_lin = wide["survivors_match"]["linear"].astype(bool).to_numpy()
    m_lv = wide["survivors_match"]["lv"].astype(bool).to_numpy()
    only_lv, only_lin = int((m_lv & ~m_lin).sum()), int((m_lin & ~m_lv).sum())
    n_disc = only_lv + only_lin
    out["diverged"] = {m: int(wide["diverged"][m].astype(bool).sum()) for m in MODELS}
    out["survivors_match"] = {
        "linear": int(m_lin.sum()), "lv": int(m_lv.sum()), "only_lv": only_lv,
        "only_linear": only_lin,
        "mcnemar_p": float(stats.binomtest(only_lv, n_disc).pvalue) if n_disc else float("nan"),
        "accuracy_linear": float(wide["survivor_accuracy"]["linear"].mean()),
        "accuracy_lv": float(wide["survivor_accuracy"]["lv"].mean()),
    }
    return out
