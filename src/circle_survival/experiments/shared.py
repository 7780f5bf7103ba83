"""Helpers shared by the experiment modules: the preset bases (a grid of runs per point;
an intervention on the initial embedding), trend verdicts, grid texts and run-table readers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..store import Store
from ..sweep import SweepSpec
from .base import (
    ALPHA,
    PAPER_STEPS,
    SmokeScaled,
    base_deviations,
    steps_deviation,
)

#: how the trend claims treat a miss at the smoke scale (see :func:`trend_holds`)
SMOKE_MISS = "at smoke scale a miss is undecided unless significant the other way"


def fmt_grid(values: Sequence[Any]) -> str:
    """'{16, 32, 64}', with '…' in the middle of long lists."""
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    if len(vals) > 8:
        vals = [*vals[:3], "…", *vals[-2:]]
    return "{" + ", ".join(vals) + "}"


def trend_holds(r: float, p_value: float, sign: int, scale: str = "paper") -> bool | None:
    """Whether r has the given sign with p < 0.05: True / False, or None (undecided) when r is
    undefined (no variation). At the smoke scale a miss is undecided too, unless the trend is
    significant in the opposite direction: a few runs can confirm a trend but not refute it."""
    if not math.isfinite(r):
        return None
    if sign * r > 0 and p_value < ALPHA:
        return True
    if scale == "smoke" and not (sign * r < 0 and p_value < ALPHA):
        return None
    return False


class GridPreset(SmokeScaled):
    """Sizes shared by the presets: steps and runs per point at each scale, and extra config
    fields for the smoke scale."""

    paper_runs = 1
    #: what "runs per point" counts, in the deviation text
    per_point = "point"
    #: what more steps could change (None: circles can still die late)
    short_steps_note: str | None = None

    def __init__(self, *, smoke_steps: int, smoke_runs: int = 1,
                 smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_base=smoke_base)
        self.smoke_runs = int(smoke_runs)

    def runs(self, scale: str) -> int:
        """Runs per point of the grid."""
        self.check_scale(scale)
        return self.smoke_runs if scale == "smoke" else self.paper_runs

    def seeds(self, scale: str) -> dict[str, list[int]]:
        """Everything redrawn: run i uses seed i for the embedding, the MLP and the split."""
        ids = list(range(self.runs(scale)))
        return {"embedding": ids, "mlp": ids, "split": ids}

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        if scale == "paper":
            return []
        out = steps_deviation(self.smoke_steps, self.paper_steps, self.short_steps_note)
        if self.smoke_runs < self.paper_runs:
            out.append(f"{self.smoke_runs} runs per {self.per_point} instead of "
                       f"{self.paper_runs}")
        return out + base_deviations(self.smoke_base)

    def _spec(self, scale: str, suffix: str = "", **kwargs: Any) -> SweepSpec:
        name = f"{self.name}-{scale}" + (f"-{suffix}" if suffix else "")
        return SweepSpec(name=name, **kwargs)


def per_x_text(name: str, xs: Sequence[Any], values: Sequence[float], fmt: str = ".2f") -> str:
    """'d=16: 2.10, d=17: 2.30, …, d=128: 5.00' (the first three and last two of long
    lists)."""
    items = [f"{name}={x}: {v:{fmt}}" for x, v in zip(xs, values, strict=True)]
    if len(items) > 8:
        items = [*items[:3], "…", *items[-2:]]
    return ", ".join(items)


def grid_deviation(what: str, smoke: Sequence[Any], paper: Sequence[Any]) -> list[str]:
    if tuple(smoke) == tuple(paper):
        return []
    return [f"{what} ∈ {fmt_grid(smoke)} instead of {fmt_grid(paper)}"]


def run_columns(store: Store, ids: Sequence[str], cols: Sequence[str]) -> pd.DataFrame:
    """Config/summary columns of the runs, one row per run (index run_id)."""
    return store.runs.loc[list(ids), list(cols)].copy()


def fmt_values(values: Sequence[float]) -> str:
    """'{0.85, 1, 1.15}', shortened in the middle for long lists."""
    vals = [f"{v:.3g}" for v in values]
    if len(vals) > 6:
        vals = [*vals[:2], "…", *vals[-2:]]
    return "{" + ", ".join(vals) + "}"


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


class InterventionPreset(SmokeScaled):
    """Steps and extra config fields at the smoke scale, shared by the presets."""

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        if scale == "paper":
            return []
        why = (f"circles can still die later, so survival can differ from "
               f"{self.paper_steps:,}-step runs")
        return (steps_deviation(self.smoke_steps, self.paper_steps, why)
                + base_deviations(self.smoke_base))

    def spec_name(self, scale: str) -> str:
        return f"{self.name}-{scale}"


def override_text(overrides: Mapping[str, Any]) -> str:
    """'p=11, d=8' for the config fields a reduced preset changes."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items())


def single_steps_deviation(steps: int, what: str) -> str:
    return (f"{steps:,} steps instead of {PAPER_STEPS:,}: {what} judged at step {steps:,} "
            "(circles can still die later, so counts differ from full-length runs)")


def count_text(counts) -> str:
    """'10' when every count is 10, else '9-11'."""
    c = np.asarray(counts, dtype=int)
    return f"{c.min()}" if c.min() == c.max() else f"{c.min()}-{c.max()}"


def last_signal(store: Store, run_id: str) -> np.ndarray:
    """The final recorded signal vector (p//2 + 1,) of a run."""
    return store.signals(run_id)[1][-1]
