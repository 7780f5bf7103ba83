"""Helpers shared by the experiment modules: the preset bases (a grid of runs per point;
an intervention on the initial embedding), trend verdicts, grid texts and run-table readers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..store import Store
from ..sweep import SweepSpec
from .base import ALPHA, PAPER_STEPS, Scaled, Sizes, base_deviations, steps_deviation

#: how the trend claims treat a miss at the smoke scale (see :func:`trend_holds`)
SMOKE_MISS = "at smoke scale a miss is undecided unless significant the other way"


def fmt_grid(values: Sequence[Any]) -> str:
    """'{16, 32, 64}', with '…' in the middle of long lists."""
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    if len(vals) > 8:
        vals = [*vals[:3], "…", *vals[-2:]]
    return "{" + ", ".join(vals) + "}"


def scale_verdict(holds: bool | None, refutes: bool, against: bool = False) -> bool | None:
    """A claim's verdict where the runs may be too few to refute it: a miss (``holds``
    False) is undecided (None) when ``refutes`` is False (the smoke scale), unless the runs
    go significantly the other way (``against``); anything else is returned as it is."""
    if holds is not None and not holds and not refutes and not against:
        return None
    return holds


def trend_holds(r: float, p_value: float, sign: int, refutes: bool = True) -> bool | None:
    """Whether r has the given sign with p < 0.05: True / False, or None (undecided) when r is
    undefined (no variation). Where the runs cannot refute (``refutes`` False: the smoke
    scale) a miss is undecided too, unless the trend is significant in the opposite
    direction: a few runs can confirm a trend but not refute it."""
    if not math.isfinite(r):
        return None
    return scale_verdict(bool(sign * r > 0 and p_value < ALPHA), refutes,
                         against=bool(sign * r < 0 and p_value < ALPHA))


@dataclass(frozen=True, kw_only=True)
class GridSizes(Sizes):
    """Sizes of a grid preset: ``runs`` per point of the grid."""

    runs: int = 1


class GridPreset(Scaled):
    """A grid of runs per point; its sizes (:class:`GridSizes` or an extension) give the
    steps, the runs per point and extra config fields; departures are listed against the
    authors' sizes (``authors``)."""

    #: the authors' sizes (what departures are measured against)
    authors: GridSizes
    #: what "runs per point" counts, in the deviation text
    per_point = "point"
    #: what more steps could change (None: circles can still die late)
    short_steps_note: str | None = None

    def seeds(self, sizes: GridSizes) -> dict[str, list[int]]:
        """Everything redrawn: run i uses seed i for the embedding, the MLP and the split."""
        ids = list(range(sizes.runs))
        return {"embedding": ids, "mlp": ids, "split": ids}

    def deviations_at(self, sizes: GridSizes) -> list[str]:
        paper = self.authors
        out = steps_deviation(sizes.steps, paper.steps, self.short_steps_note)
        if sizes.runs < paper.runs:
            out.append(f"{sizes.runs} runs per {self.per_point} instead of {paper.runs}")
        return out + base_deviations(sizes.base)

    def _spec(self, sizes: Sizes, suffix: str = "", **kwargs: Any) -> SweepSpec:
        name = f"{self.name}-{sizes.scale}" + (f"-{suffix}" if suffix else "")
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


class InterventionPreset(Scaled):
    """Steps and extra config fields of the sizes, shared by the presets."""

    def deviations_at(self, sizes: Sizes) -> list[str]:
        why = (f"circles can still die later, so survival can differ from "
               f"{PAPER_STEPS:,}-step runs")
        return (steps_deviation(sizes.steps, PAPER_STEPS, why) + base_deviations(sizes.base))

    def spec_name(self, sizes: Sizes) -> str:
        return f"{self.name}-{sizes.scale}"


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
