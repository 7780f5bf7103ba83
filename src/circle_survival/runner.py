"""Train runs into a store: group them into batches, skip those already complete, commit each
batch atomically."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import RunConfig, resolve_device
from .errors import StoreError
from .store import (
    CHECKPOINT,
    BatchWriter,
    batch_id_for,
    completed_run_ids,
    init_store,
    is_store,
    load,
    tmp_abandoned,
)
from .trainer import Trainer

#: Default cap on models per batch on the CPU (records and optimiser state grow with it).
CPU_MAX_BATCH = 64


def default_max_batch(cfg: RunConfig) -> int:
    """Models per batch: a fixed cap on the CPU; on CUDA, from free device memory."""
    device = resolve_device(cfg.device)
    if not device.startswith("cuda"):
        return CPU_MAX_BATCH
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    itemsize = 8 if cfg.dtype == "float64" else 4
    per_model = itemsize * (cfg.n_train * (3 * sum(cfg.hidden) + 4 * cfg.p)
                            + 8 * cfg.p * cfg.d + 4 * cfg.n_freq * 1024)
    return max(1, min(4096, int(0.5 * free // per_model)))


def plan_batches(configs: Sequence[RunConfig], max_batch: int | None = None
                 ) -> list[list[RunConfig]]:
    """Group configs by batch key (order of first appearance kept) into batches of at most
    ``max_batch`` models (default: :func:`default_max_batch`)."""
    groups: dict[str, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(c.batch_key(), []).append(c)
    batches = []
    for group in groups.values():
        cap = max_batch or default_max_batch(group[0])
        batches += [group[i:i + cap] for i in range(0, len(group), cap)]
    return batches


def check_same_base(store: str | Path, cfg: RunConfig) -> None:
    """Refuse a store whose runs differ from ``cfg`` in anything but the seeds."""
    if not is_store(store):
        return
    runs = load(store).runs
    if runs.empty:
        return
    from .store import config_from_row

    other = config_from_row(runs.iloc[0])
    if other.base_key() != cfg.base_key():
        mine, theirs = cfg.to_dict(), other.to_dict()
        diff = [k for k in mine if mine[k] != theirs[k] and not k.endswith("_seed")]
        raise StoreError(f"store {store} holds runs of another config (differs in: "
                         f"{', '.join(diff)}); choose another store")


def clean_stale_tmp(store: str | Path) -> None:
    """Remove partial batches left by processes that no longer run (same host), except those
    with a checkpoint, which the next attempt at the same batch resumes."""
    tmp = Path(store) / "tmp"
    if not tmp.is_dir():
        return
    for d in tmp.iterdir():
        if tmp_abandoned(d.name) and not (d / CHECKPOINT).is_file():
            shutil.rmtree(d, ignore_errors=True)


def train_batch(configs: Sequence[RunConfig], store: str | Path, *,
                progress: Callable[[int], None] | None = None, chunk_size: int | None = None,
                checkpoint_seconds: float = 300.0) -> list[str]:
    """Train one batch and commit it atomically into ``store`` (which must exist); return its
    run ids.

    A batch already committed (same runs, same order) is skipped; a checkpointed partial batch
    of the same runs left by a dead process of this host is resumed from its checkpoint
    (``progress`` is first told the step it resumes from). This touches only this batch's
    files, so many hosts may run it against one shared store.
    """
    configs = list(configs)
    ids = [c.run_id for c in configs]
    if (Path(store) / "batches" / batch_id_for(ids) / "COMPLETE").is_file():
        return []
    trainer = Trainer(configs, chunk_size=chunk_size)
    writer = BatchWriter(store, configs)
    try:
        if writer.checkpoint is not None:
            trainer.load_state(writer.checkpoint)
            if progress is not None:
                progress(trainer.step_count)
        result = trainer.run(writer, progress=progress, checkpoint=writer.save_checkpoint,
                             checkpoint_seconds=checkpoint_seconds)
        writer.commit(result, trainer.state_dict())
    except BaseException:
        writer.abort()
        raise
    return ids


def train_to_store(
    configs: Sequence[RunConfig] | RunConfig,
    store: str | Path,
    *,
    max_batch: int | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_batch_start: Callable[[list[RunConfig]], None] | None = None,
    checkpoint_seconds: float = 300.0,
) -> list[str]:
    """Train every config not yet complete in ``store``; return the run ids trained.

    ``progress(steps, models)`` is called as steps complete. Each batch is committed
    atomically; an exception aborts only the batch in flight. About every
    ``checkpoint_seconds`` the batch in flight saves its state, so a process killed mid-batch
    loses at most that much work: the next call resumes the batch from its checkpoint.
    """
    if isinstance(configs, RunConfig):
        configs = [configs]
    init_store(store)
    clean_stale_tmp(store)
    done = completed_run_ids(store)
    todo, seen = [], set()
    for c in configs:
        if c.run_id not in done and c.run_id not in seen:
            todo.append(c)
            seen.add(c.run_id)
    trained: list[str] = []
    for batch in plan_batches(todo, max_batch):
        if on_batch_start is not None:
            on_batch_start(batch)
        m = len(batch)
        trained += train_batch(batch, store, chunk_size=chunk_size,
                               checkpoint_seconds=checkpoint_seconds,
                               progress=(lambda n, m=m: progress(n, m)) if progress else None)
    return trained


__all__ = ["StoreError", "check_same_base", "default_max_batch", "plan_batches",
           "train_batch", "train_to_store"]
