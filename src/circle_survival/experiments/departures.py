"""How a scale departs from the paper's setup: shorter runs, smaller grids, changed config
fields (shown on figures and in reports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ..config import RunConfig
from .texts import fmt_grid

#: the paper's run length
PAPER_STEPS = RunConfig().steps
#: config fields that are not part of the paper's setup (recording, placement)
NOT_SETUP = frozenset({"device", "signal_every", "signal_dense_until", "metrics_every",
                       "embedding_every", "embedding_steps", "snapshot_every",
                       "snapshot_steps"})


def base_deviations(base: Mapping[str, Any]) -> list[str]:
    """How config fields in ``base`` depart from the paper's defaults (recording and device
    fields are not departures)."""
    defaults = {f.name: f.default for f in fields(RunConfig)}
    out = []
    for key, value in base.items():
        if key in NOT_SETUP or key not in defaults:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if value != defaults[key]:
            out.append(f"{key} = {value} instead of {defaults[key]}")
    return out


def steps_deviation(steps: int, paper_steps: int, why: str | None = None) -> list[str]:
    """The note for shortened runs; ``why`` says what more steps could change (default:
    circles can still die late)."""
    if steps >= paper_steps:
        return []
    why = why or (f"circles can still die later, so counts can be higher than after "
                  f"{paper_steps:,} steps")
    return [f"{steps:,} steps instead of {paper_steps:,} ({why})"]


def single_steps_deviation(steps: int, what: str) -> str:
    """The note for a shortened run judged at its last step (``what``: what is judged)."""
    return (f"{steps:,} steps instead of {PAPER_STEPS:,}: {what} judged at step {steps:,} "
            "(circles can still die later, so counts differ from full-length runs)")


def grid_deviation(what: str, smoke: Sequence[Any], paper: Sequence[Any]) -> list[str]:
    """'d ∈ {16, 32} instead of {16, …, 128}' where the grids differ."""
    if tuple(smoke) == tuple(paper):
        return []
    return [f"{what} ∈ {fmt_grid(smoke)} instead of {fmt_grid(paper)}"]
