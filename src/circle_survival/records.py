"""What a batch records: the schedule of each kind of record, the arrays' names, shapes and
dtypes, the metric columns, and the summary the trainer hands to the store.

The trainer fills these records and the store writes and reads them; both take the layout from
here. Step s is the state after s optimiser updates (step 0: the initial state); M is the
number of runs in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import RunConfig, record_steps

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
