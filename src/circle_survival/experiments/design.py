"""Run designs several presets share: sparse recording, and the authors' runs with a fixed
MLP and a fresh embedding (their "seed-10 run" and "seed-1 run")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..sweep import SweepSpec

#: recording for runs of which only the initial and final states are analysed
SPARSE_RECORDING = {"signal_every": 100, "metrics_every": 100}
#: the authors' "seed-10 run" (experiments 1 and 10) and "seed-1 run" (experiment 11): MLP and
#: split from seed 0, the embedding a fresh torch.normal(0, 1, (p, d)) after seeding
FRESH_EMBEDDING = {"init_scheme": "reference_fresh_embedding"}


def fresh_embedding_seeds(embedding_seed: int) -> dict[str, list[int]]:
    """Sweep seeds of the authors' "fixed MLP" run with this embedding seed."""
    return {"embedding": [int(embedding_seed)], "mlp": [0], "split": [0]}


def seed10_recording(steps: int) -> dict[str, Any]:
    """Recording of the seed-10 run shared by experiments 1 and 10: every step's signal,
    metrics every 10 steps, the embedding at the middle step, parameters every 100 steps."""
    return {"signal_every": 1, "metrics_every": 10, "embedding_steps": (steps // 2,),
            "snapshot_every": 100}


def seed10_spec(name: str, scale: str, base: Mapping[str, Any], embedding_seed: int = 10
                ) -> SweepSpec:
    """The sweep of the authors' seed-10 run (MLP and split seed 0, fresh embedding)."""
    return SweepSpec(name=f"{name}-{scale}", base={**FRESH_EMBEDDING, **base},
                     seeds=fresh_embedding_seeds(embedding_seed))
