"""Figures of the training dynamics: initial gradients (experiment 8: histograms, survival-rate
curves, the (gradient, signal) plane), circle collaboration (experiment 10) and the linear ODE
fits (experiment 11).

Every function takes data (arrays or the DataFrames of :mod:`circle_survival.analysis`) and
returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas; no pyplot state is touched.
Save with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..analysis.gradient import grad_column, gradient_ttest
from .base import DEAD_COLOR, SURVIVED_COLOR, shared_legend
from .base import figure as _figure

#: Default labels and colours of the ODE trajectories (keys of ODEAnalysis.predictions).
ODE_STYLES: dict[str, tuple[str, str]] = {
    "true": ("Original (recorded)", "tab:green"),
    "lasso_rollout": ("Lasso (α = 0.01) rollout", "tab:blue"),
    "lasso0_rollout": ("Lasso(α = 0) rollout (the authors' linear regression)", "tab:orange"),
    "ols_rollout": ("exact least squares rollout", "tab:brown"),
    "lasso_analytic": ("Lasso analytic solution", "tab:red"),
    "lasso_analytic_authors": ("Lasso analytic solution, A + 1e-8 I (the authors')",
                               "tab:pink"),
    "lasso0_analytic_authors": ("Lasso(α = 0) analytic solution (the authors')", "tab:purple"),
    "ols_analytic": ("exact least squares analytic solution", "tab:olive"),
}


# -- experiment 8: initial gradients ---------------------------------------------------------
def initial_gradient_histograms(
    table: pd.DataFrame, s_values: Sequence[int] = (1, 2, 3, 4), bins: int = 30,
    equal_var: bool = False,
) -> Figure:
    """Histograms of the step-s initial gradient, survivors against the dead, one panel per s.

    Args:
        table: from :func:`circle_survival.analysis.gradient_table` (columns grad_{s},
            survived).
        s_values: the steps s, one panel each.
        bins: histogram bins (shared by both groups of a panel).

    Each panel's title carries the t-test's p-value: Welch's, or Student's (the authors')
    with ``equal_var=True``.
    """
    fig = _figure(3.0 * len(s_values), 3.0)
    axes = fig.subplots(1, len(s_values), squeeze=False)[0]
    alive = table["survived"].to_numpy(bool)
    for ax, s in zip(axes, s_values, strict=True):
        x = table[grad_column(s)].to_numpy(float)
        edges = np.histogram_bin_edges(x, bins=bins)
        ax.hist(x[~alive], bins=edges, density=True, color=DEAD_COLOR, alpha=0.6,
                label=f"dead (n={int((~alive).sum())})")
        ax.hist(x[alive], bins=edges, density=True, color=SURVIVED_COLOR, alpha=0.6,
                label=f"survived (n={int(alive.sum())})")
        test = gradient_ttest(table, s, equal_var=equal_var)
        name = "Student" if equal_var else "Welch"
        ax.set_title(f"step s = {s}  ({name} p = {test.p_value:.2g})")
        ax.set_xlabel(f"initial gradient at step {s}")
        ax.set_ylabel("density")
    shared_legend(fig, axes[0])
    fig.suptitle("Initial gradient of survivors and dead frequencies")
    return fig


def survival_rate_curves(rates: pd.DataFrame) -> Figure:
    """Survival rate against the binned initial gradient, one curve per step s.

    Args:
        rates: from :func:`circle_survival.analysis.survival_rate_by_gradient` (columns s,
            center, rate, se).
    """
    fig = _figure(5.0, 3.6)
    ax = fig.subplots()
    for s, grp in rates.groupby("s", sort=True):
        ax.errorbar(grp["center"].to_numpy(float), grp["rate"].to_numpy(float),
                    yerr=grp["se"].to_numpy(float), marker="o", ms=4, capsize=2,
                    label=f"s = {s}")
    ax.set_xlabel("initial gradient (bin mean)")
    ax.set_ylabel("survival rate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Survival rate against initial gradient")
    ax.legend(title="step")
    return fig


def survival_rate_panels(rates: pd.DataFrame) -> Figure:
    """Survival rate against the binned step-s gradient, one panel per s, with Wilson 95%
    intervals (columns s, center, rate, n, wilson_lo, wilson_hi); each panel names the
    number of (run, frequency) pairs per bin."""
    s_values = sorted(rates["s"].unique())
    fig = _figure(3.2 * max(1, len(s_values)), 3.4)
    axes = fig.subplots(1, max(1, len(s_values)), squeeze=False, sharey=True)[0]
    for ax, s in zip(axes, s_values, strict=False):
        g = rates[rates["s"] == s]
        x, y = g["center"].to_numpy(float), g["rate"].to_numpy(float)
        err = np.vstack([y - g["wilson_lo"].to_numpy(float),
                         g["wilson_hi"].to_numpy(float) - y]).clip(min=0.0)  # rounding
        ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, color=f"C{int(s) - 1}",
                    label="rate, Wilson 95% CI")
        n = g["n"].to_numpy(int)
        counts = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
        ax.set_title(f"s = {s}: {len(g)} bins, n = {counts} each",
                     fontsize="medium")
        ax.set_xlabel(f"initial gradient at step {s} (bin mean)")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("survival rate")
    axes[0].legend(fontsize="small", loc="upper left")
    return fig


def gradient_signal_plane(table: pd.DataFrame, s: int, svm: Mapping[str, Any] | None) -> Figure:
    """Every (run, frequency) on the plane (step-s gradient, initial signal), survivors
    coloured; the SVM's held-out accuracy and baseline in the title."""
    fig = _figure(5.5, 4.4)
    ax = fig.subplots()
    alive = table["survived"].to_numpy(bool)
    x, y = table[grad_column(s)].to_numpy(float), table["initial_signal"].to_numpy(float)
    ax.scatter(x[~alive], y[~alive], s=6, color=DEAD_COLOR, alpha=0.5,
               label=f"dead (n={int((~alive).sum())})")
    ax.scatter(x[alive], y[alive], s=8, color=SURVIVED_COLOR, alpha=0.8,
               label=f"survived (n={int(alive.sum())})")
    ax.set_xlabel(f"initial gradient at step {s}")
    ax.set_ylabel("initial signal $S_k(0)$")
    if svm is None:
        ax.set_title("linear SVM: skipped (too few of one class)", fontsize="medium")
    else:
        ax.set_title(f"linear SVM: held-out accuracy {svm['accuracy']:.3f}, majority baseline "
                     f"{svm['baseline_accuracy']:.3f}", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


# -- experiment 10: circle collaboration ---------------------------------------------------
def collaboration_figure(
    losses: pd.DataFrame,
    survivors: Sequence[int],
    strongest: Sequence[int] | None = None,
    full: pd.DataFrame | None = None,
    logx: bool = False,
) -> Figure:
    """Three panels: loss with one circle, with {strongest, k}, with {two strongest, k}.

    Args:
        losses: from ``collaboration_losses(...).losses`` (columns mode, k, step, loss).
        survivors: the surviving frequencies (coloured; the rest grey).
        strongest: the two strongest frequencies (named in the panel titles).
        full: optional ``full_loss`` DataFrame (step, loss), drawn dashed in every panel.
        logx: logarithmic step axis (step 0 is then left out).

    The loss axis is logarithmic.
    """
    from ..analysis.collaboration import MODES

    names = {
        "single": "one circle k",
        "strongest+k": "strongest circle + k",
        "pair+k": "strongest and third-strongest circles + k",
    }
    if strongest is not None:
        names["strongest+k"] = f"circle {strongest[0]} + k"
        names["pair+k"] = f"circles {strongest[0]}, {strongest[1]} + k"
    survivors = [int(k) for k in survivors]
    colors = {k: f"C{i % 10}" for i, k in enumerate(survivors)}
    fig = _figure(12.0, 3.8)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, mode in zip(axes, MODES, strict=True):
        part = losses[losses["mode"] == mode]
        grey_labelled = False
        for k, grp in part.groupby("k", sort=True):
            grp = grp.sort_values("step")
            if logx:
                grp = grp[grp["step"] > 0]
            x, y = grp["step"].to_numpy(float), grp["loss"].to_numpy(float)
            if k in colors:
                ax.plot(x, y, color=colors[k], lw=1.6, label=f"k = {k}", zorder=3)
            else:
                ax.plot(x, y, color=DEAD_COLOR, lw=0.8, zorder=2,
                        label=None if grey_labelled else "dead frequencies")
                grey_labelled = True
        if full is not None:
            f = full[full["step"] > 0] if logx else full
            ax.plot(f["step"].to_numpy(float), f["loss"].to_numpy(float), color="k", ls="--",
                    lw=1.2, label="full model", zorder=4)
        ax.set_yscale("log")
        if logx:
            ax.set_xscale("log")
        ax.set_title(names[mode])
        ax.set_xlabel("step")
    shared_legend(fig, axes[0], ncol=1 + len(survivors) // 12)
    axes[0].set_ylabel("loss on all $p^2$ pairs")
    fig.suptitle("Circle collaboration: loss with the embedding restricted to a few circles")
    return fig


# -- experiment 11: linear ODE ---------------------------------------------------------------
def ode_trajectories(
    steps: np.ndarray,
    true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    ks: Sequence[int],
    survived: Sequence[bool] | None = None,
    show: Sequence[str] = ("lasso_rollout", "lasso0_rollout", "lasso_analytic_authors"),
    ncols: int = 5,
) -> Figure:
    """One panel per frequency: the recorded signal and the fitted predictions.

    Args:
        steps: (N+1,) the window's steps; true: (N+1, K) recorded signals.
        predictions: name -> (N+1, K), e.g. ``ODEAnalysis.predictions``.
        ks: (K,) frequencies; survived: (K,) bool, for the panel titles.
        show: which predictions to draw (keys of ``predictions``).
        ncols: panels per row. The first cell holds the legend, as in the paper.
    """
    true = np.asarray(true, dtype=float)
    n_k = true.shape[1]
    nrows = -(-(n_k + 1) // ncols)
    fig = _figure(2.6 * ncols, 2.2 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    lo, hi = float(np.nanmin(true)), float(np.nanmax(true))
    pad = 0.15 * (hi - lo) + 1e-9
    handles = []
    for i in range(n_k):
        ax = axes[i + 1]
        for name in (n for n in show if n in predictions):
            label, color = ODE_STYLES.get(name, (name, None))
            (h,) = ax.plot(steps, np.asarray(predictions[name])[:, i], color=color, lw=1.2,
                           label=label)
            if i == 0:
                handles.append(h)
        label, color = ODE_STYLES["true"]
        (h,) = ax.plot(steps, true[:, i], color=color, lw=1.2, label=label)
        if i == 0:
            handles.insert(0, h)
        ax.set_ylim(min(0.0, lo - pad), hi + pad)
        status = "" if survived is None else (": survived" if survived[i] else ": dead")
        ax.set_title(f"k = {ks[i]}{status}", fontsize="medium")
        ax.grid(alpha=0.3)
        col = (i + 1) % ncols
        if col == 0:
            ax.set_ylabel("signal $S_k$")
        if i + 1 + ncols > n_k:  # no panel below
            ax.set_xlabel("step")
    axes[0].axis("off")
    axes[0].legend(handles=handles, loc="center", fontsize="small", frameon=False)
    for ax in axes[n_k + 1:]:
        ax.axis("off")
    fig.suptitle("Signals and the fitted linear dynamics, per frequency")
    return fig


def ode_coefficients(
    A: np.ndarray, ks: Sequence[int], title: str = "Fitted coefficient matrix A"
) -> Figure:
    """Heatmap of A: row i = frequency whose change is predicted, column j = its source.

    A diverging colour map centred at 0 with a colour bar.
    """
    a = np.asarray(A, dtype=float)
    vmax = float(np.nanmax(np.abs(a))) or 1.0
    fig = _figure(6.0, 5.0)
    ax = fig.subplots()
    im = ax.imshow(a, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    ticks = np.arange(len(ks))
    step = max(1, len(ks) // 15)
    ax.set_xticks(ticks[::step], [str(k) for k in ks][::step])
    ax.set_yticks(ticks[::step], [str(k) for k in ks][::step])
    ax.set_xlabel("source frequency j  ($s_j$)")
    ax.set_ylabel("target frequency i  ($s_{i,t+1} - s_{i,t}$)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="$A_{ij}$")
    return fig


def r2_vs_d(results: pd.DataFrame, title: str = "Fit quality of the linear ODE",
            interval: str = "sd") -> Figure:
    """R^2 against the embedding width d: the mean over runs with error bars.

    Args:
        results: columns d, r2 (and optionally method: one curve per method).
        interval: "sd" (mean ± SD over runs, as the authors drew it) or "t95" (the mean's
            95% t interval over runs).
    """
    from ..analysis.stats import mean_interval

    if interval not in ("sd", "t95"):
        raise ValueError(f"interval must be 'sd' or 't95', got {interval!r}")
    fig = _figure(7.0, 4.4)
    ax = fig.subplots()
    groups = results.groupby("method") if "method" in results.columns else [(None, results)]
    what = "mean ± SD" if interval == "sd" else "mean, 95% t interval"
    for method, grp in groups:
        ds, mean, low, high = [], [], [], []
        for d, g in grp.groupby("d", sort=True):
            r2 = g["r2"].to_numpy(float)
            m, lo, hi = mean_interval(r2)
            if interval == "sd":
                sd = float(np.nanstd(r2, ddof=1)) if np.isfinite(r2).sum() > 1 else 0.0
                lo, hi = m - sd, m + sd
            ds.append(float(d))
            mean.append(m)
            low.append(lo if np.isfinite(lo) else m)
            high.append(hi if np.isfinite(hi) else m)
        mean_a = np.asarray(mean)
        err = np.vstack([mean_a - np.asarray(low), np.asarray(high) - mean_a]).clip(min=0.0)
        label = f"{what} over runs" if method is None else str(method)
        ax.errorbar(np.asarray(ds), mean_a, yerr=err, marker="o", ms=4, capsize=3, label=label)
    ax.set_xlabel("embedding dimension d")
    ax.set_ylabel("$R^2$ of the fitted differences")
    ax.set_title(title)
    ax.legend(fontsize="x-small", title=f"{what} over runs", title_fontsize="x-small",
              loc="lower right")
    return fig
