"""What the presets read from a store's run table: config and summary columns, final
circles, resolved interventions, final signals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..store import Store


def run_columns(store: Store, ids: Sequence[str], cols: Sequence[str]) -> pd.DataFrame:
    """Config/summary columns of the runs, one row per run (index run_id)."""
    return store.runs.loc[list(ids), list(cols)].copy()


def run_circles(store: Store, ids: Sequence[str]) -> list[set[int]]:
    """The circles (2x-mean rule, final signals) of each run, from the run table."""
    return [{int(c) for c in circ} for circ in store.runs.loc[list(ids), "circles"]]


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
