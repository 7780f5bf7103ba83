"""Initial gradients of the signals and survival (experiment 8 of the paper).

Conventions:
- Recorded signals of R runs are an array (R, T, K) with their steps (T,): step 0 is the
  initialisation, step s the state after s optimiser updates. K is the half spectrum
  k = 0 .. p//2 (as training records it) or all p frequencies.
- The step-s initial gradient of frequency k is (S_k(s) - S_k(s-1)) / S_k(0).
- Which frequencies survive, and the table of one row per (run, k) with the initial signal,
  the gradients and survival, are :mod:`circle_survival.analysis.survival`'s
  (``survived``, ``frequency_table``); the functions here take that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def grad_column(s: int) -> str:
    """Name of the step-s gradient column in the tables: ``grad_{s}``."""
    return f"grad_{s}"


def initial_gradients(signals: np.ndarray, steps: np.ndarray, s_max: int = 4) -> np.ndarray:
    """Step-s initial gradients for s = 1 .. s_max and every recorded frequency.

    Args:
        signals: (R, T, K) recorded signals (or (T, K) for one run).
        steps: (T,) the step of each record; steps 0 .. s_max must all be present.
        s_max: the largest step s.

    Returns:
        (R, s_max, K) (or (s_max, K) for one run): entry [r, s-1, k] is
        (S_k after s updates - S_k after s-1 updates) / S_k at initialisation.
    """
    sig = np.asarray(signals, dtype=float)
    single = sig.ndim == 2
    if single:
        sig = sig[None]
    if sig.ndim != 3:
        raise ValueError(f"signals must have shape (R, T, K) or (T, K), got {sig.shape}")
    steps = np.asarray(steps)
    if steps.shape != (sig.shape[1],):
        raise ValueError(f"steps must have shape ({sig.shape[1]},), got {steps.shape}")
    if s_max < 1:
        raise ValueError(f"s_max must be >= 1, got {s_max}")
    index = {int(s): i for i, s in enumerate(steps)}
    missing = [s for s in range(s_max + 1) if s not in index]
    if missing:
        raise ValueError(
            f"initial gradients up to s={s_max} need the signals of steps 0..{s_max} recorded "
            f"(signal_every=1, or signal_dense_until >= s_max); missing steps {missing}"
        )
    early = sig[:, [index[s] for s in range(s_max + 1)]]  # (R, s_max + 1, K)
    grads = np.diff(early, axis=1) / early[:, :1]
    return grads[0] if single else grads


@dataclass
class TTestResult:
    """Welch's two-sample t-test of a feature, survivors against the dead."""

    feature: str
    n_survived: int
    n_dead: int
    mean_survived: float
    mean_dead: float
    statistic: float
    p_value: float


def gradient_ttest(table: pd.DataFrame, s: int = 4, feature: str | None = None, *,
                   equal_var: bool = False) -> TTestResult:
    """Two-sample t-test of the step-s gradient, survivors vs dead: Welch's (unequal
    variances) by default, Student's (the authors') with ``equal_var=True``.

    Args:
        table: as from :func:`gradient_table` (needs columns ``feature`` and survived).
        s: the step whose gradient is tested (column grad_{s}).
        feature: test another column instead (e.g. "initial_signal").

    Returns:
        TTestResult; statistic and p_value are NaN when a group has fewer than two members.
    """
    col = feature or grad_column(s)
    alive = table["survived"].to_numpy(bool)
    x = table[col].to_numpy(float)
    a, b = x[alive], x[~alive]
    if len(a) < 2 or len(b) < 2:
        t, pv = np.nan, np.nan
    else:
        res = stats.ttest_ind(a, b, equal_var=equal_var)
        t, pv = float(res.statistic), float(res.pvalue)
    return TTestResult(
        col, len(a), len(b),
        float(a.mean()) if len(a) else np.nan,
        float(b.mean()) if len(b) else np.nan,
        t, pv,
    )


def survival_rate_by_gradient(
    table: pd.DataFrame,
    s_values: Sequence[int] = (1, 2, 3, 4),
    bins: int = 10,
    binning: str = "quantile",
) -> pd.DataFrame:
    """Survival rate against the step-s gradient in bins, for each s.

    Args:
        table: as from :func:`gradient_table`.
        s_values: the steps s whose gradients are binned.
        bins: number of bins.
        binning: "quantile" (bins of about equal counts) or "width" (equal widths).

    Returns:
        DataFrame with columns s, bin, lo, hi, center (mean gradient in the bin), n,
        n_survived, rate, se (binomial standard error sqrt(rate (1 - rate) / n)).
        Empty bins are left out.
    """
    if binning not in ("quantile", "width"):
        raise ValueError(f"binning must be 'quantile' or 'width', got {binning!r}")
    rows = []
    alive = table["survived"].to_numpy(bool)
    for s in s_values:
        x = table[grad_column(s)].to_numpy(float)
        if binning == "quantile":
            edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
        else:
            edges = np.linspace(x.min(), x.max(), bins + 1)
        if len(edges) < 2:  # all values equal
            edges = np.array([x.min(), x.max()])
        which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        for i in range(len(edges) - 1):
            sel = which == i
            n = int(sel.sum())
            if n == 0:
                continue
            n_alive = int(alive[sel].sum())
            rate = n_alive / n
            rows.append({
                "s": s, "bin": i, "lo": edges[i], "hi": edges[i + 1],
                "center": float(x[sel].mean()), "n": n, "n_survived": n_alive, "rate": rate,
                "se": float(np.sqrt(rate * (1 - rate) / n)),
            })
    return pd.DataFrame(rows, columns=["s", "bin", "lo", "hi", "center", "n", "n_survived",
                                       "rate", "se"])


@dataclass
class SVMResult:
    """A linear SVM separating survivors from the dead, judged on a held-out split.

    coef and intercept are in standardised feature units for :func:`svm_separation` (after
    the StandardScaler) and in raw units for :func:`svm_authors`. p_value: one-sided exact
    binomial test that the held-out accuracy exceeds the majority-class baseline rate.
    """

    features: tuple[str, ...]
    accuracy: float
    baseline_accuracy: float
    train_accuracy: float
    n_train: int
    n_test: int
    coef: np.ndarray
    intercept: float
    p_value: float = float("nan")


def svm_separation(
    table: pd.DataFrame,
    s: int = 4,
    features: Sequence[str] | None = None,
    *,
    test_size: float = 0.3,
    seed: int = 0,
    C: float = 1.0,
) -> SVMResult:
    """Linear SVM (standardised features, scikit-learn LinearSVC) on survival.

    Args:
        table: as from :func:`gradient_table`.
        s: the step of the gradient feature; the default features are (grad_{s},
            initial_signal).
        features: other columns to use instead.
        test_size: held-out fraction, split stratified by survival with ``seed``.
        seed: seed of the split (and of LinearSVC).
        C: the SVM's regularisation parameter.

    Returns:
        SVMResult with the held-out accuracy next to the majority-class baseline (the
        training split's majority class predicted for every held-out row).
    """
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    cols = tuple(features) if features is not None else (grad_column(s), "initial_signal")
    x, y = _svm_data(table, cols)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    model = make_pipeline(StandardScaler(), LinearSVC(C=C, random_state=seed))
    model.fit(x_tr, y_tr)
    return _svm_result(model, model[-1], cols, x_tr, x_te, y_tr, y_te)


def _svm_data(table: pd.DataFrame, cols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, F) and survival labels (N,); ValueError with fewer than two of a class."""
    x = table[list(cols)].to_numpy(float)
    y = table["survived"].to_numpy(bool)
    counts = np.bincount(y.astype(int), minlength=2)
    if counts.min() < 2:
        raise ValueError(
            f"an SVM needs at least two survivors and two dead frequencies, got "
            f"{counts[1]} survivors and {counts[0]} dead"
        )
    return x, y


def _svm_result(model, svc, cols, x_tr, x_te, y_tr, y_te) -> SVMResult:
    majority = bool(y_tr.mean() > 0.5)
    correct = int((model.predict(x_te) == y_te).sum())
    baseline = float((y_te == majority).mean())
    p_value = float(stats.binomtest(correct, len(y_te), min(baseline, 1.0),
                                    alternative="greater").pvalue) if baseline < 1 else 1.0
    return SVMResult(
        features=tuple(cols),
        accuracy=correct / len(y_te),
        baseline_accuracy=baseline,
        train_accuracy=float((model.predict(x_tr) == y_tr).mean()),
        n_train=len(y_tr),
        n_test=len(y_te),
        coef=np.asarray(svc.coef_).ravel().copy(),
        intercept=float(np.ravel(svc.intercept_)[0]),
        p_value=p_value,
    )


#: the authors round both features to this many decimals before their SVM
AUTHORS_DECIMALS = 5


def svm_authors(table: pd.DataFrame, s: int = 4, *, test_size: float = 0.2,
                seed: int = 42, decimals: int | None = AUTHORS_DECIMALS) -> SVMResult:
    """The authors' SVM: ``SVC(kernel="linear")`` on the unscaled features (grad_{s},
    initial_signal), each rounded to ``decimals`` decimals first as their script does
    (``round(float(x), 5)``; None: unrounded), an unstratified 80/20 split with
    ``random_state=42``.

    Returns SVMResult (coef in raw feature units); ValueError with fewer than two of a class.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    cols = (grad_column(s), "initial_signal")
    x, y = _svm_data(table, cols)
    if decimals is not None:
        x = np.round(x, decimals)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed)
    if len(set(y_tr)) < 2:
        raise ValueError("the training split holds one class only")
    model = SVC(kernel="linear")
    model.fit(x_tr, y_tr)
    return _svm_result(model, model, cols, x_tr, x_te, y_tr, y_te)
