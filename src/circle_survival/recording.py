"""Recording presets for ``train --record NAME``: config fields that store what a use needs.

``explore`` keeps what the interactive explorer (``explore.py``) and the analyses beyond the
paper (Lotka-Volterra fits, survival prediction) read, at low cost: the embedding on about 60
log-spaced steps, the signals at every step up to step 1,000 (initial gradients, ODE windows)
and every 10th step after it, the losses every 10th step. For a 30,000-step run at p = 59,
d = 128 that is about 60 x 59 x 128 float64 embedding values (3.6 MB before compression)
instead of 30,000 x 59 x 128.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError

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
