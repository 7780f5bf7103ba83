"""Figures of survival over many runs (experiments 1, 4 and 5): the number of circles per run
and the survival rate of every frequency.

Every function takes data (the DataFrames of :mod:`circle_survival.analysis.survival`, or
arrays) and returns a :class:`matplotlib.figure.Figure` on an Agg canvas; ``note`` (the scale and
the departures from the paper) becomes the caption under the figure. Titles name the number of
runs ("1 run", "6 runs").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .base import captioned, runs_text, survivor_colors
from .base import figure as _figure


def n_circles_histogram(n_circles: Sequence[int] | np.ndarray | pd.Series, *,
                        title: str | None = None, note: str | None = None) -> Figure:
    """Histogram of the number of circles per run, one bar per integer from the smallest to
    the largest count (empty bars included), with one empty count either side and a tick at
    every count. The title gives the number of runs and the mean."""
    n = np.asarray(n_circles, dtype=np.int64)
    if n.size == 0:
        raise ValueError("no runs to draw")
    lo, hi = int(n.min()), int(n.max())
    fig = _figure(5.0, 3.6)
    ax = fig.subplots()
    ax.hist(n, bins=np.arange(lo - 0.5, hi + 1.5), color="tab:blue", edgecolor="white",
            rwidth=0.9)
    left = max(lo - 1, 0)
    ax.set_xlim(left - 0.6, hi + 1.6)
    if hi - left <= 24:
        ax.set_xticks(range(left, hi + 2))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of circles")
    ax.set_ylabel("runs")
    ax.set_title(title or f"Circles per run ({runs_text(n.size)}, mean {n.mean():.2f})")
    return captioned(fig, note)


def survival_rate_bars(rates: pd.DataFrame, group_by: Sequence[str] | None = None, *,
                       title: str | None = None, note: str | None = None) -> Figure:
    """Survival rate of every frequency as bars.

    Args:
        rates: from :func:`circle_survival.analysis.survival.survival_rates` (columns k,
            n_runs, rate, and the group columns).
        group_by: group columns: one bar per (group, k), side by side, with a legend right of
            the axes, clear of the bars (default none: ``rates`` must hold one row per k).
        title: the axes title (default: names the number of runs).
        note: the caption (scale, departures).
    """
    group_by = list(group_by or [])
    if rates.duplicated([*group_by, "k"]).any():
        raise ValueError("rates hold several rows per k; pass the group columns as group_by")
    groups = list(rates.groupby(group_by, sort=True)) if group_by else [((), rates)]
    n_runs = int(sum(g["n_runs"].max() for _, g in groups))
    ks = np.sort(rates["k"].unique())
    width = min(16.0, max(5.0, 0.28 * len(ks) * len(groups) ** 0.5 + 2))
    legend_cols = 1 + (len(groups) - 1) // 12 if group_by else 0
    fig = _figure(width + 2.2 * legend_cols, 3.8)
    ax = fig.subplots()
    bar_width = 0.8 / len(groups)
    colors = survivor_colors(len(groups))
    for i, (key, g) in enumerate(groups):
        g = g.sort_values("k")
        x = g["k"].to_numpy(float) + (i - (len(groups) - 1) / 2) * bar_width
        label = None
        if group_by:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(str(v) for v in key)
            label += f" ({runs_text(int(g['n_runs'].max()))})"
        ax.bar(x, g["rate"].to_numpy(float), width=bar_width, color=colors[i], label=label)
    if len(ks) <= 30:
        ax.set_xticks(ks)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("frequency k")
    ax.set_ylabel("survival rate (fraction of runs)")
    ax.set_title(title or f"Survival rate per frequency ({runs_text(n_runs)})")
    if group_by:
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", ncol=legend_cols,
                   fontsize="small", title=", ".join(group_by),
                   title_fontsize="small")
    return captioned(fig, note)
