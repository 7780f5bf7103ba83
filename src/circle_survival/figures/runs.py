"""Figures of single runs (experiment 1); those of survival over many runs live in
:mod:`circle_survival.figures.many_runs` and are importable here too.

Every function takes data (arrays, or the DataFrames of :mod:`circle_survival.analysis.survival`)
and returns a :class:`matplotlib.figure.Figure` on an Agg canvas; no pyplot state is touched.
Save with :func:`circle_survival.figures.io.save_figure` (PNG and SVG).

Conventions: signals are (T, K) over the half spectrum k = 0 .. p//2 (as training records them)
or all p frequencies; embeddings are (p, d); the circle frequencies are k = 1 .. (p-1)//2.
Survivors are drawn in colour, dead frequencies in grey; tokens are coloured by their value,
named by a colour bar. Every function takes ``note`` (the scale and the departures from the
paper), written as a caption under the figure (:func:`circle_survival.figures.base.titled`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import fourier
from .base import (
    DEAD_COLOR,
    LABEL_SIZE,
    SURVIVOR_COLORS,  # noqa: F401 (kept importable here)
    TICK_SIZE,
    captioned,
    set_key,
    survivor_colors,
    titled,
)
from .base import figure as _figure
from .many_runs import n_circles_histogram as n_circles_histogram
from .many_runs import survival_rate_bars as survival_rate_bars

TOKEN_CMAP = "viridis"
#: the label of the colour bar of token colours (``last`` = p - 1)
TOKEN_COLORBAR_LABEL = "colour: token t (0 … {last})"
#: a PCA plane shows a circle when at least this share of its tokens' power (the DFT of
#: x + iy over the tokens, the constant term left out) lies at one frequency: a perfect circle
#: has 1, an ellipse with axes 2:1 0.9, a line or two circles mixed in one plane at most 0.5;
#: the final circles of trained runs on their FFT planes have 0.95 and more, and planes below
#: 0.8 were seen to show no ring
CIRCLE_SHARE = 0.8


def delta_text(k: int, p: int) -> str:
    """'Δ = 12', or 'Δ = –' where k has no inverse mod p."""
    dl = fourier.delta(k, p, strict=False)
    return f"Δ = {dl}" if dl is not None else "Δ = –"


def _grid(n: int, ncols: int, panel: float = 3.4) -> tuple[Figure, list]:
    """A figure with n square panels in rows of ``ncols`` and room for a colour bar on the
    right; unused cells are hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(panel * ncols + 0.9, panel * nrows + 0.4)
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _token_norm(p: int) -> Normalize:
    return Normalize(-0.5, p - 0.5)


def _tokens(ax, xy: np.ndarray, label_tokens: bool = True) -> None:
    """Scatter the p tokens (coloured by token value) and write each token's number."""
    p = len(xy)
    ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(p), cmap=TOKEN_CMAP, norm=_token_norm(p), s=22,
               zorder=3, edgecolors="none")
    if label_tokens:
        size = 7 if p <= 40 else 5.5
        for t, (x, y) in enumerate(xy):
            ax.annotate(str(t), (x, y), xytext=(2, 2), textcoords="offset points",
                        fontsize=size, zorder=4)


def token_colorbar(ax, p: int):
    """A colour bar of the token colours 0 .. p-1, labelled :data:`TOKEN_COLORBAR_LABEL`, right
    of ``ax`` (an inset, so the figure's axes stay its panels). Returns the Colorbar."""
    cax = ax.inset_axes([1.05, 0.0, 0.045, 1.0])
    bar = ax.figure.colorbar(ScalarMappable(_token_norm(p), TOKEN_CMAP), cax=cax)
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    bar.set_label(TOKEN_COLORBAR_LABEL.format(last=p - 1), fontsize=LABEL_SIZE)
    cax.tick_params(labelsize=TICK_SIZE)
    return bar


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
    note: str | None = None,
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
        note: the caption (scale, departures).
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
    return captioned(fig, note)


def circles_fft(
    embedding: np.ndarray,
    ks: Sequence[int] | None = None,
    *,
    title: str | None = None,
    ncols: int = 4,
    label_tokens: bool = True,
    note: str | None = None,
) -> Figure:
    """The embedding projected on the FFT plane (Re F[k], Im F[k]) of each circle k.

    Args:
        embedding: (p, d) (normally the final embedding).
        ks: the frequencies, one panel each (default: the circles of the embedding by the
            2x-mean rule; the strongest frequency k >= 1 when it has none).
        title: the figure title.
        ncols: panels per row.
        label_tokens: write each token's number next to its point.
        note: the caption (scale, departures).

    Each panel title gives k and Δ (neighbours round the circle differ in token by Δ); a colour
    bar names the token colours.
    """
    e = np.asarray(embedding, dtype=float)
    p = e.shape[0]
    ks, default_note = _default_circles(e, ks)
    fig, axes = _grid(len(ks), ncols)
    for ax, k in zip(axes, ks, strict=True):
        xy = fourier.fft_plane(e, k)
        _tokens(ax, xy, label_tokens)
        _square_limits(ax, xy)
        ax.set_title(f"k = {k}, {delta_text(k, p)}")
        ax.set_xlabel(f"along Re $F[{k}]$")
        ax.set_ylabel(f"along Im $F[{k}]$")
    token_colorbar(axes[-1], p)
    set_key(fig, "Each panel: every token t projected on the plane of the Fourier component "
                 "F[k] of the embedding (Re, Im); round a circle, neighbouring tokens differ "
                 "by Δ.")
    return titled(fig, (title or "Circles on FFT planes") + default_note, note)


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


def plane_circle(scores: np.ndarray) -> tuple[int, float]:
    """The circle a plane's tokens (p, 2) lie on: (k, share), k = min(m, p - m) of the signed
    frequency m with the most DFT power of z_t = x_t + i y_t (centred) and share its part of
    the power (the constant term left out). A circle traced at one frequency gives share
    near 1; the plane shows a circle when share >= :data:`CIRCLE_SHARE`."""
    xy = np.asarray(scores, dtype=float)
    z = (xy[:, 0] - xy[:, 0].mean()) + 1j * (xy[:, 1] - xy[:, 1].mean())
    power = np.abs(np.fft.fft(z)) ** 2
    power[0] = 0.0
    total = power.sum()
    if not total > 0:
        return 0, 0.0
    m = int(np.argmax(power))
    return min(m, len(z) - m), float(power[m] / total)


def circles_pca(
    embedding: np.ndarray,
    n_planes: int | None = None,
    *,
    title: str | None = None,
    ncols: int = 4,
    label_tokens: bool = True,
    note: str | None = None,
) -> Figure:
    """The embedding on its top principal-component planes (PC1-PC2, PC3-PC4, ...).

    Args:
        embedding: (p, d).
        n_planes: number of planes (default: the number of circles by the 2x-mean rule, at
            least 1), at most min(p, d) // 2.
        title, ncols, label_tokens, note: as :func:`circles_fft`.

    A panel is titled only where its tokens lie on a circle (:func:`plane_circle`): the title
    names that circle's k and Δ. Planes that mix frequencies (PCA mixes circles of nearly
    equal signal) stay untitled; the caption says so. The axis labels name the components.
    """
    e = np.asarray(embedding, dtype=float)
    p, d = e.shape
    if n_planes is None:
        n_planes = max(1, int(fourier.n_circles(fourier.signal(e, half=True), p)))
    n_planes = max(1, min(int(n_planes), min(p, d) // 2))
    planes = fourier.pca_planes(e, n_planes)  # (n, p, 2)
    fig, axes = _grid(n_planes, ncols)
    n_circles = 0
    for i, (ax, xy) in enumerate(zip(axes, planes, strict=True)):
        k, share = plane_circle(xy)
        _tokens(ax, xy, label_tokens)
        _square_limits(ax, xy)
        if share >= CIRCLE_SHARE:
            ax.set_title(f"k = {k}, {delta_text(k, p)}")
            n_circles += 1
        ax.set_xlabel(f"PC{2 * i + 1}")
        ax.set_ylabel(f"PC{2 * i + 2}")
    token_colorbar(axes[-1], p)
    pct = f"{CIRCLE_SHARE:.0%}"
    set_key(fig, f"A panel's title names the circle its tokens lie on (k, and Δ: neighbours "
                 f"round the circle differ in token by Δ), where at least {pct} of the "
                 "plane's Fourier power is at one frequency"
            + ("." if n_circles == len(axes) else
               "; untitled planes show no single circle (PCA mixes circles of nearly equal "
               "signal)."))
    return titled(fig, title or "Circles on principal-component planes", note)


def planes_over_time(
    embeddings: Mapping[int, np.ndarray],
    ks: Sequence[int],
    steps: Sequence[int],
    *,
    survivors: Iterable[int] | None = None,
    title: str | None = None,
    label_tokens: bool = True,
    basis_step: int | None = None,
    note: str | None = None,
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
        note: the caption (scale, departures).

    Panel (i, j) projects the embedding of step j on the plane of F[k_i] (its own, or that
    of ``basis_step``). Panels of a row share their (square, symmetric) limits, so a growing
    or decaying circle shows; a colour bar names the token colours.
    """
    missing = [s for s in steps if s not in embeddings]
    if missing:
        raise KeyError(f"no embedding at step(s) {missing}; have {sorted(embeddings)}")
    alive = None if survivors is None else {int(k) for k in survivors}
    p = np.asarray(embeddings[steps[0]]).shape[0]
    fig = _figure(3.3 * len(steps) + 0.9, 3.3 * len(ks) + 0.5)
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
    token_colorbar(axes[0, -1], p)
    plane = "that step's own" if basis_step is None else f"step {basis_step:,}'s"
    set_key(fig, f"Row k: the embedding at each step projected on {plane} plane of the "
                 "Fourier component F[k] (Re, Im); a row's panels share their limits, so a "
                 "circle that grows or decays shows"
            + ("." if alive is None else "; 'survives' and 'dies' name k's fate at the end "
               "of the run."))
    return titled(fig, title or "Embedding on two frequency planes during training", note)
