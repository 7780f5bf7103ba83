"""Figures of single runs and of survival over many runs (experiments 1, 4 and 5).

Every function takes data (arrays, or the DataFrames of :mod:`circle_survival.analysis.survival`)
and returns a :class:`matplotlib.figure.Figure` on an Agg canvas; no pyplot state is touched.
Save with :func:`circle_survival.figures.io.save_figure` (PNG and SVG).

Conventions: signals are (T, K) over the half spectrum k = 0 .. p//2 (as training records them)
or all p frequencies; embeddings are (p, d); the circle frequencies are k = 1 .. (p-1)//2.
Survivors are drawn in colour, dead frequencies in grey.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import fourier
from .base import DEAD_COLOR
from .base import figure as _figure

#: tab10 without its grey (C7), so that no survivor is drawn grey.
SURVIVOR_COLORS = tuple(c for i, c in enumerate(colormaps["tab10"].colors) if i != 7)
TOKEN_CMAP = "viridis"


def survivor_colors(n: int) -> list:
    """n distinct, non-grey colours: tab10 without grey, then evenly spaced on 'turbo'."""
    if n <= len(SURVIVOR_COLORS):
        return list(SURVIVOR_COLORS[:n])
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def delta_text(k: int, p: int) -> str:
    """'Δ = 12', or 'Δ = –' where k has no inverse mod p."""
    dl = fourier.delta(k, p, strict=False)
    return f"Δ = {dl}" if dl is not None else "Δ = –"


def _grid(n: int, ncols: int, panel: float = 3.4) -> tuple[Figure, list]:
    """A figure with n square panels in rows of ``ncols``; unused cells are hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(panel * ncols, panel * nrows + 0.4)
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _tokens(ax, xy: np.ndarray, label_tokens: bool = True) -> None:
    """Scatter the p tokens (coloured by token value) and write each token's number."""
    p = len(xy)
    ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(p), cmap=TOKEN_CMAP, s=22, zorder=3,
               edgecolors="none")
    if label_tokens:
        size = 7 if p <= 40 else 5.5
        for t, (x, y) in enumerate(xy):
            ax.annotate(str(t), (x, y), xytext=(2, 2), textcoords="offset points",
                        fontsize=size, zorder=4)


def _square_limits(ax, xy: np.ndarray, lim: float | None = None) -> None:
    lim = float(np.nanmax(np.abs(xy))) * 1.15 if lim is None else lim
    lim = lim if np.isfinite(lim) and lim > 0 else 1.0
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal", adjustable="box")
    ax.axhline(0, color="0.85", lw=0.6, zorder=1)
    ax.axvline(0, color="0.85", lw=0.6, zorder=1)


# -- experiment 1: one run ------------------------------------------------------------------
def signal_evolution(
    steps: np.ndarray,
    signals: np.ndarray,
    p: int,
    survivors: Iterable[int] | None = None,
    *,
    title: str | None = None,
    logy: bool = False,
) -> Figure:
    """S_k over training on a logarithmic step axis, one line per k = 1 .. (p-1)//2.

    Args:
        steps: (T,) the recorded steps (0 = initialisation); drawn at step + 1 so step 0 shows.
        signals: (T, K) signals, K = p//2 + 1 or p.
        p: the modulus.
        survivors: the frequencies drawn in colour (default: the circles of the last record by
            the 2x-mean rule); every other frequency is grey.
        title: the axes title (default "Signal evolution").
        logy: logarithmic signal axis.
    """
    sig = fourier.half_signal(np.asarray(signals, dtype=float), p)
    x = np.asarray(steps, dtype=float) + 1.0
    if survivors is None:
        alive = fourier.survival(sig[-1], p)
        survivors = [k for k in range(1, fourier.n_freq(p) + 1) if alive[k]]
    alive_ks = sorted({int(k) for k in survivors})
    colors = dict(zip(alive_ks, survivor_colors(len(alive_ks)), strict=True))
    fig = _figure(6.4, 4.2)
    ax = fig.subplots()
    ks = range(1, fourier.n_freq(p) + 1)
    n_dead = sum(1 for k in ks if k not in colors)
    dead_labelled = False
    for k in ks:
        if k in colors:
            continue
        ax.plot(x, sig[:, k], color=DEAD_COLOR, lw=0.8, zorder=2,
                label=None if dead_labelled else f"dead ({n_dead} frequencies)")
        dead_labelled = True
    for k in alive_ks:
        ax.plot(x, sig[:, k], color=colors[k], lw=1.8, zorder=3,
                label=f"k = {k} ({delta_text(k, p)})")
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step + 1")
    ax.set_ylabel("signal $S_k$")
    ax.set_title(title or "Signal evolution")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    ax.legend(fontsize="small", ncol=1 + len(alive_ks) // 8, title="survivors in colour",
              title_fontsize="small")
    return fig


def circles_fft(
    embedding: np.ndarray,
    ks: Sequence[int] | None = None,
    *,
    title: str | None = None,
    ncols: int = 4,
    label_tokens: bool = True,
) -> Figure:
    """The embedding projected on the FFT plane (Re F[k], Im F[k]) of each circle k.

    Args:
        embedding: (p, d) (normally the final embedding).
        ks: the frequencies, one panel each (default: the circles of the embedding by the
            2x-mean rule; the strongest frequency k >= 1 when it has none).
        title: the figure title.
        ncols: panels per row.
        label_tokens: write each token's number next to its point.

    Each panel title gives k and Δ (neighbours round the circle differ in token by Δ).
    """
    e = np.asarray(embedding, dtype=float)
    p = e.shape[0]
    ks, note = _default_circles(e, ks)
    fig, axes = _grid(len(ks), ncols)
    for ax, k in zip(axes, ks, strict=True):
        xy = fourier.fft_plane(e, k)
        _tokens(ax, xy, label_tokens)
        _square_limits(ax, xy)
        ax.set_title(f"k = {k}, {delta_text(k, p)}")
        ax.set_xlabel(f"along Re $F[{k}]$")
        ax.set_ylabel(f"along Im $F[{k}]$")
    fig.suptitle((title or "Circles on FFT planes") + note)
    return fig


def _default_circles(e: np.ndarray, ks: Sequence[int] | None) -> tuple[list[int], str]:
    p = e.shape[0]
    if ks is not None:
        ks = [int(k) for k in ks]
        if not ks:
            raise ValueError("no frequencies to draw")
        return ks, ""
    sig = fourier.signal(e, half=True)
    circ = [int(k) for k in fourier.circles(sig, p) if 1 <= k <= fourier.n_freq(p)]
    if circ:
        return circ, ""
    k = int(np.argmax(sig[1 : fourier.n_freq(p) + 1])) + 1
    return [k], " (no circles: strongest frequency shown)"


def plane_frequency(scores: np.ndarray) -> int:
    """The dominant frequency k in 1 .. p//2 of token coordinates on a plane (p, 2):
    the k with the largest DFT power of the two coordinate columns."""
    f = np.fft.rfft(np.asarray(scores, dtype=float), axis=0)
    power = (np.abs(f) ** 2).sum(-1)
    return int(np.argmax(power[1:])) + 1


def circles_pca(
    embedding: np.ndarray,
    n_planes: int | None = None,
    *,
    title: str | None = None,
    ncols: int = 4,
    label_tokens: bool = True,
) -> Figure:
    """The embedding on its top principal-component planes (PC1-PC2, PC3-PC4, ...).

    Args:
        embedding: (p, d).
        n_planes: number of planes (default: the number of circles by the 2x-mean rule, at
            least 1), at most min(p, d) // 2.
        title, ncols, label_tokens: as :func:`circles_fft`.

    Each panel title names the plane, its dominant frequency k (largest DFT power of the
    projected tokens) and that k's Δ.
    """
    e = np.asarray(embedding, dtype=float)
    p, d = e.shape
    if n_planes is None:
        n_planes = max(1, int(fourier.n_circles(fourier.signal(e, half=True), p)))
    n_planes = max(1, min(int(n_planes), min(p, d) // 2))
    planes = fourier.pca_planes(e, n_planes)  # (n, p, 2)
    fig, axes = _grid(n_planes, ncols)
    for i, (ax, xy) in enumerate(zip(axes, planes, strict=True)):
        k = plane_frequency(xy)
        _tokens(ax, xy, label_tokens)
        _square_limits(ax, xy)
        ax.set_title(f"PC{2 * i + 1}–PC{2 * i + 2}: k = {k}, {delta_text(k, p)}")
        ax.set_xlabel(f"PC{2 * i + 1}")
        ax.set_ylabel(f"PC{2 * i + 2}")
    fig.suptitle(title or "Circles on principal-component planes")
    return fig


def planes_over_time(
    embeddings: Mapping[int, np.ndarray],
    ks: Sequence[int],
    steps: Sequence[int],
    *,
    survivors: Iterable[int] | None = None,
    title: str | None = None,
    label_tokens: bool = True,
    basis_step: int | None = None,
) -> Figure:
    """The embedding on the FFT planes of chosen frequencies at chosen steps.

    Args:
        embeddings: step -> (p, d) embedding (e.g. ``Store.embeddings(run_id)``).
        ks: the frequencies, one row each (the paper shows two: one survives, one dies).
        steps: the steps, one column each (the paper: 0, 15,000, 30,000); each must be a key
            of ``embeddings``.
        survivors: frequencies that survive the run (named in the titles), if known.
        title: the figure title.

        basis_step: project every step on the planes of this step's embedding (the paper:
            the final one); default each step's own planes.

    Panel (i, j) projects the embedding of step j on the plane of F[k_i] (its own, or that
    of ``basis_step``). Panels of a
    row share their (square, symmetric) limits, so a growing or decaying circle shows.
    """
    missing = [s for s in steps if s not in embeddings]
    if missing:
        raise KeyError(f"no embedding at step(s) {missing}; have {sorted(embeddings)}")
    alive = None if survivors is None else {int(k) for k in survivors}
    p = np.asarray(embeddings[steps[0]]).shape[0]
    fig = _figure(3.3 * len(steps), 3.3 * len(ks) + 0.5)
    axes = fig.subplots(len(ks), len(steps), squeeze=False)
    for row, k in zip(axes, ks, strict=True):
        basis = None if basis_step is None else np.asarray(embeddings[basis_step], dtype=float)
        xys = [fourier.fft_plane(np.asarray(embeddings[s], dtype=float), k, basis)
               for s in steps]
        lim = max(float(np.nanmax(np.abs(xy))) for xy in xys) * 1.15
        status = "" if alive is None else (" survives" if k in alive else " dies")
        for ax, s, xy in zip(row, steps, xys, strict=True):
            _tokens(ax, xy, label_tokens)
            _square_limits(ax, xy, lim)
            ax.set_title(f"k = {k}{status} ({delta_text(k, p)}), step {s}", fontsize="medium")
            at = "" if basis_step is None else f" (step {basis_step})"
            ax.set_xlabel(f"along Re $F[{k}]${at}")
            ax.set_ylabel(f"along Im $F[{k}]${at}")
    fig.suptitle(title or "Embedding on two frequency planes during training")
    return fig


# -- many runs ----------------------------------------------------------------------------
def n_circles_histogram(n_circles: Sequence[int] | np.ndarray | pd.Series, *,
                        title: str | None = None) -> Figure:
    """Histogram of the number of circles per run, one bar per integer from the smallest to
    the largest count (empty bars included). The title gives the number of runs."""
    n = np.asarray(n_circles, dtype=np.int64)
    if n.size == 0:
        raise ValueError("no runs to draw")
    lo, hi = int(n.min()), int(n.max())
    fig = _figure(5.0, 3.6)
    ax = fig.subplots()
    ax.hist(n, bins=np.arange(lo - 0.5, hi + 1.5), color="tab:blue", edgecolor="white",
            rwidth=0.9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of circles")
    ax.set_ylabel("runs")
    ax.set_title(title or f"Circles per run ({n.size} runs, mean {n.mean():.2f})")
    return fig


def survival_rate_bars(rates: pd.DataFrame, group_by: Sequence[str] | None = None, *,
                       title: str | None = None) -> Figure:
    """Survival rate of every frequency as bars.

    Args:
        rates: from :func:`circle_survival.analysis.survival.survival_rates` (columns k,
            n_runs, rate, and the group columns).
        group_by: group columns: one bar per (group, k), side by side, with a legend (default
            none: ``rates`` must hold one row per k).
        title: the axes title (default: names the number of runs).
    """
    group_by = list(group_by or [])
    if rates.duplicated([*group_by, "k"]).any():
        raise ValueError("rates hold several rows per k; pass the group columns as group_by")
    groups = list(rates.groupby(group_by, sort=True)) if group_by else [((), rates)]
    n_runs = int(sum(g["n_runs"].max() for _, g in groups))
    n_k = rates["k"].nunique()
    fig = _figure(min(16.0, max(5.0, 0.28 * n_k * len(groups) ** 0.5 + 2)), 3.8)
    ax = fig.subplots()
    width = 0.8 / len(groups)
    colors = survivor_colors(len(groups))
    for i, (key, g) in enumerate(groups):
        g = g.sort_values("k")
        x = g["k"].to_numpy(float) + (i - (len(groups) - 1) / 2) * width
        label = None
        if group_by:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{c}={v}" for c, v in zip(group_by, key, strict=True))
            label += f" ({int(g['n_runs'].max())} runs)"
        ax.bar(x, g["rate"].to_numpy(float), width=width, color=colors[i], label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("frequency k")
    ax.set_ylabel("survival rate")
    ax.set_title(title or f"Survival rate per frequency ({n_runs} runs)")
    if group_by:
        ax.legend(fontsize="small", ncol=1 + len(groups) // 8)
    return fig
