"""Figures from a store, for a notebook: each takes a store (or its path) and a run id and
returns a matplotlib Figure (drawn by :mod:`circle_survival.figures`).

    import circle_survival as cs
    store = cs.load("runs")
    rid = store.runs.index[0]
    cs.plot.signal_evolution(store, rid)      # S_k over training, survivors coloured
    cs.plot.circles_fft(store, rid)           # final circles on the planes of F[k]
    cs.plot.circles_pca(store, rid)           # final circles on PCA planes
    cs.plot.planes(store, rid, ks=(2, 3))     # the embedding over time on two planes
    cs.plot.n_circles(store)                  # histogram of circles per run
    cs.plot.survival_rate(store, group_by=["d"])   # survival rate per frequency
    cs.plot.loss_curves(store, [rid])         # train and test loss (every run: median)

``rule`` is the circle rule (a :class:`~circle_survival.fourier.CircleRule` or its text:
"2x-mean", the authors', by default; "absolute:10", "max:0.1", "start:1", "half-2x-mean"),
named in every figure's title. ``save_figure(fig, stem)`` of
:mod:`circle_survival.figures.io` writes PNG and SVG. The ``plot`` command draws the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError, StoreError
from .figures.base import runs_text
from .fourier import CircleRule, circle_rule
from .store import Store, load

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["circles_fft", "circles_pca", "loss_curves", "n_circles", "planes",
           "signal_evolution",
           "survival_rate"]


def _open(store: Store | str | Path) -> Store:
    return (store if isinstance(store, Store) else load(store)).require_runs()


def _run(s: Store, run_id: str | None) -> str:
    if run_id is None:
        if len(s.runs) == 1:
            return str(s.runs.index[0])
        raise ConfigError(f"{s.path} holds {len(s.runs)} runs; choose one (e.g. "
                          f"{s.runs.index[0]})")
    if run_id not in s.runs.index:
        raise StoreError(f"no run {run_id!r} in {s.path}")
    return run_id


def _check_ks(ks: Sequence[int] | None, p: int) -> list[int] | None:
    from .fourier import n_freq

    if ks is None:
        return None
    bad = [q for q in ks if not 1 <= q <= n_freq(p)]
    if bad:
        raise ConfigError(f"--k: frequency {bad[0]} is outside 1 .. {n_freq(p)} for p={p}")
    return [int(q) for q in ks]


def check_plane_ks(ks: Sequence[int] | None) -> None:
    """The planes figure takes two frequencies (or None: its default pair)."""
    if ks is not None and len(ks) != 2:
        raise ConfigError(f"--k: the planes figure takes two frequencies (e.g. --k 5,17), got "
                          f"{len(ks)}: {', '.join(map(str, ks))}")


def _survivors(sig_final: np.ndarray, p: int, rule: CircleRule,
               sig_start: np.ndarray | None = None) -> list[int]:
    """The circles k in 1 .. (p-1)//2 of final signals (K,), strongest first."""
    from .fourier import n_freq

    return [int(q) for q in rule.circles(sig_final, p, sig_start) if 1 <= q <= n_freq(p)]


def _fourier_size(s: Store, run_id: str) -> int:
    """The p the Fourier analysis of a run takes (p - 1 for multiplication)."""
    from .variants import fourier_size

    cfg = s.config(run_id)
    return fourier_size(cfg.task, cfg.p)


def _embeddings(s: Store, run_id: str) -> dict[int, np.ndarray]:
    """The run's stored embeddings (step -> (n, d)) in the rows the Fourier analysis reads
    (a multiplication run's in discrete-log order)."""
    from .variants import fourier_rows, relabel

    cfg = s.config(run_id)
    rows = fourier_rows(cfg.task, cfg.p)
    return {t: relabel(e, rows) for t, e in s.embeddings(run_id).items()}


def _run_circles(s: Store, run_id: str, rule: CircleRule) -> list[int]:
    """The circles of one run by ``rule``, strongest first, from its first and last signals."""
    sig = s.signals(run_id)[1]
    return _survivors(sig[-1], _fourier_size(s, run_id), rule, sig[0])


def signal_evolution(store: Store | str | Path, run_id: str | None = None, *,
                     rule: CircleRule | str = "2x-mean") -> Figure:
    """S_k of one run over training (log step axis), survivors coloured, the rest grey."""
    from .figures import runs as rf

    rule, s = circle_rule(rule), _open(store)
    rid = _run(s, run_id)
    p = _fourier_size(s, rid)
    steps, sig = s.signals(rid)
    return rf.signal_evolution(steps, sig, p, _survivors(sig[-1], p, rule, sig[0]),
                               title=f"Signal evolution of {rid} (circles: {rule})")


def circles_fft(store: Store | str | Path, run_id: str | None = None,
                ks: Sequence[int] | None = None, *,
                rule: CircleRule | str = "2x-mean") -> Figure:
    """The final embedding on the planes of Re F[k], Im F[k] (default: its circles by
    ``rule``; the strongest frequency when it has none)."""
    from .figures import runs as rf

    rule, s = circle_rule(rule), _open(store)
    rid = _run(s, run_id)
    cfg = s.config(rid)
    ks = _check_ks(ks, _fourier_size(s, rid))
    final = _embeddings(s, rid)[cfg.steps]
    if ks is None and (circ := _run_circles(s, rid, rule)):
        ks = circ
    return rf.circles_fft(final, ks, title=f"Final circles of {rid} on FFT planes "
                                           f"(circles: {rule})")


def circles_pca(store: Store | str | Path, run_id: str | None = None, *,
                rule: CircleRule | str = "2x-mean") -> Figure:
    """The final embedding on its top principal components, taken in pairs (as many planes
    as it has circles by ``rule``, at least one)."""
    from .figures import runs as rf

    rule, s = circle_rule(rule), _open(store)
    rid = _run(s, run_id)
    final = _embeddings(s, rid)[s.config(rid).steps]
    n = max(1, len(_run_circles(s, rid, rule)))
    return rf.circles_pca(final, n, title=f"Final circles of {rid} on PCA planes "
                                          f"({n} planes: the circles by {rule})")


def planes(store: Store | str | Path, run_id: str | None = None,
           ks: Sequence[int] | None = None, steps: Sequence[int] | None = None, *,
           rule: CircleRule | str = "2x-mean") -> Figure:
    """The embedding at ``steps`` (default: 0, the middle and the last stored) projected on
    the planes of the final embedding's F[k] for two ``ks`` (default: the strongest
    survivor and the strongest dead frequency, by initial signal)."""
    from .figures import runs as rf
    from .fourier import signal

    rule = circle_rule(rule)
    check_plane_ks(ks)
    s = _open(store)
    rid = _run(s, run_id)
    cfg, p = s.config(rid), _fourier_size(s, rid)
    ks = _check_ks(ks, p)
    embeddings = _embeddings(s, rid)
    stored = sorted(embeddings)
    if steps is None:
        steps = stored if len(stored) <= 3 else [0, min(stored, key=lambda t: abs(
            t - cfg.steps / 2)), cfg.steps]
    missing = [t for t in steps if t not in embeddings]
    if missing:
        raise ConfigError(f"run {rid} has no stored embedding at step(s) "
                          f"{', '.join(map(str, missing))} (stored: "
                          f"{', '.join(map(str, stored))})")
    alive = _survivors(signal(embeddings[cfg.steps], half=True), p, rule,
                       signal(embeddings[0], half=True))
    if ks is None:
        ks = _default_plane_ks(signal(embeddings[0], half=True), alive, p)
    return rf.planes_over_time(embeddings, ks, list(steps), survivors=alive,
                               title=f"Embedding of {rid} on the planes of k = "
                                     f"{', '.join(map(str, ks))} (circles: {rule})")


def _default_plane_ks(sig0: np.ndarray, alive: list[int], p: int) -> list[int]:
    """The strongest survivor (by initial signal) and the strongest dead frequency."""
    from .fourier import n_freq

    order = sorted(range(1, n_freq(p) + 1), key=lambda q: -sig0[q])
    live = [q for q in order if q in alive]
    dead = [q for q in order if q not in alive]
    return (live[:1] + dead[:1]) if live and dead else order[:2]


def n_circles(store: Store | str | Path, run_ids: Sequence[str] | None = None, *,
              rule: CircleRule | str = "2x-mean") -> Figure:
    """Histogram of the number of circles per run (all runs, or ``run_ids``)."""
    from .analysis.survival import circles_table
    from .figures import runs as rf

    rule, s = circle_rule(rule), _open(store)
    circ = circles_table(s, run_ids, rule=rule)
    n = circ["n_circles"].to_numpy()
    return rf.n_circles_histogram(
        n, title=f"Circles per run ({runs_text(len(n))}, mean {n.mean():.2f}; rule "
                 f"{rule})")


def survival_rate(store: Store | str | Path, run_ids: Sequence[str] | None = None, *,
                  group_by: Sequence[str] = (), rule: CircleRule | str = "2x-mean"
                  ) -> Figure:
    """Survival rate of every frequency over the runs (one bar series per group)."""
    from .analysis.survival import check_group_by, frequency_table, survival_rates
    from .figures import runs as rf

    rule, s = circle_rule(rule), _open(store)
    group_by = check_group_by(s, list(group_by))
    freq = frequency_table(s, run_ids, group_by=group_by, rule=rule)
    rates = survival_rates(freq, group_by)
    return rf.survival_rate_bars(
        rates, group_by, title=f"Survival rate per frequency "
                               f"({runs_text(freq['run_id'].nunique())}; rule "
                               f"{rule})")


def loss_curves(store: Store | str | Path, run_ids: Sequence[str] | None = None) -> Figure:
    """Train and test loss against step (log scales) of one run, or of many (each faint,
    the median bold; default every run)."""
    from .figures.losses import store_loss_curves

    return store_loss_curves(_open(store), run_ids)
