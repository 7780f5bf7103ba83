"""What the presets read from a store's run table: config and summary columns, final
circles, resolved interventions, final signals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..fourier import AUTHORS_RULE, CircleRule
from ..store import Store


def run_columns(store: Store, ids: Sequence[str], cols: Sequence[str],
                rule: CircleRule = AUTHORS_RULE) -> pd.DataFrame:
    """Config/summary columns of the runs, one row per run (index run_id); n_circles and
    circles by ``rule`` (the run table's under the authors' rule, else counted again from the
    runs' signals)."""
    out = store.runs.loc[list(ids), list(cols)].copy()
    if not rule.is_authors and {"n_circles", "circles"} & set(cols):
        from ..analysis.survival import circles_table

        table = circles_table(store, list(ids), rule=rule).set_index("run_id")
        for col in {"n_circles", "circles"} & set(cols):
            out[col] = table.loc[out.index, col]
    return out


def run_circles(store: Store, ids: Sequence[str],
                rule: CircleRule = AUTHORS_RULE) -> list[set[int]]:
    """The circles (final signals, by ``rule``) of each run."""
    col = run_columns(store, ids, ["circles"], rule)["circles"]
    return [{int(c) for c in circ} for circ in col]


def resolved(store: Store, rid: str) -> dict[str, Any]:
    """What the run's intervention resolved to (frequencies kept, pair drawn, signals)."""
    return resolved_all(store, [rid])[0]


def resolved_all(store: Store, ids: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`resolved` for many runs, in order."""
    texts = store.runs.loc[list(ids), "intervention_resolved"]
    return [json.loads(t) if isinstance(t, str) and t else {} for t in texts]


def last_signal(store: Store, run_id: str) -> np.ndarray:
    """The final recorded signal vector (p//2 + 1,) of a run."""
    return store.signals(run_id)[1][-1]
