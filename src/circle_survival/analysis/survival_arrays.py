"""Survival from signal arrays: the survival rules, the step-s initial gradients, and the
frequency and circle tables of R runs of one modulus (:mod:`.survival` reads them from a
store).

The circle rule (``rule``: a :class:`~circle_survival.fourier.CircleRule` or its text, e.g.
"2x-mean", the authors', or "absolute:10") decides survival from the final signals (and, for
"start:F", the signals at step 0); the rules are defined in :mod:`circle_survival.fourier`.

The frequency table has one row per (run, frequency k = 1 .. (p-1)//2): run_id, the group
columns, p, k, initial_signal (S_k at step 0), grad_1 .. grad_{s_max} (the step-s initial
gradient (S_k(s) - S_k(s-1)) / S_k(0)), final_signal (S_k at the last recorded step),
survived, and circle_rule (the rule's text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import fourier
from ..fourier import CircleRule, circle_rule
from .gradient import initial_gradients


def grad_columns(s_max: int) -> list[str]:
    """["grad_1", ..., "grad_{s_max}"]."""
    return [f"grad_{s}" for s in range(1, s_max + 1)]


def frequency_columns(group_by: Sequence[str] = (), s_max: int = 4) -> list[str]:
    """Columns of the frequency table, in order."""
    groups = [g for g in group_by if g not in ("run_id", "p", "k")]
    return ["run_id", *groups, "p", "k", "initial_signal", *grad_columns(s_max),
            "final_signal", "survived", "circle_rule"]


def survived(final: np.ndarray, p: int, rule: CircleRule | str = "2x-mean",
             start: np.ndarray | None = None) -> np.ndarray:
    """Which frequencies survive: final signals (..., p//2 + 1) or (..., p) -> bool
    (..., p//2 + 1) indexed by k (``start``: the signals at step 0, for "start:F")."""
    return circle_rule(rule).survival(final, p, start)


# -- gradients ------------------------------------------------------------------------------
def early_gradients(early: np.ndarray, early_steps: np.ndarray, s_max: int = 4) -> np.ndarray:
    """Step-s initial gradients from the first records of each run.

    Args:
        early: (R, T0, K) signals at ``early_steps``; early_steps: (T0,), must contain 0.
        s_max: gradients for s = 1 .. s_max.

    Returns:
        (R, s_max, K): entry [r, s-1, k] = (S_k(s) - S_k(s-1)) / S_k(0); NaN for an s whose
        steps s-1 and s are not both recorded (e.g. ``signal_every`` > 1).
    """
    early = np.asarray(early, dtype=float)
    steps = [int(s) for s in np.asarray(early_steps)]
    if 0 not in steps:
        raise ValueError("the early records must include step 0")
    index = {s: i for i, s in enumerate(steps)}
    if all(s in index for s in range(s_max + 1)):
        return initial_gradients(early, np.asarray(steps), s_max)
    out = np.full((early.shape[0], s_max, early.shape[2]), np.nan)
    s0 = early[:, index[0]]
    for s in range(1, s_max + 1):
        if s in index and s - 1 in index:
            out[:, s - 1] = (early[:, index[s]] - early[:, index[s - 1]]) / s0
    return out


# -- tables from arrays ---------------------------------------------------------------------
def frequency_table_from_arrays(
    early: np.ndarray,
    early_steps: np.ndarray,
    final: np.ndarray,
    p: int,
    *,
    run_ids: Sequence[str] | None = None,
    groups: pd.DataFrame | None = None,
    rule: CircleRule | str = "2x-mean",
    s_max: int = 4,
) -> pd.DataFrame:
    """The frequency table of R runs of one modulus from arrays.

    Args:
        early: (R, T0, K) signals at the first recorded steps (K = p//2 + 1 or p).
        early_steps: (T0,) their steps (0 first).
        final: (R, K) the final signals (they decide survival).
        p: the modulus.
        run_ids: (R,) names of the runs (default "0", "1", ...).
        groups: optional DataFrame of R rows: group columns copied onto every row of a run.
        rule: the circle rule (see the module docstring).
        s_max: gradient columns grad_1 .. grad_{s_max}.

    Returns:
        One row per (run, k) for k = 1 .. (p-1)//2, runs in the given order, k ascending;
        columns as :func:`frequency_columns`.
    """
    rule = circle_rule(rule)
    early = fourier.half_signal(np.asarray(early, dtype=float), p)
    final = fourier.half_signal(np.asarray(final, dtype=float), p)
    n_runs = early.shape[0]
    if final.shape[0] != n_runs:
        raise ValueError(f"early has {n_runs} runs but final has {final.shape[0]}")
    ks = np.arange(1, fourier.n_freq(p) + 1)
    grads = early_gradients(early, early_steps, s_max)
    alive = rule.survival(final, p, early[:, 0])
    ids = [str(i) for i in range(n_runs)] if run_ids is None else list(run_ids)
    table: dict[str, np.ndarray | list] = {"run_id": np.repeat(np.asarray(ids, dtype=object),
                                                               len(ks))}
    group_names: list[str] = []
    if groups is not None:
        for col in groups.columns:
            if col in ("run_id", "p", "k"):
                continue
            group_names.append(col)
            table[col] = np.repeat(groups[col].to_numpy(dtype=object), len(ks))
    table["p"] = np.full(n_runs * len(ks), p)
    table["k"] = np.tile(ks, n_runs)
    table["initial_signal"] = early[:, 0, ks].ravel()
    for s, col in enumerate(grad_columns(s_max), start=1):
        table[col] = grads[:, s - 1, ks].ravel()
    table["final_signal"] = final[:, ks].ravel()
    table["survived"] = alive[:, ks].ravel()
    table["circle_rule"] = np.full(n_runs * len(ks), str(rule), dtype=object)
    df = pd.DataFrame(table)
    for col in group_names:  # restore numeric dtypes lost to the object arrays
        df[col] = df[col].infer_objects()
    return df


def circles_from_arrays(final: np.ndarray, p: int, rule: CircleRule | str = "2x-mean",
                        start: np.ndarray | None = None) -> tuple[np.ndarray, list[list[int]]]:
    """Circles of each run from its final signals (R, K) (and, for "start:F", its signals at
    step 0, (R, K)): (n_circles (R,), circles, strongest first)."""
    rule = circle_rule(rule)
    final = np.atleast_2d(np.asarray(final, dtype=float))
    start = None if start is None else np.atleast_2d(np.asarray(start, dtype=float))
    return rule.n_circles(final, p, start), rule.circles(final, p, start)
