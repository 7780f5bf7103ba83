"""The run store: a directory of completed batches, read back with :func:`load`.

Where everything lies is :mod:`layout`'s business; the files of one batch::

    batches/<batch_id>/
      runs.parquet          one row per run: run_id, its resolved config, versions, summary
                            (final losses and accuracies, circles, signals)
      arrays.zarr/          the records of :func:`records.array_shapes`: signals (M, T_s, K),
                            signal_steps (T_s,), metrics (M, T_m, 4), metric_steps (T_m,),
                            embedding_init / embedding_final (M, p, d), embeddings
                            (M, T_e, p, d) and embedding_steps (T_e,) if asked, train_idx
                            (M, n_train)
      weights.safetensors   final parameters, nn.Module layout, leading run axis
      snapshots/            parameters at chosen steps, if asked

A batch is written under ``tmp/`` and renamed into ``batches/`` only when complete; the rename
is atomic, so a process killed at any moment leaves either a complete batch or none. Nothing
in a store is pickled: Parquet, Zarr, JSON and safetensors only.

Zarr is imported only when a store is opened or written, so training in memory needs none.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load_file, save_file

from ._version import __version__
from .config import LATER_FIELDS, RunConfig
from .errors import StoreError
from .layout import (
    ARRAYS,
    CHECKPOINT,
    COMPLETE,
    MARKER,
    RUNS_TABLE,
    SNAPSHOTS,
    WEIGHTS,
    StoreLayout,
    abandoned,
    batch_id_for,
    snapshot_file,
    snapshot_step,
)
from .records import METRIC_NAMES, BatchResult, array_shapes

FORMAT = "circle-survival-store"
VERSION = 1
LIST_FIELDS = ("hidden", "betas", "embedding_steps", "snapshot_steps")
ZARR_HINT = "pip install 'zarr>=3'"


def import_zarr():
    """Zarr, or StoreError saying that stores need it and how to install it."""
    try:
        import zarr
    except ImportError:
        raise StoreError(f"reading or writing a store needs zarr, which is not installed: "
                         f"{ZARR_HINT}") from None
    return zarr


def is_store(path: str | Path) -> bool:
    return StoreLayout(path).marker.is_file()


def init_store(path: str | Path) -> Path:
    """Create an empty store at ``path`` (or check an existing one)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} exists and is not a directory")
    if path.is_dir() and not is_store(path):
        if any(path.iterdir()):
            raise StoreError(f"{path} is a non-empty directory that is not a circle-survival "
                             "store")
    elif is_store(path):
        _read_marker(path)
        return path
    layout = StoreLayout(path)
    layout.batches.mkdir(parents=True, exist_ok=True)
    layout.tmp.mkdir(exist_ok=True)
    tmp = path / f".{MARKER}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps({"format": FORMAT, "version": VERSION}))
    os.replace(tmp, layout.marker)
    return path


def _read_marker(path: Path) -> dict:
    try:
        meta = json.loads(StoreLayout(path).marker.read_text())
    except (OSError, json.JSONDecodeError):
        raise StoreError(f"{path}: damaged store marker {MARKER}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StoreError(f"{path}: {MARKER} does not describe a circle-survival store")
    if meta.get("version") != VERSION:
        raise StoreError(f"{path}: store format version {meta.get('version')!r} is not "
                         f"supported (this version reads {VERSION})")
    return meta


def config_row(cfg: RunConfig) -> dict[str, Any]:
    """A run's config as flat table columns (lists stay lists; the intervention as JSON)."""
    row = cfg.to_dict()
    row["intervention"] = json.dumps(row["intervention"], sort_keys=True)
    return row


def config_from_row(row: dict[str, Any] | pd.Series) -> RunConfig:
    """Rebuild a RunConfig from a table row."""
    from dataclasses import fields

    data = {}
    for f in fields(RunConfig):
        if f.name in LATER_FIELDS and f.name not in row:
            continue  # a row written before the field existed: its default
        v = row[f.name]
        if f.name == "intervention":
            v = json.loads(v) if v else {}
        elif f.name in LIST_FIELDS:
            v = tuple(int(x) if f.name != "betas" else float(x) for x in v)
        elif isinstance(v, np.generic):
            v = v.item()
        data[f.name] = v
    return RunConfig(**data)


class BatchWriter:
    """Writes one batch into ``STORE/tmp/`` and commits it atomically.

    Use as the trainer's sink: ``writer[name]`` is a Zarr array; ``write_snapshot`` adds a
    safetensors file. ``commit(result, final_state)`` writes the table and weights and renames
    the batch into place; ``abort()`` removes the partial batch.
    """

    def __init__(self, store: str | Path, configs: Sequence[RunConfig]):
        zarr = import_zarr()
        from zarr.codecs import BloscCodec

        self.layout = StoreLayout(store)
        self.configs = list(configs)
        self.run_ids = [c.run_id for c in configs]
        self.batch_id = batch_id_for(self.run_ids)
        self.tmp = self.layout.new_partial(self.batch_id)
        self.checkpoint: dict[str, np.ndarray] | None = None
        if self._adopt_partial():
            self.group = zarr.open_group(str(self.tmp / ARRAYS), mode="r+")
            self.arrays = {name: self.group[name] for name in array_shapes(configs)}
            return
        self.tmp.mkdir(parents=True)
        self.group = zarr.open_group(str(self.tmp / ARRAYS), mode="w")
        self.arrays = {}
        for name, (shape, dtype) in array_shapes(configs).items():
            self.arrays[name] = self.group.create_array(
                name, shape=shape, dtype=dtype, chunks=_chunks(name, shape), fill_value=0,
                compressors=BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"))
        self.group.attrs["metric_names"] = list(METRIC_NAMES)

    def _adopt_partial(self) -> bool:
        """Take over a checkpointed partial batch of the same runs left by a dead process."""
        for d in self.layout.partials(self.batch_id):
            if not abandoned(d.name, own_process_too=True):
                continue
            if not (d / CHECKPOINT).is_file():
                continue
            try:
                os.rename(d, self.tmp)  # atomic: only one process can claim it
            except OSError:
                continue
            try:
                self.checkpoint = load_file(str(self.tmp / CHECKPOINT))
            except Exception:  # noqa: BLE001 - an unreadable checkpoint: start afresh
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.checkpoint = None
                return False
            return True
        return False

    def save_checkpoint(self, state: dict[str, np.ndarray]) -> None:
        """Write the trainer's state atomically (a later process can resume the batch)."""
        part = self.tmp / f".{CHECKPOINT}.part"
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(part))
        os.replace(part, self.tmp / CHECKPOINT)

    def __getitem__(self, name: str):
        return self.arrays[name]

    def __setitem__(self, name: str, value) -> None:
        self.arrays[name][...] = value

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def write_snapshot(self, step: int, tensors: dict[str, np.ndarray]) -> None:
        (self.tmp / SNAPSHOTS).mkdir(exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                  str(snapshot_file(self.tmp, step)))

    def commit(self, result: BatchResult, final_state: dict[str, np.ndarray],
               extra: dict[str, Any] | None = None) -> Path:
        """Write table and weights, then move the batch into ``batches/``. Returns its path."""
        import torch

        save_file({k: np.ascontiguousarray(v) for k, v in final_state.items()},
                  str(self.tmp / WEIGHTS))
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
        (self.tmp / COMPLETE).write_text(self.batch_id)
        final = self.layout.batch(self.batch_id)
        try:
            os.rename(self.tmp, final)
        except OSError:
            if (final / COMPLETE).exists():  # another writer finished the same batch first
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                raise
        return final

    def abort(self) -> None:
        """Give up the batch: remove it, unless it holds a checkpoint worth resuming."""
        if not (self.tmp / CHECKPOINT).is_file():
            shutil.rmtree(self.tmp, ignore_errors=True)


def _chunks(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if name in ("signals", "metrics"):
        return (1, min(shape[1], 4096), shape[2])
    if name == "embeddings":
        return (1, 1) + shape[2:]
    if len(shape) >= 2:
        return (1,) + shape[1:]
    return shape


class Store:
    """A store opened for reading. ``runs`` is a DataFrame with one row per run (index: run_id).

    Arrays of one run: :meth:`signals`, :meth:`metrics`, :meth:`embeddings`, :meth:`weights`,
    :meth:`snapshot`. Many runs at once: :meth:`stack`.
    """

    def __init__(self, path: Path, runs: pd.DataFrame):
        self.path = path
        self.runs = runs
        self._groups: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.runs)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, runs={len(self.runs)})"

    def _locate(self, run_id: str) -> tuple[Any, int, Path]:
        try:
            row = self.runs.loc[run_id]
        except KeyError:
            raise StoreError(f"no run {run_id!r} in {self.path}") from None
        bid = row["batch_id"]
        bdir = StoreLayout(self.path).batch(bid)
        if bid not in self._groups:
            zarr = import_zarr()
            try:
                self._groups[bid] = zarr.open_group(str(bdir / ARRAYS), mode="r")
            except Exception as exc:  # noqa: BLE001 - any failure here means a damaged batch
                raise StoreError(f"{bdir}: damaged arrays ({type(exc).__name__})") from None
        return self._groups[bid], int(row["batch_index"]), bdir

    def config(self, run_id: str) -> RunConfig:
        """The run's full config."""
        if run_id not in self.runs.index:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return config_from_row(self.runs.loc[run_id])

    def signals(self, run_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps (T,), S_k (T, p//2 + 1)) of one run."""
        g, i, _ = self._locate(run_id)
        return np.asarray(g["signal_steps"][:]), np.asarray(g["signals"][i])

    def metrics(self, run_id: str) -> pd.DataFrame:
        """Train/test loss and accuracy of one run, one row per recorded step."""
        g, i, _ = self._locate(run_id)
        df = pd.DataFrame(np.asarray(g["metrics"][i]), columns=list(METRIC_NAMES))
        df.insert(0, "step", np.asarray(g["metric_steps"][:]))
        return df

    def embeddings(self, run_id: str) -> dict[int, np.ndarray]:
        """Embeddings (p, d) of one run by step: always 0 and the final step, plus any asked."""
        g, i, _ = self._locate(run_id)
        steps = int(self.runs.loc[run_id, "steps"])
        out = {0: np.asarray(g["embedding_init"][i])}
        if "embedding_steps" in g:
            for j, s in enumerate(np.asarray(g["embedding_steps"][:])):
                out[int(s)] = np.asarray(g["embeddings"][i, j])
        out[steps] = np.asarray(g["embedding_final"][i])
        return dict(sorted(out.items()))

    def train_indices(self, run_id: str) -> np.ndarray:
        """The run's training pair indices (n_train,)."""
        g, i, _ = self._locate(run_id)
        return np.asarray(g["train_idx"][i]).astype(np.int64)

    def weights(self, run_id: str) -> dict[str, np.ndarray]:
        """Final parameters of one run, nn.Module layout (embedding (p, d), layers.l.weight
        (out, in), layers.l.bias (out,))."""
        _, i, bdir = self._locate(run_id)
        return {k: v[i] for k, v in load_file(str(bdir / WEIGHTS)).items()}

    def snapshot_steps(self, run_id: str) -> list[int]:
        _, _, bdir = self._locate(run_id)
        d = bdir / SNAPSHOTS
        if not d.is_dir():
            return []
        return sorted(snapshot_step(f) for f in d.glob("step_*.safetensors"))

    def snapshot(self, run_id: str, step: int) -> dict[str, np.ndarray]:
        """Parameters of one run at a snapshot step (as :meth:`weights`)."""
        _, i, bdir = self._locate(run_id)
        f = snapshot_file(bdir, step)
        if not f.is_file():
            raise StoreError(f"run {run_id!r} has no snapshot at step {step}")
        return {k: v[i] for k, v in load_file(str(f)).items()}

    def model(self, run_id: str, step: int | None = None):
        """The run's model as an ``nn.Module`` (final weights, or the snapshot at ``step``):
        :func:`circle_survival.notebook.run_model`."""
        from .notebook import run_model

        return run_model(self, run_id, step)

    def signals_frame(self, run_ids: Iterable[str] | None = None,
                      steps: Sequence[int] | None = None) -> pd.DataFrame:
        """Signals of many runs as one long DataFrame (run_id, step, k, signal):
        :func:`circle_survival.notebook.signals_frame`."""
        from .notebook import signals_frame

        return signals_frame(self, run_ids, steps)

    def metrics_frame(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Metrics of many runs as one long DataFrame (run_id, step, metric, value):
        :func:`circle_survival.notebook.metrics_frame`."""
        from .notebook import metrics_frame

        return metrics_frame(self, run_ids)

    def stack(self, name: str, run_ids: Iterable[str] | None = None,
              steps: slice | None = None) -> np.ndarray:
        """One array for many runs: ``name`` in signals, metrics, embedding_init,
        embedding_final; shape (R, ...). ``steps`` slices the time axis of signals/metrics.
        Runs must share that array's shape."""
        ids = list(self.runs.index if run_ids is None else run_ids)
        out = []
        for rid in ids:
            g, i, _ = self._locate(rid)
            if steps is not None and name in ("signals", "metrics"):
                out.append(np.asarray(g[name][i, steps]))
            else:
                out.append(np.asarray(g[name][i]))
        try:
            return np.stack(out)
        except ValueError:
            raise StoreError(f"runs differ in the shape of {name!r}; select runs of one "
                             "shape") from None


def completed_run_ids(path: str | Path) -> set[str]:
    """Ids of runs already complete in a store (empty if the store does not exist)."""
    path = Path(path)
    if not is_store(path):
        return set()
    return set(load(path).runs.index)


def load(path: str | Path) -> Store:
    """Open a store: runs as a DataFrame (index run_id), arrays by run id.

    Raises StoreError for a missing, foreign or damaged directory.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no store at {path}")
    if not path.is_dir():
        raise StoreError(f"{path} is not a directory")
    if not is_store(path):
        raise StoreError(f"{path} is not a circle-survival store (no {MARKER})")
    _read_marker(path)
    import_zarr()  # its arrays need it: say so now rather than at the first array read
    tables = []
    for d in StoreLayout(path).batch_dirs():
        if not (d / COMPLETE).is_file():
            raise StoreError(f"{d}: damaged batch (no COMPLETE marker)")
        try:
            tables.append(pq.read_table(d / RUNS_TABLE).to_pandas())
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"{d}: damaged batch table ({type(exc).__name__})") from None
    if tables:
        runs = pd.concat(tables, ignore_index=True)
        runs = runs.drop_duplicates("run_id", keep="first")
        for name, default in LATER_FIELDS.items():  # batches written before the field existed
            col = runs[name] if name in runs else pd.Series(default, index=runs.index)
            runs[name] = col.fillna(default).astype(type(default))
    else:
        runs = pd.DataFrame({"run_id": pd.Series(dtype=str)})
    return Store(path, runs.set_index("run_id", drop=False))


def check_same_base(store: Store, cfg: RunConfig) -> None:
    """Refuse a store whose runs differ from ``cfg`` in anything but the seeds."""
    if store.runs.empty:
        return
    other = config_from_row(store.runs.iloc[0])
    if other.base_key() != cfg.base_key():
        mine, theirs = cfg.to_dict(), other.to_dict()
        diff = [k for k in mine if mine[k] != theirs[k] and not k.endswith("_seed")]
        raise StoreError(f"store {store.path} holds runs of another config (differs in: "
                         f"{', '.join(diff)}); choose another store")
