"""Analyses beyond the paper, as report sections: the Lotka-Volterra form against the paper's
linear fit, and how predictable survival is at initialisation.

Each builder reads a store's runs, computes everything once and returns an
:class:`~circle_survival.experiments.result.ExperimentResult` (numbers, claims, figures), which
:func:`~circle_survival.experiments.result.write_result` writes to
``STORE/results/<name>-store/result.json`` where ``circle-survival report`` finds it. The
runs are whatever the store holds (scale "store"); how they depart from the paper's setup is
listed from their configs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..config import SEED_FIELDS
from ..fourier import CircleRule, circle_rule
from ..report.wording import runs_text
from ..store import Store
from .departures import base_deviations
from .result import Claim, ExperimentResult, write_result

SCALE = "store"
LV_NAME, LV_NUMBER = "lotka-volterra", 12
PREDICT_NAME, PREDICT_NUMBER = "predictability", 13
#: significance level of the claims
ALPHA = 0.05


def result_dir(store: Store, name: str) -> Path:
    """Where a section's result is written: ``STORE/results/<name>-store`` (never through a
    link: ``StoreLayout.result_dir``)."""
    from ..store.layout import StoreLayout

    return StoreLayout(store.path).result_dir(name, SCALE)


def store_deviations(store: Store, run_ids: Iterable[str]) -> list[str]:
    """How the runs depart from the paper's setup (each distinct departure once; the seeds
    and an empty intervention are not departures)."""
    out: list[str] = []
    for rid in run_ids:
        setup = {k: v for k, v in store.config(rid).to_dict().items()
                 if k not in SEED_FIELDS and not (k == "intervention" and not v)}
        for text in base_deviations(setup):
            if text not in out:
                out.append(text)
    return out


def lotka_volterra_result(store: Store, run_ids: Iterable[str] | None = None, *,
                          fit_until: int = 500, heldout_until: int = 1000,
                          method: str = "ols", alpha: float = 0.01) -> ExperimentResult:
    """Fit both models to every run with dense enough records and compare them
    (``analysis.lotka_volterra``). Raises ValueError when no run qualifies."""
    from ..analysis.lotka_volterra import compare_linear_lv, compare_store, summarize
    from ..figures.lotka_volterra import lv_comparison

    kw = {"fit_until": fit_until, "heldout_until": heldout_until, "method": method,
          "alpha": alpha}
    table = compare_store(store, run_ids, **kw)
    ids = list(dict.fromkeys(table["run_id"]))
    summary = summarize(table)
    steps, sig = store.signals(ids[0])
    example = compare_linear_lv(sig, steps, int(store.runs.loc[ids[0], "p"]), **kw)
    held = summary["rel_error_heldout"]
    lv_better = bool(held["wilcoxon_p"] < ALPHA and held["median_lv"] < held["median_linear"])
    lin_better = bool(held["wilcoxon_p"] < ALPHA and held["median_lv"] > held["median_linear"])
    match = summary["survivors_match"]
    claims = [Claim(
        paper="The signals' dynamics are described by linear equations (fitted in place of "
              "the Lotka-Volterra form that inspired them)",
        observed=f"held-out rollout error (steps {fit_until}-{heldout_until}), median "
                 f"linear {held['median_linear']:.3g} vs LV {held['median_lv']:.3g}; LV "
                 f"better in {held['lv_wins']} of {held['n']} runs, Wilcoxon p = "
                 f"{held['wilcoxon_p']:.2g}; rollouts diverging: linear "
                 f"{summary['diverged']['linear']}, LV {summary['diverged']['lv']}; right "
                 f"survivors at the end: linear "
                 f"{match['linear']}, LV {match['lv']} of {summary['n_runs']} runs "
                 f"(criterion: linear not significantly worse, p < {ALPHA})",
        holds=None if not (lv_better or lin_better) and held["n"] < 6 else not lv_better)]
    numbers = {"fit_until": fit_until, "heldout_until": heldout_until, "method": method,
               "alpha": alpha if method == "lasso" else None, **summary,
               "per_run": table.drop(columns=["survivors_true", "survivors_predicted"])
               .to_dict("records")}
    result = ExperimentResult(
        name=LV_NAME, number=LV_NUMBER, title="Beyond the paper: Lotka-Volterra against the "
        "linear ODE", scale=SCALE, n_runs=len(ids), numbers=numbers, figures={},
        claims=claims, deviations=store_deviations(store, ids))
    note = f"{runs_text(len(ids))} of {Path(store.path).name}, {method}" + (
        f" (alpha {alpha:g})" if method == "lasso" else "")
    result.figures["lotka_volterra"] = lv_comparison(example, table, note)
    return result


def predictability_result(store: Store, run_ids: Iterable[str] | None = None, *,
                          n_splits: int = 5, n_boot: int = 1000, seed: int = 0,
                          rule: CircleRule | str = "2x-mean") -> ExperimentResult:
    """Predict each frequency's survival from its initial features
    (``analysis.predictability``), survival by the circle ``rule``. Raises ValueError when
    there is nothing to predict."""
    from ..analysis.predictability import feature_table, predict_survival
    from ..figures.predictability import predictability

    table = feature_table(store, run_ids, rule=rule)
    res = predict_survival(table, n_splits=n_splits, n_boot=n_boot, seed=seed)
    s = res.scores.set_index("name")
    sg = s.loc["signal+gradient"] if "signal+gradient" in s.index else s.iloc[0]
    best = s.loc[[f"{m} (all features)" for m in ("logistic", "boosting")], "auc"]
    claims = [Claim(
        paper="The fittest survive: frequencies with a larger initial signal and initial "
              "gradient survive more often",
        observed=f"out-of-fold ROC AUC of signal + step-4 gradient {sg['auc']:.3f} (95% CI "
                 f"{sg['auc_low']:.3f}-{sg['auc_high']:.3f}, bootstrap over runs); all "
                 f"features: logistic {best.iloc[0]:.3f}, boosting {best.iloc[1]:.3f} "
                 "(criterion: the interval lies above 0.5)",
        holds=None if not np.isfinite(sg["auc_low"]) else bool(sg["auc_low"] > 0.5))]
    numbers = {"n_frequencies": len(table), "prevalence": res.prevalence,
               "features": res.features, "n_splits": res.n_splits, "n_boot": n_boot,
               "scores": res.scores.to_dict("records"),
               "calibration": res.calibration.to_dict("records"),
               "circle_rule": str(circle_rule(rule))}
    ids = list(dict.fromkeys(table["run_id"]))
    result = ExperimentResult(
        name=PREDICT_NAME, number=PREDICT_NUMBER, title="Beyond the paper: how predictable "
        "is survival at initialisation?", scale=SCALE, n_runs=len(ids), numbers=numbers,
        figures={}, claims=claims, deviations=store_deviations(store, ids))
    result.figures["predictability"] = predictability(
        res, f"{runs_text(len(ids))} of {Path(store.path).name}; {res.n_splits}-fold "
             f"GroupKFold, {n_boot} bootstrap resamples; survival by "
             f"{circle_rule(rule).describe()}")
    return result


def write(result: ExperimentResult, store: Store, out: str | Path | None = None) -> Path:
    """Write ``result`` (figures and result.json) to ``out`` or its default directory."""
    return write_result(result, out or result_dir(store, result.name))
