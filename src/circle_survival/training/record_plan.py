"""What a batch records: the schedule of each kind of record, the arrays' names, shapes and
dtypes, the metric columns, and the summary the trainer hands to the store.

Recording presets (``train --record NAME``, :func:`recording_preset`) are config fields that
record what a use needs. ``explore`` keeps what the interactive explorer
(:mod:`circle_survival.report.explorer`) and the analyses beyond the paper (Lotka-Volterra
fits, survival prediction) read, at low cost: the embedding on about 60
log-spaced steps, the signals at every step up to step 1,000 (initial gradients, ODE windows)
and every 10th step after it, the losses every 10th step. For a 30,000-step run at p = 59,
d = 128 that is about 60 x 59 x 128 float64 embedding values (3.6 MB before compression)
instead of 30,000 x 59 x 128.

The trainer fills these records and the store writes and reads them; both take the layout from
here. Step s is the state after s optimiser updates (step 0: the initial state); M is the
number of runs in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RunConfig, record_steps
from ..errors import ConfigError

METRIC_NAMES = ("train_loss", "train_acc", "test_loss", "test_acc")


@dataclass(frozen=True)
class RecordPlan:
    """The steps at which each kind of record is taken (sorted, within 0 .. steps)."""

    signal_steps: list[int]
    metric_steps: list[int]
    embedding_steps: list[int]
    snapshot_steps: list[int]

    @classmethod
    def of(cls, cfg: RunConfig) -> RecordPlan:
        return cls(
            record_steps(cfg.signal_every, tuple(range(cfg.signal_dense_until + 1)), cfg.steps,
                         always_ends=True),
            record_steps(cfg.metrics_every, (), cfg.steps, always_ends=True),
            record_steps(cfg.embedding_every, cfg.embedding_steps, cfg.steps, always_ends=False),
            record_steps(cfg.snapshot_every, cfg.snapshot_steps, cfg.steps, always_ends=False),
        )


def array_shapes(configs: Sequence[RunConfig]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shape and dtype of every array a batch records (snapshots excluded)."""
    cfg = configs[0]
    m, plan = len(configs), RecordPlan.of(cfg)
    shapes = {
        "signals": ((m, len(plan.signal_steps), cfg.n_freq), cfg.dtype),
        "signal_steps": ((len(plan.signal_steps),), "int64"),
        "metrics": ((m, len(plan.metric_steps), len(METRIC_NAMES)), cfg.dtype),
        "metric_steps": ((len(plan.metric_steps),), "int64"),
        "embedding_init": ((m, cfg.p, cfg.d), cfg.dtype),
        "embedding_final": ((m, cfg.p, cfg.d), cfg.dtype),
        "train_idx": ((m, cfg.n_train), "int32"),
    }
    if plan.embedding_steps:
        shapes["embeddings"] = ((m, len(plan.embedding_steps), cfg.p, cfg.d), cfg.dtype)
        shapes["embedding_steps"] = ((len(plan.embedding_steps),), "int64")
    return shapes


@dataclass
class BatchResult:
    """Summary of a trained batch: one dict per run, in batch order, plus timing."""

    rows: list[dict[str, Any]]
    seconds: float
    device: str
    resolved_interventions: list[dict] = field(default_factory=list)


PRESETS = ("explore",)
#: embeddings stored by the explore preset (before removing duplicate steps)
EXPLORE_EMBEDDINGS = 60


def log_steps(steps: int, n: int = EXPLORE_EMBEDDINGS) -> tuple[int, ...]:
    """About ``n`` log-spaced steps in 1 .. steps (rounded, duplicates removed; 0 and the
    final step are stored anyway)."""
    if steps < 1 or n < 1:
        raise ValueError(f"steps and n must be >= 1, got {steps}, {n}")
    grid = np.unique(np.round(np.geomspace(1, steps, n)).astype(int))
    return tuple(int(s) for s in grid)


def recording_preset(name: str, steps: int) -> dict[str, Any]:
    """Config fields of the recording preset ``name`` for runs of ``steps`` steps."""
    if name != "explore":
        raise ConfigError(f"unknown recording preset {name!r} (choose from "
                          f"{', '.join(PRESETS)})")
    return {"embedding_steps": log_steps(steps), "signal_every": 10 if steps > 1000 else 1,
            "signal_dense_until": min(1000, steps) if steps > 1000 else 0,
            "metrics_every": 10}
