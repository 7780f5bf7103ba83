"""The circle-rule study's figure: the number of circles against weight decay under each
circle rule, one panel per run length, beside the paper's figure as read off it.

The data is :func:`circle_survival.analysis.rule_counts.mean_counts` output: one row per
(circle_rule, step, weight_decay) with n, mean, low, high.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from .base import figure as _figure
from .base import set_key, titled
from .landscape import SERIES_MARKERS, runs_label


def circles_by_rule(means: pd.DataFrame, paper_shape: Mapping[float, float], *,
                    rules: Sequence[str] | None = None, title: str | None = None,
                    note: str | None = None) -> Figure:
    """Mean circles (95% t interval) against weight decay (log axis), one line per rule and
    one panel per step; the paper's figure as black stars joined by a dashed line.

    Args:
        means: columns circle_rule, step, weight_decay, n, mean, low, high.
        paper_shape: weight decay -> the number of circles the paper's figure shows there.
        rules: the rules to draw, in order (default: as they come in ``means``).
        title, note: the suptitle and the caption.
    """
    if means.empty:
        raise ValueError("no counts to draw")
    rules = list(dict.fromkeys(means["circle_rule"])) if rules is None else list(rules)
    steps = sorted(int(s) for s in means["step"].unique())
    fig = _figure(max(6.4, 4.6 * len(steps)), 4.8)
    axes = list(fig.subplots(1, len(steps), squeeze=False, sharey=True)[0])
    tab20 = colormaps["tab20"].colors  # the dark ten, then the light ten: distinct lines
    colors = tab20[0::2] + tab20[1::2]
    styles = ("-", "--", ":")
    paper_x = np.array(sorted(paper_shape), dtype=float)
    paper_y = np.array([paper_shape[x] for x in sorted(paper_shape)], dtype=float)
    for ax, step in zip(axes, steps, strict=True):
        at = means[means["step"] == step]
        for i, rule in enumerate(rules):
            g = at[at["circle_rule"] == rule].sort_values("weight_decay")
            if g.empty:
                continue
            err = np.nan_to_num(np.vstack([g["mean"] - g["low"], g["high"] - g["mean"]])
                                .clip(min=0))
            ax.errorbar(g["weight_decay"].to_numpy(float), g["mean"].to_numpy(float),
                        yerr=err, color=colors[i % len(colors)], lw=1.3, ms=4, capsize=2,
                        ls=styles[(i // len(SERIES_MARKERS)) % len(styles)],
                        marker=SERIES_MARKERS[i % len(SERIES_MARKERS)], label=rule, zorder=3)
        ax.plot(paper_x, paper_y, color="black", ls="--", lw=1.2, marker="*", ms=11,
                label="the paper's figure", zorder=4)
        ax.set_xscale("log")
        ax.set_title(f"after {step:,} steps ({runs_label(at['n'])})")
        ax.set_xlabel("weight decay")
        ax.grid(alpha=0.3, lw=0.4)
    top = max(float(np.nanmax(means["mean"].to_numpy(float))), float(paper_y.max()))
    axes[0].set_ylim(-0.5, 1.08 * top + 0.5)  # counts are >= 0; wide intervals are cut
    axes[0].set_ylabel("number of circles (mean, 95% CI)")
    axes[-1].legend(fontsize="x-small", title="circle rule", title_fontsize="small",
                    loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    set_key(fig, "Each line: the mean number of circles per run under one circle rule; "
                 "stars: the levels the paper's weight-decay figure shows.")
    return titled(fig, title or "Number of circles against weight decay, by circle rule",
                  note)
