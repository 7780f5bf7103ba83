"""What a notebook asks of a store: a run's model, and the signals and metrics of many runs
as one long ("tidy") DataFrame.

    store.model(run_id, step=None)         # ModularAdditionMLP (circle_survival.model)
    store.signals_frame(run_ids, steps)    # run_id, step, k, signal
    store.metrics_frame(run_ids)           # run_id, step, metric, value

Join either frame with ``store.runs`` (indexed by run_id) for the config columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import StoreError

if TYPE_CHECKING:
    from .model import ModularAdditionMLP
    from .store import Store


def run_model(store: Store, run_id: str, step: int | None = None) -> ModularAdditionMLP:
    """The run's model with its final weights (``step`` None or the run's last step) or the
    parameters of its snapshot at ``step``; StoreError naming the stored steps otherwise."""
    from .model import ModularAdditionMLP

    cfg = store.config(run_id)
    if step is None or step == cfg.steps:
        state = store.weights(run_id)
    else:
        stored = store.snapshot_steps(run_id)
        if step not in stored:
            have = ", ".join(map(str, stored)) or "none"
            raise StoreError(f"run {run_id!r} has no parameters at step {step} (snapshots: "
                             f"{have}; final: {cfg.steps})")
        state = store.snapshot(run_id, step)
    return ModularAdditionMLP.from_config(cfg, state)


def _ids(store: Store, run_ids: Iterable[str] | None) -> list[str]:
    ids = [str(r) for r in (store.runs.index if run_ids is None else run_ids)]
    missing = [r for r in ids if r not in store.runs.index]
    if missing:
        raise StoreError(f"no run {missing[0]!r} in {store.path}")
    return ids


def signals_frame(store: Store, run_ids: Iterable[str] | None = None,
                  steps: Sequence[int] | None = None) -> pd.DataFrame:
    """S_k of many runs, one row per (run, recorded step, k): columns run_id, step, k,
    signal (k = 0 .. p//2). ``steps``: keep only these recorded steps (default: all)."""
    frames = []
    for rid in _ids(store, run_ids):
        t, sig = store.signals(rid)
        if steps is not None:
            keep = np.isin(t, np.asarray(steps))
            t, sig = t[keep], sig[keep]
        n_t, n_k = sig.shape
        frames.append(pd.DataFrame({
            "run_id": rid, "step": np.repeat(t, n_k), "k": np.tile(np.arange(n_k), n_t),
            "signal": sig.reshape(-1)}))
    if not frames:
        return pd.DataFrame({"run_id": [], "step": [], "k": [], "signal": []})
    return pd.concat(frames, ignore_index=True)


def metrics_frame(store: Store, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Losses and accuracies of many runs, one row per (run, recorded step, metric): columns
    run_id, step, metric (train_loss, train_acc, test_loss, test_acc), value."""
    frames = []
    for rid in _ids(store, run_ids):
        wide = store.metrics(rid)
        long = wide.melt(id_vars="step", var_name="metric", value_name="value")
        long.insert(0, "run_id", rid)
        frames.append(long)
    if not frames:
        return pd.DataFrame({"run_id": [], "step": [], "metric": [], "value": []})
    return pd.concat(frames, ignore_index=True)
