"""Figures of the interventions on the initial embedding: the causal perturbation of one
frequency (experiment 6), two constructed circles (experiment 7) and ablation-then-train
(experiment 9).

Every function takes data (arrays or DataFrames) and returns a :class:`matplotlib.figure.Figure`
on an Agg canvas; no pyplot state is touched. Rates are drawn with Wilson 95% intervals
(:func:`wilson_interval`) and every figure names the number of runs behind each point; a
``note`` (the scale and its departures from the paper) is printed under the title.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..analysis.stats import wilson_interval
from .base import figure as _figure
from .base import titled

#: Colours of the ablation variants (O is drawn in both panels).
ABLATION_COLORS = {"O": "tab:blue", "A": "tab:orange", "B": "tab:green", "C": "tab:pink",
                   "D": "tab:cyan"}
#: The two panels of the ablation figure: the strongest circles, and random circles.
ABLATION_PANELS = (("O", "A", "B"), ("O", "C", "D"))
LARGER_COLOR = "tab:red"
SMALLER_COLOR = "tab:blue"


def _rate_errorbars(ax, x: np.ndarray, n_survived: np.ndarray, n_runs: np.ndarray,
                    **style) -> None:
    """Survival rates at ``x`` with Wilson 95% intervals as error bars."""
    rate = n_survived / np.maximum(n_runs, 1)
    low, high = wilson_interval(n_survived, n_runs)
    err = np.vstack([rate - low, high - rate])
    ax.errorbar(x, rate, yerr=err, capsize=2, elinewidth=0.8, markersize=4, **style)


def _runs_text(n_runs: np.ndarray) -> str:
    """'50 runs per point', or '5–50 runs per point' when the counts differ."""
    lo, hi = int(np.min(n_runs)), int(np.max(n_runs))
    return f"{hi} runs per point" if lo == hi else f"{lo}–{hi} runs per point"


# -- experiment 9: ablation-then-train --------------------------------------------------------
def ablation_test_loss(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    labels: Mapping[str, str] | None = None,
    note: str | None = None,
) -> Figure:
    """Test loss over training of the ablation variants, on log–log axes, in two panels:
    O, A, B (no ablation, strongest circle, two strongest) and O, C, D (random circles).

    Args:
        curves: variant ("O", "A", ...) -> (steps (T,), test loss (T,)), one run each. Step 0
            cannot be drawn on a log axis and is left out.
        labels: variant -> legend text (default: the variant's name).
        note: the scale note printed under the title.
    """
    labels = dict(labels or {})
    fig = _figure(12.0, 4.8)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, panel in zip(axes, ABLATION_PANELS, strict=True):
        for name in panel:
            if name not in curves:
                continue
            steps, loss = (np.asarray(a, dtype=float) for a in curves[name])
            ok = (steps > 0) & np.isfinite(loss) & (loss > 0)
            ax.plot(steps[ok], loss[ok], color=ABLATION_COLORS.get(name), lw=1.2, alpha=0.85,
                    label=labels.get(name, name))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", ls="--", alpha=0.4)
        ax.set_xlabel("step (log scale)")
        ax.legend(title="one run per curve", fontsize="small", loc="lower left")
    axes[0].set_ylabel("test loss (log scale)")
    axes[0].set_title("strongest circles")
    axes[1].set_title("random circles")
    titled(fig, "Test loss after restricting the initial embedding (ablation-then-train)",
              note)
    return fig


# -- experiment 6: perturbing one frequency ---------------------------------------------------
def perturbation_survival(
    rates: pd.DataFrame,
    k: int,
    note: str | None = None,
    statistic: str | None = None,
    reference_alpha: float | None = None,
) -> Figure:
    """Survival rate of the perturbed frequency against its shifted initial signal,
    one curve per fixed embedding, with Wilson 95% intervals.

    With ``reference_alpha`` (and a column x_authors) two panels: the authors' axis (S_k and
    the mean measured on the embedding of that α, as their plotting script does) on the
    left, the corrected axis (both from the unperturbed embedding) on the right; otherwise
    the corrected axis alone.

    Args:
        rates: one row per (embedding, alpha): columns embedding_seed, x (alpha * S_k minus
            the mean of the embedding's unperturbed signals), n_runs, n_survived, and for the
            authors' panel x_authors.
        k: the perturbed frequency (for the labels).
        note: the scale note printed under the title.
        statistic: a line about the trend (e.g. Spearman's r) shown in the last panel.
        reference_alpha: the α of the authors' reference embedding (their 0.85).
    """
    panels = [("x", f"α·S_{k} − mean_k S_k  (both from the unperturbed embedding)",
               "corrected axis")]
    if reference_alpha is not None and "x_authors" in rates.columns:
        a = f"{reference_alpha:g}"
        panels.insert(0, ("x_authors", f"α·S_{k} − mean_k S_k  (both from the α = {a} "
                          "embedding)", f"the authors' axis, as they plotted it (α = {a})"))
    fig = _figure(7.5 * len(panels), 5.0)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    groups = list(rates.groupby("embedding_seed", sort=True))
    cmap = colormaps["viridis"]
    runs = _runs_text(rates["n_runs"].to_numpy())
    for ax, (col, xlabel, name) in zip(axes, panels, strict=True):
        for i, (seed, g) in enumerate(groups):
            g = g.sort_values(col)
            color = cmap(i / max(1, len(groups) - 1) * 0.9)
            _rate_errorbars(ax, g[col].to_numpy(float), g["n_survived"].to_numpy(float),
                            g["n_runs"].to_numpy(float), color=color, marker="o", lw=1.0,
                            alpha=0.85, label=f"embedding {seed}")
        ax.axvline(0.0, color="0.6", lw=0.8, ls=":")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(xlabel)
        ax.set_title(f"{name}: {runs}; Wilson 95% intervals" if len(panels) > 1
                     else f"{runs}; Wilson 95% intervals", fontsize="small")
    axes[0].set_ylabel(f"survival rate of k = {k}")
    axes[0].legend(fontsize="x-small", ncol=1 + len(groups) // 9, loc="upper left")
    if statistic:
        axes[-1].text(0.98, 0.03, statistic, transform=axes[-1].transAxes, ha="right",
                      va="bottom", fontsize="small",
                      bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    titled(fig, f"Survival of frequency k = {k} after scaling its Fourier component by α", note)
    return fig


# -- experiment 7: two constructed circles ----------------------------------------------------
def two_circles_survival(rates: pd.DataFrame, note: str | None = None) -> Figure:
    """Survival rate of the larger and of the smaller constructed circle against the ratio r
    of their signals (log x axis), with Wilson 95% intervals.

    Args:
        rates: one row per r: columns ratio, n_runs, n_larger, n_smaller (runs in which that
            circle survives).
        note: the scale note printed under the title.
    """
    r = rates.sort_values("ratio")
    x = r["ratio"].to_numpy(float)
    n = r["n_runs"].to_numpy(float)
    fig = _figure(7.0, 4.8)
    ax = fig.subplots()
    _rate_errorbars(ax, x, r["n_larger"].to_numpy(float), n, color=LARGER_COLOR, marker="o",
                    lw=1.2, label="larger circle (signal s)")
    _rate_errorbars(ax, x * 1.03, r["n_smaller"].to_numpy(float), n, color=SMALLER_COLOR,
                    marker="s", lw=1.2, label="smaller circle (signal r·s)")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("ratio r of the smaller to the larger initial signal (log scale)\n"
                  "(the authors' axis label says larger to smaller; their plotted r is this)")
    ax.set_ylabel("survival rate")
    ax.set_title(f"{_runs_text(n)}; Wilson 95% intervals", fontsize="small")
    ax.grid(True, which="major", ls="--", alpha=0.4)
    ax.legend(fontsize="small", loc="best")
    titled(fig, "Two constructed circles: which survives?", note)
    return fig


def variant_label(name: str, description: str, kept: Sequence[int] | None) -> str:
    """A legend entry: 'A: strongest circle {7}'; O has no kept set."""
    if kept is None:
        return f"{name}: {description}"
    return f"{name}: {description} {{{', '.join(str(k) for k in kept)}}}"
