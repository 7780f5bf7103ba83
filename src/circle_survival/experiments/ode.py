"""Experiment 11 of the paper: the linear ODE s_{t+1} − s_t = A s_t + b of the first 1,000 steps
of the seed-1 run's signals (three fits), its rollout and analytic solution, and R² against
every d from 4 to 95.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import fourier
from ..config import RunConfig
from ..errors import ConfigError
from ..figures.base import titled
from ..store import Store
from ..sweep import SweepSpec
from .departures import single_steps_deviation
from .design import FRESH_EMBEDDING, fresh_embedding_seeds
from .preset import Experiment, Sizes
from .result import Claim, ExperimentResult, scale_note
from .texts import count_text, override_text

#: the R^2-against-d grid at the paper scale: every integer d from 4 to 95
PAPER_D_GRID = tuple(range(4, 96))
#: the three fits: method -> label
FITS = {"lasso": "Lasso (α = 0.01)", "lasso0": "Lasso(α = 0), the authors' linear regression",
        "ols": "exact least squares"}
#: the fits the paper shows (judged on their rollouts and analytic solutions)
PAPER_FITS = ("lasso", "lasso0")


@dataclass(frozen=True, kw_only=True)
class ODESizes(Sizes):
    """Sizes of experiment 11: ``steps`` of the trajectory run, the R^2 grid of d (``ds``)
    and ``runs`` per d; ``base`` applies to the trajectory run, and to the R^2 runs except
    its ``d``."""

    ds: tuple[int, ...] = PAPER_D_GRID
    runs: int = 10


#: the authors' design: the seed-1 run of 30,000 steps; every d from 4 to 95, 10 runs each
PAPER = ODESizes(scale="paper")
SMOKE = ODESizes(scale="smoke", ds=(4, 34, 64, 95), runs=3, refutes=False)


class LinearODE(Experiment):
    """Experiment 11: linear dynamics s_{t+1} - s_t = A s_t + b of the early signals.

    Two sweeps: ``ode-SCALE-trajectory`` (the authors' seed-1 run: fresh embedding seed 1,
    MLP and split seed 0, 30,000 steps at both scales; its first ``window`` steps are fitted
    and drawn) and ``ode-SCALE-r2`` (``runs_per_d`` runs per d, everything redrawn with seeds
    0 .. n-1, trained for ``window`` steps: only the fit window is analysed, and training is
    deterministic, so these are the first steps of full-length runs).

    Three fits (``analysis.ode``): Lasso (α = 0.01), the authors' ``Lasso(alpha=0)`` and the
    exact least squares. The claims judge what the paper shows, for the two fits it uses: the
    fitted map rolled out from s_0 and the analytic solution (as the authors computed it)
    follow the true signals; one-step R^2 of all three is reported.

    Args:
        smoke, paper: the sizes at each scale (:class:`ODESizes`; the paper's: every d from
            4 to 95, 10 runs each).
        window: the fit window, steps 0 .. window (the paper's 1000).
        alpha: the Lasso penalty (the paper's 0.01).
        max_rel_rmse: the claims' criterion: the median over frequencies of a prediction's
            RMSE over the window divided by the mean true signal.
        min_r2: the criterion on the mean R^2 of the authors' fit at every d.
        embedding_seed: the trajectory run's fresh embedding seed (the authors' 1).
    """

    name = "ode"
    number = 11
    title = "Linear ODE of the signal dynamics"

    def __init__(self, *, smoke: ODESizes = SMOKE, paper: ODESizes = PAPER,
                 window: int = 1000, alpha: float = 0.01, max_rel_rmse: float = 0.05,
                 min_r2: float = 0.9, embedding_seed: int = 1):
        super().__init__(smoke=smoke, paper=paper)
        self.window, self.alpha = window, alpha
        self.max_rel_rmse, self.min_r2 = max_rel_rmse, min_r2
        self.embedding_seed = embedding_seed
        for sizes in (smoke, paper):
            if sizes.steps < window:
                raise ConfigError(f"{self.name}: the trajectory run ({sizes.steps} steps) "
                                  f"must cover the fit window ({window} steps)")

    def specs_at(self, sizes: ODESizes) -> list[SweepSpec]:
        over = sizes.base
        trajectory = SweepSpec(
            name=f"{self.name}-{sizes.scale}-trajectory",
            base={**over, **FRESH_EMBEDDING, "steps": sizes.steps, "signal_every": 1},
            seeds=fresh_embedding_seeds(self.embedding_seed))
        seeds = list(range(sizes.runs))
        r2 = SweepSpec(
            name=f"{self.name}-{sizes.scale}-r2",
            base={**{k: v for k, v in over.items() if k != "d"}, "steps": self.window,
                  "signal_every": 1},
            axes={"d": list(sizes.ds)}, seeds={"embedding": seeds, "mlp": seeds, "split": seeds})
        return [trajectory, r2]

    def deviations_at(self, sizes: ODESizes) -> list[str]:
        out = [f"R^2 runs trained {self.window:,} steps, the fit window (the same data as the "
               "first steps of full-length runs)"]
        if tuple(sizes.ds) != PAPER.ds:
            out.append(f"R^2 grid d = {', '.join(map(str, sizes.ds))} instead of every d from "
                       "4 to 95")
        if sizes.runs != PAPER.runs:
            out.append(f"{sizes.runs} runs per d instead of {PAPER.runs}")
        if sizes.steps != PAPER.steps:
            out.append(single_steps_deviation(sizes.steps,
                                              "the trajectory's survived/dead labels"))
        if sizes.base:
            out.append(f"model changed: {override_text(sizes.base)}")
        return out

    def analyze_at(self, store: Store, sizes: ODESizes) -> ExperimentResult:
        from ..analysis.ode import analyse_ode

        trajectory, r2_spec = self.specs_at(sizes)
        (rid,) = self.select(store, trajectory)
        r2_ids = self.select(store, r2_spec)
        cfg = store.config(rid)
        steps, sig = store.signals(rid)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = analyse_ode(sig, steps, cfg.p, window=self.window, alpha=self.alpha)
            except ValueError as exc:
                raise ConfigError(f"{self.name}: run {rid}: {exc}") from None
        notes = sorted({w.category.__name__ for w in caught})
        alive = fourier.survival(sig[-1], cfg.p)[res.ks]
        errors = res.errors.merge(pd.DataFrame({"k": res.ks, "survived": alive}), on="k")
        r2 = r2_table(store, r2_ids, self.window, self.alpha)
        by_d = r2_by_d(r2)
        numbers = self._numbers(res, errors, by_d, notes, cfg, rid)
        result = ExperimentResult(self.name, self.number, self.title, sizes.scale,
                                  1 + len(r2_ids), numbers, {}, [], self.deviations_at(sizes))
        result.claims = self._claims(numbers, by_d)
        result.figures = self._figures(res, alive, r2, result)
        return result

    def _numbers(self, res, errors: pd.DataFrame, by_d: pd.DataFrame, notes: list[str],
                 cfg: RunConfig, rid: str) -> dict[str, Any]:
        mean_signal = float(res.true.mean())
        med = (errors.groupby("prediction")["rmse"].median() / mean_signal).to_dict()
        return {
            "run_id": rid, "p": cfg.p, "d": cfg.d, "steps": cfg.steps, "window": self.window,
            "embedding_seed": cfg.embedding_seed, "init_scheme": cfg.init_scheme,
            "alpha": self.alpha,
            "r2": {m: fit.r2_mean for m, fit in res.fits.items()},
            "ols_identifiable": res.ols.identifiable, "ols_condition": res.ols.condition,
            "nonzero_coefficients": {m: int(np.count_nonzero(fit.A))
                                     for m, fit in res.fits.items()},
            "median_relative_rmse": med,
            "mean_signal_in_window": mean_signal,
            "survivors": [int(k) for k in errors.loc[errors["survived"], "k"].unique()],
            "r2_per_frequency": {m: dict(zip(res.ks.tolist(), fit.r2.tolist(), strict=True))
                                 for m, fit in res.fits.items()},
            "rollout_errors": errors.to_dict(orient="records"),
            "r2_by_d": by_d.to_dict(orient="records"),
            "notes": notes,
        }

    def _claims(self, n: dict[str, Any], by_d: pd.DataFrame) -> list[Claim]:
        med, r2 = n["median_relative_rmse"], n["r2"]
        r2_text = ", ".join(f"{FITS[m]} {r2[m]:.4f}" for m in FITS)
        claims = []
        for kind, what in (("rollout", "The fitted linear map, iterated from s_0, follows the "
                                       "true signals"),
                           ("analytic_authors", "The analytic solution e^{At}s_0 + "
                                                "(e^{At} − I)A⁻¹b (as the authors computed it, "
                                                "A + 10⁻⁸ I) follows the true signals")):
            vals = {m: med.get(f"{m}_{kind}", math.nan) for m in PAPER_FITS}
            ok = [v <= self.max_rel_rmse for v in vals.values() if math.isfinite(v)]
            holds = bool(all(ok)) if len(ok) == len(vals) else False
            claims.append(Claim(
                f"{what} over the first {self.window:,} steps.",
                "median relative RMSE: " + ", ".join(f"{FITS[m]} {v:.3g}"
                                                     for m, v in vals.items())
                + f" (one-step R^2: {r2_text}).", holds,
                f"for Lasso (α = 0.01) and Lasso(α = 0), the median over frequencies of the "
                f"RMSE over the window divided by the mean signal ≤ {self.max_rel_rmse:g}"))
        a = by_d[by_d["method"] == "lasso0"]
        if not a.empty:
            worst = a.loc[a["mean"].idxmin()]
            others = "; ".join(
                f"{FITS[m]}: from {g['mean'].min():.3f} to {g['mean'].max():.3f}"
                for m, g in by_d.groupby("method") if m != "lasso0")
            claims.append(Claim(
                "The linear fit is good across embedding widths d (R^2 against d).",
                f"{FITS['lasso0']}: mean R^2 per d from {a['mean'].min():.3f} (d = "
                f"{int(worst['d'])}) to {a['mean'].max():.3f}, {count_text(a['runs'])} runs "
                f"per d; {others}.",
                bool((a["mean"] > self.min_r2).all()),
                f"mean one-step R^2 of the authors' fit (Lasso(α = 0)) > {self.min_r2:g} at "
                "every d"))
        return claims

    def _figures(self, res, alive: np.ndarray, r2: pd.DataFrame,
                 result: ExperimentResult) -> dict[str, Figure]:
        from ..figures.dynamics import ode_coefficients, ode_trajectories, r2_vs_d

        note = scale_note(result)
        traj = ode_trajectories(res.steps, res.true, res.predictions, res.ks, survived=alive)
        coef = ode_coefficients(res.lasso.A, res.ks,
                                title=f"Lasso coefficients A (α = {self.alpha:g})")
        runs = count_text(r2.groupby("d")["run_id"].nunique())
        curve = r2_vs_d(r2.assign(method=r2["method"].map(FITS)),
                        title=f"R^2 against d ({runs} runs per d, mean ± SD)")
        return {
            "ode_trajectories": titled(
                traj, f"Signals and the fitted linear dynamics over steps 0-{self.window} "
                "(1 run; labels from its final signal)", note),
            "ode_coefficients": titled(coef, "Fitted coefficient matrix A", note),
            "ode_r2_vs_d": titled(curve, "Fit quality of the linear ODE", note),
        }


def r2_table(store: Store, run_ids: Sequence[str], window: int, alpha: float,
             methods: Sequence[str] = tuple(FITS)) -> pd.DataFrame:
    """One-step R^2 (mean over frequencies) of every fit of every run: one row per (run,
    method) with run_id, p, d, the three seeds, method, r2, identifiable; the Lasso fits use
    the authors' settings. The runs must cover the window (ConfigError otherwise)."""
    from ..analysis.ode import AUTHORS_LASSO, fit_linear_ode

    rows = []
    for rid in run_ids:
        cfg = store.config(rid)
        if cfg.steps < window:
            raise ConfigError(f"run {rid} has {cfg.steps} steps, fewer than the window "
                              f"{window}; choose --window {cfg.steps} or less")
    for rid in run_ids:
        cfg = store.config(rid)
        steps, sig = store.signals(rid)
        for method in methods:
            extra = {} if method == "ols" else AUTHORS_LASSO
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fit = fit_linear_ode(sig, steps, cfg.p, window=window, method=method,
                                         alpha=alpha, **extra)
                except ValueError as exc:
                    raise ConfigError(f"run {rid}: {exc}") from None
            rows.append({"run_id": rid, "p": cfg.p, "d": cfg.d,
                         "embedding_seed": cfg.embedding_seed, "mlp_seed": cfg.mlp_seed,
                         "split_seed": cfg.split_seed, "method": method, "r2": fit.r2_mean,
                         "identifiable": fit.identifiable})
    return pd.DataFrame(rows, columns=["run_id", "p", "d", "embedding_seed", "mlp_seed",
                                       "split_seed", "method", "r2", "identifiable"])


def r2_by_d(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, SD and count of R^2 per (d, method): columns d, method, mean, sd, runs."""
    g = results.groupby(["d", "method"], sort=True)["r2"]
    out = g.agg(mean="mean", sd="std", runs="count").reset_index()
    return out[["d", "method", "mean", "sd", "runs"]]


EXPERIMENTS: list[Experiment] = [LinearODE()]
