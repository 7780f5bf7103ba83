"""Figures of the survival landscape over many runs (experiments 2-5 of the paper), and the
small statistics they draw: Wilson intervals for rates, t intervals for means.

Every figure function takes data (tidy DataFrames, one row per run or per (run, frequency))
and returns a :class:`matplotlib.figure.Figure` on an Agg canvas; no pyplot state is touched.
Each takes a ``note`` (a line such as :func:`circle_survival.experiments.result.scale_note`
gives), written under the title, and shows how many runs stand behind every point.

- :func:`circles_vs` - number of circles per run against a parameter (d, p, weight decay):
  the mean with its 95% t interval, each run as a faint dot;
- :func:`circularity_vs_d` - initial circularity (mean and max over k) against d;
- :func:`circularity_histogram` - initial circularity of survivors against the dead;
- :func:`frozen_embedding` - test loss and accuracy against d at several steps;
- :func:`signal_vs_survival` - each frequency's initial signal against its survival rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..analysis.stats import mean_interval, wilson_interval
from .base import DEAD_COLOR, SURVIVED_COLOR, titled
from .base import figure as _figure

SERIES_MARKERS = ("o", "s", "^", "D", "v")


# -- statistics -------------------------------------------------------------------------------
def summarize(runs: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One row per value of ``x``: n (runs), mean, low, high (95% t interval) of ``y``."""
    rows = []
    for xv, g in runs.groupby(x, sort=True):
        m, lo, hi = mean_interval(g[y].to_numpy(float))
        rows.append({x: xv, "n": len(g), "mean": m, "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=[x, "n", "mean", "low", "high"])


# -- helpers ----------------------------------------------------------------------------------
def runs_label(counts: Sequence[int] | np.ndarray) -> str:
    """'10 runs per point', or '3-10 runs per point' when the counts differ."""
    c = np.asarray(counts, dtype=int)
    if c.size == 0:
        return "no runs"
    lo, hi = int(c.min()), int(c.max())
    unit = "run" if hi == 1 else "runs"
    return f"{lo} {unit} per point" if lo == hi else f"{lo}–{hi} runs per point"


def _jitter(x: np.ndarray, logx: bool, spread: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    u = rng.uniform(-spread, spread, size=len(x))
    return x * np.exp(u) if logx else x + u


def _spread(xs: np.ndarray, logx: bool) -> float:
    """Sideways jitter for the dots of single runs: small against both the spacing of the x
    values and their span (in log units on a log axis)."""
    u = np.unique(np.log(xs) if logx else xs)
    if u.size < 2:
        return 0.05 if logx else 0.5
    return float(min(0.15 * np.min(np.diff(u)), 0.02 * (u[-1] - u[0])))


# -- number of circles against a parameter (experiments 2 and 4) -----------------------------
def circles_vs(
    series: Mapping[str, pd.DataFrame],
    x: str,
    *,
    xlabel: str,
    y: str = "n_circles",
    ylabel: str = "number of circles",
    panels: bool = False,
    logx: bool | Mapping[str, bool] = False,
    title: str = "Number of surviving circles",
    note: str | None = None,
    marks: Mapping[str, float] | None = None,
) -> Figure:
    """The number of circles per run against a parameter, one series per entry.

    Args:
        series: name -> one row per run with columns ``x`` and ``y``.
        x, y: the columns; xlabel, ylabel: the axis labels.
        panels: one panel per series (else all series on one axes).
        logx: logarithmic x axis (one value, or one per series name).
        title, note: the suptitle and the note under it.
        marks: label -> x value of a dashed vertical line (e.g. {"d = p": 59}).

    Each point is the mean over the runs at that x with its 95% t interval; every run is a
    faint dot (jittered sideways); the legend gives the runs per point.
    """
    names = list(series)
    if not names:
        raise ValueError("no series to draw")
    n_ax = len(names) if panels else 1
    fig = _figure(max(6.4, 5.0 * n_ax), 4.4)
    axes = list(fig.subplots(1, n_ax, squeeze=False)[0])
    colors = colormaps["tab10"].colors
    for i, name in enumerate(names):
        ax = axes[i if panels else 0]
        df = series[name]
        log = logx.get(name, False) if isinstance(logx, Mapping) else bool(logx)
        xs = df[x].to_numpy(float)
        s = summarize(df, x, y)
        color = colors[i % len(colors)]
        if len(xs):
            ax.scatter(_jitter(xs, log, _spread(xs, log)), df[y].to_numpy(float),
                       s=8, color=color, alpha=0.25, edgecolors="none", zorder=2)
        err = np.vstack([s["mean"] - s["low"], s["high"] - s["mean"]]).clip(min=0)
        err = np.nan_to_num(err)
        ax.errorbar(s[x].to_numpy(float), s["mean"].to_numpy(float), yerr=err, color=color,
                    marker=SERIES_MARKERS[i % len(SERIES_MARKERS)], ms=5, lw=1.4, capsize=3,
                    zorder=3, label=f"{name} ({runs_label(s['n'])})")
        if log:
            ax.set_xscale("log")
    for ax in axes:
        for label, xv in (marks or {}).items():
            ax.axvline(xv, color="0.4", ls="--", lw=1, zorder=1, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, lw=0.4)
        ax.legend(fontsize="small", title="mean, 95% CI; dots: runs", title_fontsize="small")
    return titled(fig, title, note)


# -- experiment 2: circularity -----------------------------------------------------------------
def circularity_vs_d(runs: pd.DataFrame, p: int | None = None, *,
                     title: str = "Initial circularity against embedding dimension",
                     note: str | None = None) -> Figure:
    """Initial circularity against d: the mean over k and the max over k of each run's initial
    embedding, averaged over the runs at each d (bars: one standard deviation over runs).

    Args:
        runs: one row per run with columns d, mean_circularity, max_circularity.
        p: when given, the expected circularity of an N(0, 1) embedding, d / (d + p), is drawn.
    """
    fig = _figure(6.4, 4.4)
    ax = fig.subplots()
    n = runs.groupby("d").size()
    for col, label, color, marker in (("mean_circularity", "mean over k", "tab:blue", "o"),
                                      ("max_circularity", "max over k", "tab:orange", "s")):
        g = runs.groupby("d")[col]
        d = np.asarray(g.mean().index, dtype=float)
        ax.errorbar(d, g.mean().to_numpy(float), yerr=np.nan_to_num(g.std().to_numpy(float)),
                    color=color, marker=marker, ms=5, capsize=3, lw=1.4,
                    label=f"{label} ({runs_label(n)})")
    if p is not None and len(runs):
        dd = np.linspace(float(runs["d"].min()), float(runs["d"].max()), 200)
        ax.plot(dd, dd / (dd + p), color="0.4", ls=":", lw=1.2, label=f"d / (d + p), p = {p}")
    ax.set_xlabel("embedding dimension d")
    ax.set_ylabel("initial circularity")
    ax.grid(alpha=0.3, lw=0.4)
    ax.legend(fontsize="small")
    return titled(fig, title, note)


def circularity_histogram(survivors: np.ndarray, dead: np.ndarray, *, t: float, p_value: float,
                          d: int | None = None, bins: int = 30,
                          title: str = "Initial circularity: survivors against the dead",
                          note: str | None = None) -> Figure:
    """Density histograms of the initial circularity of frequencies that survive and of those
    that die, with the two-sample t-test in the axes title."""
    survivors = np.asarray(survivors, dtype=float)
    dead = np.asarray(dead, dtype=float)
    both = np.concatenate([survivors, dead])
    both = both[np.isfinite(both)]
    if both.size == 0:
        raise ValueError("no circularities to draw")
    fig = _figure(6.4, 4.4)
    ax = fig.subplots()
    edges = np.histogram_bin_edges(both, bins=bins)
    for vals, color, label in ((dead, DEAD_COLOR, "die"), (survivors, SURVIVED_COLOR, "survive")):
        vals = vals[np.isfinite(vals)]
        if vals.size:
            ax.hist(vals, bins=edges, density=True, color=color, alpha=0.55,
                    label=f"{label} ({vals.size} frequencies, mean {vals.mean():.3f})")
    ax.set_xlabel("initial circularity")
    ax.set_ylabel("density")
    where = "" if d is None else f"d = {d}: "
    ax.set_title(f"{where}two-sample t-test t = {t:.2f}, p = {p_value:.2g}", fontsize="medium")
    ax.legend(fontsize="small")
    return titled(fig, title, note)


# -- experiment 3: frozen embedding ----------------------------------------------------------
def frozen_embedding(runs: pd.DataFrame, p: int | None = None, *,
                     title: str = "Frozen embedding: test loss and accuracy against d",
                     note: str | None = None) -> Figure:
    """Test loss (log scale) and test accuracy against d, one line per training step.

    Args:
        runs: one row per (run, step) with columns d, step, test_loss, test_acc.
        p: the modulus, marked by a vertical line at d = p.

    Each point is the mean over the runs at that d (bars: the min-max range over runs).
    """
    fig = _figure(11.0, 4.4)
    axes = fig.subplots(1, 2)
    steps = sorted(runs["step"].unique())
    cmap = colormaps["viridis"]
    for i, step in enumerate(steps):
        color = cmap(0.85 * i / max(1, len(steps) - 1))
        g = runs[runs["step"] == step].groupby("d")
        n = g.size()
        for ax, col in zip(axes, ("test_loss", "test_acc"), strict=True):
            mean = g[col].mean()
            d = np.asarray(mean.index, dtype=float)
            err = np.vstack([mean - g[col].min(), g[col].max() - mean]).clip(min=0)
            ax.errorbar(d, mean.to_numpy(float), yerr=err, color=color, marker="o", ms=4,
                        capsize=2, lw=1.4, label=f"step {step:,} ({runs_label(n)})")
    for ax, ylabel in zip(axes, ("test loss", "test accuracy"), strict=True):
        if p is not None:
            ax.axvline(p, color="0.4", ls="--", lw=1, label=f"d = p = {p}")
        ax.set_xlabel("embedding dimension d")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, lw=0.4, which="both")
    axes[0].set_yscale("log")
    axes[1].set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize="small", title="mean, min-max over runs", title_fontsize="small")
    return titled(fig, title, note)


# -- experiment 5: initial signal against survival -------------------------------------------
def signal_vs_survival(rates: pd.DataFrame, *, r: float, p_value: float,
                       group: str = "embedding_seed",
                       title: str = "Initial signal against survival rate",
                       note: str | None = None) -> Figure:
    """Each frequency's initial signal against its survival rate, one colour per fixed
    embedding, with Wilson 95% intervals; Pearson r in the axes title.

    Args:
        rates: one row per (group, k) with columns ``group``, k, initial_signal, rate,
            n_runs, n_survived (as :func:`circle_survival.analysis.survival.survival_rates`).
        r, p_value: Pearson's r and its p-value over the points.
        group: the column naming the fixed embedding of each point.
    """
    fig = _figure(6.8, 4.8)
    ax = fig.subplots()
    groups = list(rates.groupby(group, sort=True)) if group in rates else [("all", rates)]
    colors = (colormaps["tab10"].colors if len(groups) <= 10
              else [colormaps["turbo"](v) for v in np.linspace(0.05, 0.95, len(groups))])
    for i, (key, g) in enumerate(groups):
        lo, hi = wilson_interval(g["n_survived"].to_numpy(), g["n_runs"].to_numpy())
        y = g["rate"].to_numpy(float)
        _, _, bars = ax.errorbar(g["initial_signal"].to_numpy(float), y,
                                 yerr=np.vstack([y - lo, hi - y]), fmt="o", ms=4,
                                 color=colors[i], elinewidth=0.6,
                                 label=f"{group} = {key}" if len(groups) <= 10 else None)
        for bar in bars:
            bar.set_alpha(0.35)
    n = rates["n_runs"].to_numpy(int)
    ax.set_xlabel("initial signal $S_k$")
    ax.set_ylabel("survival rate")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3, lw=0.4)
    r_text = (f"Pearson r = {r:.3f} (p = {p_value:.2g})" if np.isfinite(r)
              else "Pearson r undefined (no variation)")
    ax.set_title(f"{r_text}, {len(rates)} points, {runs_label(np.unique(n))}",
                 fontsize="medium")
    if len(groups) <= 10:
        ax.legend(fontsize="x-small", ncol=2, title="fixed embedding; bars: Wilson 95%",
                  title_fontsize="x-small")
    return titled(fig, title, note)
