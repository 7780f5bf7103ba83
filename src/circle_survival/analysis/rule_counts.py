"""The number of circles of many runs under several circle rules and at several steps, read
from a store in one pass (the circle-rule study of experiment 4).

The rules are :mod:`circle_survival.fourier`'s (:class:`~circle_survival.fourier.CircleRule`
or their text). A count at step T reads the run's signals recorded at T (and at step 0 for
"start:F"), so a run trained to 100,000 steps and recorded at 10,000 and 30,000 gives the
counts of the shorter runs too (training is the same up to T: no schedule depends on the
length).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fourier import CircleRule, circle_rule
from ..store import Store
from .survival import check_group_by, select_runs, shape_groups

COLUMNS = ("run_id", "step", "circle_rule", "n_circles")


def counts_by_rule(store: Store, run_ids: Iterable[str] | None = None, *,
                   rules: Sequence[CircleRule | str] = ("2x-mean",),
                   steps: Sequence[int] | None = None,
                   group_by: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (run, step, rule): run_id, the group columns, step, circle_rule (its text)
    and n_circles.

    Args:
        store: an opened store; run_ids: the runs (default all).
        rules: the circle rules (texts or CircleRules).
        steps: the steps to count at (default: each run's last); every run must have its
            signals recorded there (ConfigError naming the first that has not).
        group_by: config columns copied onto each row (e.g. ["weight_decay"]).
    """
    ids = select_runs(store, run_ids)
    group_by = check_group_by(store, group_by)
    parsed = [circle_rule(r) for r in rules]
    if not parsed:
        raise ConfigError("no circle rule to count by")
    parts = []
    for part_ids, p, recorded in shape_groups(store, ids):
        at = {int(s): i for i, s in enumerate(recorded)}
        wanted = [int(recorded[-1])] if steps is None else [int(s) for s in steps]
        missing = [s for s in wanted if s not in at]
        if missing:
            raise ConfigError(f"run {part_ids[0]} has no signals recorded at step {missing[0]} "
                              f"(recorded at {len(recorded)} steps up to {recorded[-1]})")
        sig = store.stack("signals", part_ids)  # (R, T, K)
        start = sig[:, at[0]] if 0 in at else None
        for step in wanted:
            final = sig[:, at[step]]
            for rule in parsed:
                n = rule.n_circles(final, p, start)
                parts.append(pd.DataFrame({"run_id": part_ids, "step": step,
                                           "circle_rule": str(rule), "n_circles": n}))
    df = pd.concat(parts, ignore_index=True)
    for col in group_by:
        df[col] = store.runs.loc[df["run_id"], col].to_numpy()
    order = {rid: i for i, rid in enumerate(ids)}
    rule_order = {str(r): i for i, r in enumerate(parsed)}
    df = df.iloc[np.lexsort((df["circle_rule"].map(rule_order), df["step"],
                             df["run_id"].map(order)))]
    return df[["run_id", *group_by, "step", "circle_rule", "n_circles"]].reset_index(drop=True)


def mean_counts(counts: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean number of circles per group of ``counts`` rows (e.g. by circle_rule, step and
    weight_decay): the ``by`` columns, n (runs), mean, low, high (95% t interval)."""
    from .stats import mean_interval

    rows = []
    for key, g in counts.groupby(list(by), sort=False):
        m, lo, hi = mean_interval(g["n_circles"].to_numpy(float))
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key, strict=True)), "n": len(g), "mean": m, "low": lo,
                     "high": hi})
    return pd.DataFrame(rows, columns=[*by, "n", "mean", "low", "high"])
