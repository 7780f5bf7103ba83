"""How predictable is survival at initialisation?

One row per (run, frequency k = 1 .. (p-1)//2) with the frequency's initial features and
whether it survived (the paper's 2x-mean rule, ``analysis.survival.frequency_table``):

- ``initial_signal``: S_k at step 0;
- ``signal_rank``: its rank among the run's frequencies (1 = strongest);
- ``grad_1`` .. ``grad_4``: the step-s initial gradients (S_k(s) - S_k(s-1)) / S_k(0)
  (NaN where steps 0 .. 4 were not recorded at every step);
- ``circularity``: the initial embedding's circularity of frequency k (``fourier.circularity``).

Classifiers (scikit-learn): logistic regression on standardised features, and histogram
gradient boosting. Both are scored out of fold by grouped cross-validation (``GroupKFold``,
groups = runs, so no run is in the training and the test part of a fold at once). The ROC AUC
of the pooled out-of-fold probabilities gets a 95% confidence interval by bootstrapping runs
(resampling whole runs with replacement, the unit of independence). Each feature alone, and
signal with gradient together, are scored by the same cross-validated logistic regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import fourier
from ..fourier import CircleRule
from ..store import Store
from .survival import frequency_table, select_runs, shape_groups

FEATURES = ("initial_signal", "signal_rank", "grad_1", "grad_2", "grad_3", "grad_4",
            "circularity")
MODELS = ("logistic", "boosting")
#: the feature sets scored besides each feature alone
FEATURE_SETS = {"all": FEATURES, "signal+gradient": ("initial_signal", "grad_4")}


def feature_table(store: Store, run_ids: Iterable[str] | None = None, *,
                  rule: CircleRule | str = "2x-mean") -> pd.DataFrame:
    """The features and survival (by the circle ``rule``) of every (run, k) of a store (see
    the module docstring).

    Columns: run_id, p, d, k, the :data:`FEATURES`, final_signal, survived, circle_rule.
    """
    ids = select_runs(store, run_ids)
    freq = frequency_table(store, ids, group_by=["d"], s_max=4, rule=rule)
    freq["signal_rank"] = freq.groupby("run_id")["initial_signal"].rank(
        ascending=False, method="first").astype(int)
    circ = []
    for part_ids, p, _ in shape_groups(store, ids):
        emb = store.stack("embedding_init", part_ids)  # (R, p, d)
        c = fourier.circularity(emb)[:, 1 : fourier.n_freq(p) + 1]  # (R, K)
        ks = np.arange(1, fourier.n_freq(p) + 1)
        circ.append(pd.DataFrame({"run_id": np.repeat(part_ids, len(ks)),
                                  "k": np.tile(ks, len(part_ids)), "circularity": c.ravel()}))
    freq = freq.merge(pd.concat(circ, ignore_index=True), on=["run_id", "k"], how="left")
    return freq[["run_id", "p", "d", "k", *FEATURES, "final_signal", "survived", "circle_rule"]]


def make_model(name: str, seed: int = 0):
    """A scikit-learn classifier: "logistic" (median imputation, standardisation, logistic
    regression) or "boosting" (histogram gradient boosting, which takes NaN as it is)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                             LogisticRegression(max_iter=1000))
    if name == "boosting":
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05,
                                              random_state=seed)
    raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")


def out_of_fold(table: pd.DataFrame, features: Sequence[str], model: str = "logistic",
                n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold survival probabilities (N,) by GroupKFold over runs.

    ``n_splits`` is lowered to the number of runs when there are fewer. A fold whose training
    part holds one class only predicts that class's frequency (0 or 1).
    """
    from sklearn.model_selection import GroupKFold

    x = table[list(features)].to_numpy(float)
    y = table["survived"].to_numpy(bool)
    groups = table["run_id"].to_numpy()
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError("grouped cross-validation needs at least two runs")
    prob = np.empty(len(y))
    for train, test in GroupKFold(n_splits=min(n_splits, n_groups)).split(x, y, groups):
        if len(np.unique(y[train])) < 2:
            prob[test] = float(y[train][0])
            continue
        clf = make_model(model, seed).fit(x[train], y[train])
        prob[test] = clf.predict_proba(x[test])[:, 1]
    return prob


def bootstrap_auc(y: np.ndarray, score: np.ndarray, groups: np.ndarray, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """ROC AUC and its percentile bootstrap interval over groups (runs resampled whole).

    Returns (auc, low, high); resamples holding one class only are skipped. NaN when y holds
    one class.
    """
    from sklearn.metrics import roc_auc_score

    y, score, groups = np.asarray(y, bool), np.asarray(score, float), np.asarray(groups)
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    auc = float(roc_auc_score(y, score))
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(uniq), len(uniq))])
        if len(np.unique(y[idx])) == 2:
            aucs.append(roc_auc_score(y[idx], score[idx]))
    if not aucs:
        return auc, float("nan"), float("nan")
    lo, hi = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return auc, float(lo), float(hi)


@dataclass
class Predictability:
    """What :func:`predict_survival` computes.

    table: the feature table with out-of-fold probabilities "prob_<model>" (all features).
    scores: one row per scored predictor: name, model, features, auc, auc_low, auc_high.
    calibration: one row per (model, bin): model, mean_predicted, fraction_survived.
    features: the features used (those not entirely NaN). prevalence: fraction survived.
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    calibration: pd.DataFrame
    features: list[str]
    prevalence: float
    n_runs: int
    n_splits: int
    extra: dict = field(default_factory=dict)


def predict_survival(table: pd.DataFrame, *, n_splits: int = 5, n_boot: int = 1000,
                     seed: int = 0, n_bins: int = 10) -> Predictability:
    """Score both classifiers on all features, then each feature alone and the feature sets
    of :data:`FEATURE_SETS` with the logistic model (see the module docstring).

    Args:
        table: a feature table (:func:`feature_table` or any table with run_id, survived and
            feature columns of :data:`FEATURES`; missing or all-NaN features are skipped).
        n_splits: GroupKFold splits; n_boot: bootstrap resamples; n_bins: calibration bins
            (quantile bins of the predicted probability).
    """
    from sklearn.calibration import calibration_curve

    feats = [f for f in FEATURES if f in table and table[f].notna().any()]
    if not feats:
        raise ValueError("the table holds none of the features " + ", ".join(FEATURES))
    table = table.reset_index(drop=True).copy()
    y = table["survived"].to_numpy(bool)
    groups = table["run_id"].to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError("every frequency survived or none did: nothing to predict")
    rows, cal = [], []

    def score(name: str, model: str, features: Sequence[str]) -> np.ndarray:
        prob = out_of_fold(table, features, model, n_splits, seed)
        auc, lo, hi = bootstrap_auc(y, prob, groups, n_boot, seed)
        rows.append({"name": name, "model": model, "features": ",".join(features),
                     "auc": auc, "auc_low": lo, "auc_high": hi})
        return prob

    for model in MODELS:
        prob = score(f"{model} (all features)", model, feats)
        table[f"prob_{model}"] = prob
        frac, mean = calibration_curve(y, prob, n_bins=n_bins, strategy="quantile")
        cal += [{"model": model, "mean_predicted": m, "fraction_survived": f}
                for m, f in zip(mean, frac, strict=True)]
    for name, fs in FEATURE_SETS.items():
        fs = [f for f in fs if f in feats]
        if name != "all" and fs:
            score(name, "logistic", fs)
    for f in feats:
        score(f, "logistic", [f])
    return Predictability(table=table, scores=pd.DataFrame(rows), calibration=pd.DataFrame(cal),
                          features=feats, prevalence=float(y.mean()),
                          n_runs=int(len(np.unique(groups))),
                          n_splits=min(n_splits, int(len(np.unique(groups)))))
