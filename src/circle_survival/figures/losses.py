"""Loss curves: the train and the test loss against the step, of one run and of many.

The data are the frames of :meth:`circle_survival.store.Store.metrics` (columns step,
train_loss, train_acc, test_loss, test_acc; one row per recorded step). Both axes are
logarithmic: the loss falls over orders of magnitude, and the step axis is the one of the
signal-evolution figure (step + 1, so that step 0 shows), where the early fall and the late
plateau both get room; on a linear step axis the first few hundred steps, where most of the
fall happens, are squeezed against the left edge. A loss that is not positive cannot be
drawn on a log axis and is left out (a gap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .base import captioned, runs_text
from .base import figure as _figure

if TYPE_CHECKING:
    from ..store import Store

#: the two curves: column -> (legend name, colour)
LOSSES = {"train_loss": ("train loss", "tab:blue"), "test_loss": ("test loss", "tab:orange")}
#: how a single run is drawn among many: thin, and fainter the more runs there are
FAINT_LW = 0.7


def faint_alpha(n_runs: int) -> float:
    """The opacity of one run's curve among ``n_runs``: 0.3 for a few, down to 0.04."""
    return min(0.3, max(0.04, 4.0 / max(n_runs, 1)))


def _xy(steps: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = step + 1 and the loss, NaN where it is not positive (a gap on the log axis)."""
    y = np.asarray(loss, dtype=float)
    return np.asarray(steps, dtype=float) + 1.0, np.where(y > 0, y, np.nan)


def _axes(fig: Figure, logx: bool):
    ax = fig.subplots()
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step + 1" if logx else "step")
    ax.set_ylabel("cross-entropy loss")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    return ax


def loss_curves(metrics: pd.DataFrame, *, title: str | None = None, note: str | None = None,
                logx: bool = True) -> Figure:
    """The train and the test loss of one run against the step (log-log).

    Args:
        metrics: one run's ``Store.metrics`` frame.
        title: the axes title (default "Train and test loss").
        note: the caption (scale, departures).
        logx: a logarithmic step axis at step + 1 (default; else the step on a linear axis).

    The legend gives each loss at the last recorded step.
    """
    fig = _figure(6.4, 4.2)
    ax = _axes(fig, logx)
    steps = metrics["step"].to_numpy(float)
    for col, (name, color) in LOSSES.items():
        x, y = _xy(steps, metrics[col].to_numpy(float))
        last = metrics[col].iloc[-1] if len(metrics) else float("nan")
        x = x if logx else x - 1.0
        ax.plot(x, y, color=color, lw=1.6, label=f"{name} (final {last:.3g})")
    ax.set_title(title or "Train and test loss")
    ax.legend(fontsize="small")
    return captioned(fig, note)


def median_curve(metrics: Mapping[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """The median of ``column`` over the runs at every recorded step: columns step, median,
    n_runs (the runs that recorded the step)."""
    frames = [m[["step", column]] for m in metrics.values()]
    if not frames:
        return pd.DataFrame({"step": [], "median": [], "n_runs": []})
    g = pd.concat(frames, ignore_index=True).groupby("step", sort=True)[column]
    return pd.DataFrame({"median": g.median(), "n_runs": g.count()}).reset_index()


def loss_curves_runs(metrics: Mapping[str, pd.DataFrame], *, title: str | None = None,
                     note: str | None = None, logx: bool = True) -> Figure:
    """The train and the test loss of many runs against the step (log-log): every run's
    curves faint, the median over the runs at each step bold, train and test by colour.

    Args:
        metrics: run id -> that run's ``Store.metrics`` frame.
        title: the axes title (default: names the number of runs).
        note, logx: as :func:`loss_curves`.
    """
    if not metrics:
        raise ValueError("no runs to draw")
    fig = _figure(6.4, 4.2)
    ax = _axes(fig, logx)
    shift = 1.0 if logx else 0.0
    faint = {"lw": FAINT_LW, "alpha": faint_alpha(len(metrics))}
    handles = []
    for col, (name, color) in LOSSES.items():
        for m in metrics.values():
            x, y = _xy(m["step"].to_numpy(float), m[col].to_numpy(float))
            ax.plot(x - 1.0 + shift, y, color=color, zorder=2, **faint)
        med = median_curve(metrics, col)
        x, y = _xy(med["step"].to_numpy(float), med["median"].to_numpy(float))
        final = med["median"].iloc[-1]
        handles.append(ax.plot(x - 1.0 + shift, y, color=color, lw=2.2, zorder=3,
                               label=f"{name}: median (final {final:.3g})")[0])
    handles.append(Line2D([], [], color="0.4", lw=FAINT_LW, alpha=max(faint["alpha"], 0.3),
                          label="each run (faint)"))
    ax.set_title(title or f"Train and test loss of {runs_text(len(metrics))}")
    ax.legend(handles=handles, fontsize="small")
    return captioned(fig, note)


def store_loss_curves(store: Store, run_ids: Sequence[str] | None = None, *,
                      title: str | None = None, note: str | None = None,
                      logx: bool = True) -> Figure:
    """:func:`loss_curves` of a store's only run (or of the one id given), else
    :func:`loss_curves_runs` of ``run_ids`` (default: every complete run)."""
    ids = store.run_ids(run_ids)
    if len(ids) == 1:
        return loss_curves(store.metrics(ids[0]), title=title or f"Loss of {ids[0]}",
                           note=note, logx=logx)
    return loss_curves_runs({rid: store.metrics(rid) for rid in ids}, title=title, note=note,
                            logx=logx)
