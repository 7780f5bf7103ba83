"""Writing one batch: its arrays, snapshots and checkpoints under ``STORE/tmp/``, then its
table, weights and checksums, and the atomic rename into ``batches/`` (:class:`BatchWriter`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load_file, save_file

from .._version import __version__
from ..config import RunConfig
from ..errors import StoreError, StoreWarning
from ..training.record_plan import METRIC_NAMES, BatchResult, array_shapes
from .create import import_zarr
from .integrity import share_like_others, walk_files, write_checksums
from .layout import (
    ARRAYS,
    BATCHES,
    CHECKPOINT,
    COMPLETE,
    RUN_IDS,
    RUNS_TABLE,
    SNAPSHOTS,
    TMP,
    UNLOADABLE,
    WEIGHTS,
    StoreLayout,
    abandoned,
    batch_id_for,
    plain_dir,
    snapshot_file,
)
from .run_table import config_row

log = logging.getLogger(__name__)


class BatchWriter:
    """Writes one batch into ``STORE/tmp/`` and commits it atomically.

    Use as the trainer's sink: ``writer[name]`` is a Zarr array; ``write_snapshot`` adds a
    safetensors file. ``commit(result, final_state)`` writes the table and weights and renames
    the batch into place; ``abort()`` removes the partial batch.
    """

    def __init__(self, store: str | Path, configs: Sequence[RunConfig], *, claimed: bool = False):
        import_zarr()
        self.layout = StoreLayout(store)
        if not plain_dir(self.layout.tmp) or not plain_dir(self.layout.batches):
            raise StoreError(f"store {store}: {TMP}/ and {BATCHES}/ must be plain directories "
                             "inside the store (not links)")
        self.configs = list(configs)
        self.run_ids = [c.run_id for c in configs]
        self.batch_id = batch_id_for(self.run_ids)
        self.tmp = self.layout.new_partial(self.batch_id)
        self.checkpoint: dict[str, np.ndarray] | None = None
        self.claimed = claimed
        if self._adopt_partial():
            zarr = import_zarr()
            self.group = zarr.open_group(str(self.tmp / ARRAYS), mode="r+")
            self.arrays = {name: self.group[name] for name in array_shapes(configs)}
        elif not self.tmp.is_dir():  # (a checkpoint set aside has made a fresh one)
            self._create()

    def _create(self) -> None:
        """A fresh partial batch: its run ids and empty arrays; removed again when it cannot
        be written whole (a full disk), so that nothing is left in ``tmp/``."""
        self.tmp.mkdir()
        try:
            self._fill()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _fill(self) -> None:
        zarr = import_zarr()
        from zarr.codecs import BloscCodec

        (self.tmp / RUN_IDS).write_text(json.dumps(self.run_ids))
        self.group = zarr.open_group(str(self.tmp / ARRAYS), mode="w")
        self.arrays = {}
        for name, (shape, dtype) in array_shapes(self.configs).items():
            self.arrays[name] = self.group.create_array(
                name, shape=shape, dtype=dtype, chunks=_chunks(name, shape), fill_value=0,
                compressors=BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"))
        self.group.attrs["metric_names"] = list(METRIC_NAMES)

    def _adopt_partial(self) -> bool:
        """Take over a checkpointed partial batch of the same runs left by a dead process
        (plain directories inside ``tmp/`` only); under the batch's claim (``claimed``), one
        left by another host too, whose claim has lapsed. A checkpoint that does not load is
        set aside with a warning and the batch starts afresh."""
        for d in self.layout.partials(self.batch_id):
            if not abandoned(d.name, own_process_too=True, other_hosts=self.claimed):
                continue
            if not (d / CHECKPOINT).is_file() or walk_files(d)[1]:
                continue  # no checkpoint, or a link inside: never written through
            try:
                os.rename(d, self.tmp)  # atomic: only one process can claim it
            except OSError:
                continue
            try:
                self.checkpoint = load_file(str(self.tmp / CHECKPOINT))
            except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: start afresh
                self.set_aside_checkpoint(f"it does not load ({type(exc).__name__})")
                return False
            return True
        return False

    def set_aside_checkpoint(self, why: str) -> None:
        """Move the adopted checkpoint to ``tmp/<name>.unloadable.safetensors``, warn, and
        start the batch from scratch in a fresh partial directory."""
        aside = self.layout.tmp / f"{self.tmp.name}{UNLOADABLE}"
        os.replace(self.tmp / CHECKPOINT, aside)
        shutil.rmtree(self.tmp, ignore_errors=True)
        warnings.warn(f"the checkpoint of batch {self.batch_id} in store {self.layout.root} "
                      f"was set aside as {aside.name}: {why}; the batch trains from the start",
                      StoreWarning, stacklevel=2)
        self.checkpoint = None
        self.tmp = self.layout.new_partial(self.batch_id)
        self._create()

    def save_checkpoint(self, state: dict[str, np.ndarray]) -> None:
        """Write the trainer's state atomically (a later process can resume the batch)."""
        part = self.tmp / f".{CHECKPOINT}.part"
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(part))
        share_like_others(part)
        os.replace(part, self.tmp / CHECKPOINT)

    def __getitem__(self, name: str):
        return self.arrays[name]

    def __setitem__(self, name: str, value) -> None:
        self.arrays[name][...] = value

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def write_snapshot(self, step: int, tensors: dict[str, np.ndarray]) -> None:
        (self.tmp / SNAPSHOTS).mkdir(exist_ok=True)
        path = snapshot_file(self.tmp, step)
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
        share_like_others(path)

    def commit(self, result: BatchResult, final_state: dict[str, np.ndarray],
               extra: dict[str, Any] | None = None) -> Path:
        """Write table and weights, then move the batch into ``batches/``. Returns its path."""
        import torch

        save_file({k: np.ascontiguousarray(v) for k, v in final_state.items()},
                  str(self.tmp / WEIGHTS))
        share_like_others(self.tmp / WEIGHTS)
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        rows = []
        for i, (cfg, summary) in enumerate(zip(self.configs, result.rows, strict=True)):
            row = {"run_id": cfg.run_id, "batch_id": self.batch_id, "batch_index": i}
            row.update(config_row(cfg))
            row.update(summary)
            row.update({
                "resolved_device": result.device,
                "intervention_resolved": json.dumps(
                    result.resolved_interventions[i] if result.resolved_interventions else {},
                    sort_keys=True),
                "package_version": __version__,
                "torch_version": torch.__version__,
                "batch_size": len(self.configs),
                "train_seconds": result.seconds,
                "created_at": now,
            })
            row.update(extra or {})
            rows.append(row)
        table = pa.Table.from_pylist(rows)
        pq.write_table(table, self.tmp / RUNS_TABLE)
        (self.tmp / CHECKPOINT).unlink(missing_ok=True)
        write_checksums(self.tmp)
        (self.tmp / COMPLETE).write_text(self.batch_id)
        final = self.layout.batch(self.batch_id)
        try:
            os.rename(self.tmp, final)
        except OSError:
            if (final / COMPLETE).exists():  # another writer finished the same batch first
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                raise
        log.info("wrote batch %s (%d runs) into %s", self.batch_id, len(self.configs), final)
        return final

    def abort(self) -> None:
        """Give up the batch: remove it, unless it holds a checkpoint worth resuming (then
        only a checkpoint half-written is removed)."""
        if not (self.tmp / CHECKPOINT).is_file():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            (self.tmp / f".{CHECKPOINT}.part").unlink(missing_ok=True)


def _chunks(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if name in ("signals", "metrics"):
        return (1, min(shape[1], 4096), shape[2])
    if name == "embeddings":
        return (1, 1) + shape[2:]
    if len(shape) >= 2:
        return (1,) + shape[1:]
    return shape


