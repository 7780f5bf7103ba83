"""Train one batch into a store: claim it (so that other workers on the same store take other
batches), resume it from a checkpoint left by a dead worker, save checkpoints as it goes, and
commit it atomically (or leave nothing but the checkpoint).

Every way of training into a store (``train``, ``ablate``, ``sweep run``, ``reproduce``, the
Python :func:`circle_survival.train_to_store`) ends here, through an executor of
:mod:`circle_survival.sweep`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import RunConfig
from ..errors import StoreError
from ..store import BatchWriter
from ..store.integrity import os_error_line
from ..store.layout import StoreLayout, batch_id_for
from ..training.functional import make_trainer
from .claims import DEFAULT_LEASE, claimed


def train_batch(configs: Sequence[RunConfig], store: str | Path, *,
                progress: Callable[[int], None] | None = None, chunk_size: int | None = None,
                checkpoint_seconds: float = 300.0, sweep: str = "",
                lease: float = DEFAULT_LEASE,
                on_resume: Callable[[int], None] | None = None) -> list[str] | None:
    """Train one batch and commit it atomically into ``store`` (which must exist); return its
    run ids (empty when the batch was already committed; None when another live worker holds
    its claim and trains it now).

    Args:
        configs: the batch's runs (equal ``batch_key()``), in batch order.
        store: the store's directory.
        progress: called with the number of steps just completed; a resumed batch first
            reports the step it resumes from.
        chunk_size: models per chunk of the trainer's step (default: the trainer's).
        checkpoint_seconds: about how often the batch in flight saves its state.
        sweep: the sweep's name, written into the claim (``sweep status`` shows it).
        lease: seconds the claim stays valid without its heartbeat (:mod:`.claims`).
        on_resume: called with the step a checkpoint resumes the batch from.

    A batch already committed (same runs, same order) is skipped. The batch is claimed for the
    time it trains; a checkpointed partial batch of the same runs left by a dead worker (a
    process of this host that no longer runs, or, under the claim, any other host's) is
    resumed from its checkpoint (one that does not match the trainer's state is set aside with
    a warning, and the batch starts afresh). This touches only this batch's files and its
    claim, so many workers on many hosts may run it against one shared store. An
    operating-system error while writing (a full disk, a file system turned
    read-only) raises StoreError in one line and leaves nothing but a checkpoint.
    """
    configs = list(configs)
    ids = [c.run_id for c in configs]
    bid = batch_id_for(ids)
    layout = StoreLayout(store)
    if layout.is_complete(bid):
        return []
    with claimed(store, bid, sweep, lease) as other:
        if other is not None:
            return None
        if layout.is_complete(bid):  # committed by its holder between the check and the claim
            return []
        _train_claimed(configs, store, progress, chunk_size, checkpoint_seconds, on_resume)
    return ids


def _train_claimed(configs: list[RunConfig], store: str | Path,
                   progress: Callable[[int], None] | None, chunk_size: int | None,
                   checkpoint_seconds: float, on_resume: Callable[[int], None] | None) -> None:
    """Train and commit a batch this worker holds the claim of."""
    trainer = make_trainer(configs, chunk_size=chunk_size)
    try:
        writer = BatchWriter(store, configs, claimed=True)
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot write into store {store}", exc)) from None
    try:
        if writer.checkpoint is not None:
            try:
                trainer.load_state(writer.checkpoint)
            except Exception as exc:  # noqa: BLE001 - a checkpoint of another state
                writer.set_aside_checkpoint(f"it does not match the batch "
                                            f"({type(exc).__name__}: {exc})")
                trainer = make_trainer(configs, chunk_size=chunk_size)
            if progress is not None and trainer.step_count:
                progress(trainer.step_count)
            if on_resume is not None and trainer.step_count:
                on_resume(trainer.step_count)
        result = trainer.run(writer, progress=progress, checkpoint=writer.save_checkpoint,
                             checkpoint_seconds=checkpoint_seconds)
        writer.commit(result, trainer.state_dict())
    except OSError as exc:
        writer.abort()
        raise StoreError(os_error_line(f"cannot write batch {writer.batch_id} into store "
                                       f"{store}", exc)) from None
    except BaseException:
        writer.abort()
        raise
