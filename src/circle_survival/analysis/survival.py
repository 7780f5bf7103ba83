"""Survival statistics over many runs (experiments 1, 4 and 5 of the paper), read from a store.

Tables (tidy pandas DataFrames):

- the frequency table, one row per (run, frequency k = 1 .. (p-1)//2): run_id, the group
  columns, p, k, initial_signal, grad_1 .. grad_{s_max}, final_signal and survived (the
  columns of :func:`.survival_arrays.frequency_columns`);
- the survival rates, one row per (group, k): n_runs, n_survived, rate and the mean initial
  signal of the group's runs;
- the circles table, one row per run: run_id, the three seeds, the group columns, p, d,
  n_circles, circles (list, strongest first), test_loss, test_acc.

The circle rule (``rule``: a :class:`~circle_survival.fourier.CircleRule` or its text,
"2x-mean", the authors', by default) is :mod:`circle_survival.fourier`'s; every table says
which rule made it (column circle_rule). The tables of runs given as arrays are
:mod:`.survival_arrays`'.

Only the needed records are read from a store: the first rows of each run's signals (steps
0 .. s_max) and its last row. Runs of different p or recording schedules may share a store; they
are read in groups of equal shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fourier import CircleRule, circle_rule
from ..store import Store
from ..training.record_plan import RecordPlan
from ..variants import fourier_size
from .survival_arrays import (
    circles_from_arrays,
    frequency_columns,
    frequency_table_from_arrays,
)

SEED_COLUMNS = ("embedding_seed", "mlp_seed", "split_seed")


# -- reading a store ------------------------------------------------------------------------
def select_runs(store: Store, run_ids: Iterable[str] | None = None) -> list[str]:
    """The run ids to analyse (default every run); an empty store or an unknown id raises
    StoreError."""
    return store.require_runs().run_ids(run_ids)


def check_group_by(store: Store, group_by: Sequence[str]) -> list[str]:
    """Validate group columns against the store's run table (ConfigError naming a bad one)."""
    cols = list(group_by)
    for col in cols:
        if col not in store.runs.columns or col in ("run_id", "k"):
            known = ", ".join(c for c in ("embedding_seed", "mlp_seed", "split_seed", "p", "d",
                                          "weight_decay", "lr") if c in store.runs.columns)
            raise ConfigError(f"unknown group column {col!r} (config columns such as {known})")
    return cols


def group_values(store: Store, run_ids: Sequence[str], group_by: Sequence[str]) -> pd.DataFrame:
    """The group columns of the runs (R rows, in order); list values become tuples."""
    df = store.runs.loc[list(run_ids), list(group_by)].reset_index(drop=True)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(_hashable)
    return df


def _hashable(v):
    if isinstance(v, np.ndarray | list | tuple):
        return tuple(_hashable(x) for x in v)
    return v.item() if isinstance(v, np.generic) else v


def shape_groups(store: Store, run_ids: Sequence[str]) -> list[tuple[list[str], int, list[int]]]:
    """Partition runs into groups whose signal records have one shape.

    Returns (run_ids, n, signal_steps) per group, in order of first appearance; n is the size
    of the Fourier analysis (``variants.fourier_size``: p, or p - 1 for multiplication, whose
    signals are recorded in discrete-log coordinates), the ``p`` the circle rules take.
    """
    cols = ["p", "steps", "signal_every", "signal_dense_until"]
    runs = store.runs.loc[list(run_ids), cols]
    tasks = (store.runs.loc[list(run_ids), "task"] if "task" in store.runs.columns
             else pd.Series("add", index=runs.index))
    out: dict[tuple, list[str]] = {}
    for (rid, p, steps, every, dense), task in zip(runs.itertuples(index=True, name=None),
                                                   tasks, strict=True):
        n = fourier_size(str(task) if isinstance(task, str) else "add", int(p))
        out.setdefault((n, int(steps), int(every), int(dense)), []).append(rid)
    groups = []
    for (n, *_), ids in out.items():
        steps = RecordPlan.of(store.config(ids[0])).signal_steps
        groups.append((ids, n, steps))
    return groups


def read_signals(store: Store, run_ids: Sequence[str], signal_steps: Sequence[int],
                 s_max: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first records (steps <= s_max) and the last record of runs of one shape.

    Returns (early (R, T0, K), early_steps (T0,), final (R, K)); reads nothing else.
    """
    steps = np.asarray(signal_steps)
    n0 = max(1, int((steps <= s_max).sum()))
    n_total = len(steps)
    early = store.stack("signals", run_ids, steps=slice(0, n0))
    final = store.stack("signals", run_ids, steps=slice(n_total - 1, n_total))[:, 0]
    return early, steps[:n0], final


def frequency_table(
    store: Store,
    run_ids: Iterable[str] | None = None,
    *,
    group_by: Sequence[str] = (),
    rule: CircleRule | str = "2x-mean",
    s_max: int = 4,
) -> pd.DataFrame:
    """The frequency table of a store's runs (see the module docstring).

    Args:
        store: an opened store; run_ids: the runs (default all).
        group_by: config columns copied onto each row (e.g. ["embedding_seed"], ["d"]).
        rule: the circle rule; s_max: gradient columns grad_1 .. grad_{s_max}.
    """
    rule = circle_rule(rule)
    ids = select_runs(store, run_ids)
    group_by = check_group_by(store, group_by)
    parts = []
    for part_ids, p, steps in shape_groups(store, ids):
        early, early_steps, final = read_signals(store, part_ids, steps, s_max)
        parts.append(frequency_table_from_arrays(
            early, early_steps, final, p, run_ids=part_ids,
            groups=group_values(store, part_ids, group_by), rule=rule, s_max=s_max))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "run_id" else float)
                             for c in frequency_columns(group_by, s_max)})
    df = pd.concat(parts, ignore_index=True)
    df["p"] = store.runs.loc[df["run_id"], "p"].to_numpy(np.int64)  # the modulus itself
    if len(parts) > 1:  # back to the requested run order
        order = df["run_id"].map({rid: i for i, rid in enumerate(ids)})
        df = df.iloc[np.lexsort((df["k"].to_numpy(), order.to_numpy()))]
        df = df.reset_index(drop=True)
    return df[frequency_columns(group_by, s_max)]


def circles_table(
    store: Store,
    run_ids: Iterable[str] | None = None,
    *,
    group_by: Sequence[str] = (),
    rule: CircleRule | str = "2x-mean",
    frequencies: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per run: run_id, the seeds, the group columns, p, d, n_circles, circles (list,
    strongest first), circle_rule, test_loss, test_acc.

    Under the authors' rule the circles come from the store's run table (no array is read);
    under another from ``frequencies`` (a frequency table of these runs by the same rule) or,
    without it, from the runs' first and final signals.
    """
    rule = circle_rule(rule)
    ids = select_runs(store, run_ids)
    group_by = check_group_by(store, group_by)
    extra = [c for c in group_by if c not in (*SEED_COLUMNS, "p", "d")]
    cols = ["run_id", *SEED_COLUMNS, *extra, "p", "d"]
    df = store.runs.loc[ids, [c for c in cols if c != "run_id"]].reset_index()
    for col in extra:
        if df[col].dtype == object:
            df[col] = df[col].map(_hashable)
    if rule.is_authors:
        n = store.runs.loc[ids, "n_circles"].to_numpy(np.int64)
        circ = [[int(c) for c in v] for v in store.runs.loc[ids, "circles"]]
    elif frequencies is not None:
        n, circ = _circles_from_frequencies(frequencies, ids)
    else:
        n, circ = np.zeros(len(ids), np.int64), [[] for _ in ids]
        pos = {rid: i for i, rid in enumerate(ids)}
        for part_ids, p, steps in shape_groups(store, ids):
            early, _, final = read_signals(store, part_ids, steps, s_max=0)
            pn, pc = circles_from_arrays(final, p, rule, early[:, 0])
            for rid, a, b in zip(part_ids, pn, pc, strict=True):
                n[pos[rid]], circ[pos[rid]] = a, b
    df["n_circles"] = np.asarray(n, dtype=np.int64)
    df["circles"] = circ
    df["circle_rule"] = str(rule)
    df["test_loss"] = store.runs.loc[ids, "test_loss"].to_numpy(float)
    df["test_acc"] = store.runs.loc[ids, "test_acc"].to_numpy(float)
    return df


def _circles_from_frequencies(freq: pd.DataFrame, ids: Sequence[str]
                              ) -> tuple[np.ndarray, list[list[int]]]:
    alive = freq[freq["survived"]].sort_values(["run_id", "final_signal", "k"],
                                               ascending=[True, False, True])
    by_run = {rid: [int(k) for k in g["k"]] for rid, g in alive.groupby("run_id", sort=False)}
    circ = [by_run.get(rid, []) for rid in ids]
    return np.array([len(c) for c in circ], dtype=np.int64), circ


# -- statistics ----------------------------------------------------------------------------
def survival_rates(frequencies: pd.DataFrame, group_by: Sequence[str] = ()) -> pd.DataFrame:
    """Survival rate of every frequency in every group of runs.

    Args:
        frequencies: a frequency table (columns run_id, k, initial_signal, survived and the
            group columns).
        group_by: the group columns (none: all runs form one group).

    Returns:
        One row per (group, k), sorted: the group columns, k, n_runs, n_survived, rate
        (= n_survived / n_runs), initial_signal (mean over the group's runs; for a group with
        one fixed embedding, that embedding's S_k) and circle_rule (where the frequency table
        has it).
    """
    keys = [*group_by, "k"]
    g = frequencies.groupby(keys, sort=True, dropna=False)
    out = g.agg(n_runs=("run_id", "nunique"), n_survived=("survived", "sum"),
                initial_signal=("initial_signal", "mean")).reset_index()
    out["n_survived"] = out["n_survived"].astype(np.int64)
    out["rate"] = out["n_survived"] / out["n_runs"]
    return _with_rule(out[[*keys, "n_runs", "n_survived", "rate", "initial_signal"]],
                      frequencies)


def _with_rule(out: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """``out`` with the circle_rule column of the table it summarises (where it has one)."""
    if "circle_rule" in source.columns and len(source):
        out["circle_rule"] = " + ".join(dict.fromkeys(source["circle_rule"].astype(str)))
    return out


def circle_counts(circles: pd.DataFrame, group_by: Sequence[str] = ()) -> pd.DataFrame:
    """How many runs of each group have n circles: columns group..., n_circles, n_runs."""
    keys = [*group_by, "n_circles"]
    return _with_rule(circles.groupby(keys, sort=True).size().rename("n_runs").reset_index(),
                      circles)


@dataclass(frozen=True)
class Correlation:
    """Pearson correlation between two columns over the (group, k) points."""

    r: float
    p_value: float
    n_points: int


def signal_survival_correlation(rates: pd.DataFrame, x: str = "initial_signal",
                                y: str = "rate") -> Correlation:
    """Pearson r between the initial signal and the survival rate across (group, k) points
    (experiment 5: 10 fixed embeddings x 29 frequencies = 290 points).

    NaN r and p-value with fewer than three points or a constant column.
    """
    a = rates[x].to_numpy(float)
    b = rates[y].to_numpy(float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    if n < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return Correlation(float("nan"), float("nan"), n)
    from scipy import stats

    res = stats.pearsonr(a, b)
    return Correlation(float(res.statistic), float(res.pvalue), n)


@dataclass
class SurvivalAnalysis:
    """Everything :func:`analyze` computes for a set of runs."""

    frequencies: pd.DataFrame
    rates: pd.DataFrame
    circles: pd.DataFrame
    counts: pd.DataFrame
    correlation: Correlation
    group_by: list[str]
    rule: CircleRule


def analyze(
    store: Store,
    run_ids: Iterable[str] | None = None,
    *,
    group_by: Sequence[str] = (),
    rule: CircleRule | str = "2x-mean",
    s_max: int = 4,
) -> SurvivalAnalysis:
    """Frequency table, survival rates per (group, k), circles per run, counts of circles
    per group and the Pearson r of initial signal against survival rate, in one pass over
    the store (each run's first s_max + 1 signal records and its last one are read)."""
    ids, rule = select_runs(store, run_ids), circle_rule(rule)
    freq = frequency_table(store, ids, group_by=group_by, rule=rule, s_max=s_max)
    circ = circles_table(store, ids, group_by=group_by, rule=rule, frequencies=freq)
    rates = survival_rates(freq, group_by)
    return SurvivalAnalysis(
        frequencies=freq, rates=rates, circles=circ,
        counts=circle_counts(circ, list(group_by)),
        correlation=signal_survival_correlation(rates), group_by=list(group_by), rule=rule)
