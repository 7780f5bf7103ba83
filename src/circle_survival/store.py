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
      checksums.json        the SHA-256 of every file above, written at commit time

A batch is written under ``tmp/`` and renamed into ``batches/`` only when complete; the rename
is atomic, so a process killed at any moment leaves either a complete batch or none. Nothing
in a store is pickled: Parquet, Zarr, JSON and safetensors only.

Every :func:`load` checks each batch's table (columns, types, ``batch_id``, ``batch_index``); a
damaged batch is left out with a warning ("batch X of store S is damaged: what") and the rest
stays usable. ``load(path, verify=True)`` also checks every file against its checksum, every
array's shape and every weights file, and raises naming each damaged batch. A chunk that is
missing or does not decode is an error when it is read, never zeros.

Zarr is imported only when a store is opened or written, so training in memory needs none.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
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
from .errors import StoreError, StoreWarning
from .integrity import (
    DamagedBatch,
    DamagedBatchWarning,
    changed_files,
    check_table,
    os_error_line,
    read_checksums,
    share_like_others,
    write_checksums,
)
from .layout import (
    ARRAYS,
    BATCHES,
    CHECKPOINT,
    COMPLETE,
    LOCK_FILE,
    MARKER,
    RESULTS,
    RUN_IDS,
    RUNS_TABLE,
    SNAPSHOTS,
    SWEEPS,
    TMP,
    UNLOADABLE,
    WEIGHTS,
    StoreLayout,
    abandoned,
    batch_id_for,
    is_batch_id,
    plain_dir,
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
    """Whether ``path`` holds a store's marker (False for a path the system cannot look up)."""
    try:
        return StoreLayout(path).marker.is_file()
    except OSError:
        return False


def init_store(path: str | Path) -> Path:
    """Create an empty store at ``path`` (or check an existing one).

    Safe to call from many processes at once: a directory that holds nothing but a store's
    own entries (another process creating it) is completed, never refused; the marker is
    written to a temporary name and renamed. An operating-system error is one line
    (StoreError).
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path} exists and is not a directory")
        if path.is_dir() and not is_store(path):
            foreign = [e.name for e in path.iterdir() if not _store_entry(e.name)]
            if foreign:
                raise StoreError(f"{path} is a non-empty directory that is not a "
                                 "circle-survival store")
        elif is_store(path):
            _read_marker(path)
        layout = StoreLayout(path)
        layout.batches.mkdir(parents=True, exist_ok=True)
        layout.tmp.mkdir(exist_ok=True)
        if not is_store(path):
            tmp = path / f".{MARKER}.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps({"format": FORMAT, "version": VERSION}))
            os.replace(tmp, layout.marker)
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot create store {path}", exc)) from None
    return path


def _store_entry(name: str) -> bool:
    """Whether a directory entry is one a store being created holds."""
    return (name in (MARKER, BATCHES, TMP, LOCK_FILE, SWEEPS, RESULTS)
            or name.startswith(f".{MARKER}."))


def check_store_path(path: str | Path) -> None:
    """Refuse, before anything is trained, a store path that cannot be created or written:
    one under a regular file, a name too long for its file system, a folder without write
    permission, a directory that is not a store. Creates nothing."""
    try:
        _check_store_path(Path(path))
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot create or open store {path}", exc)) from None


def _check_store_path(path: Path) -> None:
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    limit = _name_max(ancestor)
    for part in path.absolute().parts:
        if len(os.fsencode(part)) > limit:
            raise StoreError(f"cannot create store {path}: the name {part[:20]}... is longer "
                             f"than the file system allows ({limit} bytes)")
    if path.exists():
        if not path.is_dir():
            raise StoreError(f"{path} exists and is not a directory")
        if is_store(path):
            _read_marker(path)
        elif any(not _store_entry(e.name) for e in path.iterdir()):
            raise StoreError(f"{path} is a non-empty directory that is not a circle-survival "
                             "store")
        target = path
    else:
        target = ancestor
        if not target.is_dir():
            raise StoreError(f"cannot create store {path}: {target} is not a directory")
    if not os.access(target, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create or write store {path}: {target} is not writable")
    for sub in (StoreLayout(path).tmp, StoreLayout(path).batches):
        if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
            raise StoreError(f"store {path}: {sub.name}/ is not a plain directory")
        if sub.is_dir() and not os.access(sub, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write store {path}: {sub} is not writable")


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _read_marker(path: Path) -> dict:
    try:
        meta = json.loads(StoreLayout(path).marker.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
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
        if self._adopt_partial():
            zarr = import_zarr()
            self.group = zarr.open_group(str(self.tmp / ARRAYS), mode="r+")
            self.arrays = {name: self.group[name] for name in array_shapes(configs)}
        elif not self.tmp.is_dir():  # (a checkpoint set aside has made a fresh one)
            self._create()

    def _create(self) -> None:
        """A fresh partial batch: its run ids and empty arrays."""
        zarr = import_zarr()
        from zarr.codecs import BloscCodec

        self.tmp.mkdir()
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
        (plain directories inside ``tmp/`` only). A checkpoint that does not load is set
        aside with a warning and the batch starts afresh."""
        for d in self.layout.partials(self.batch_id):
            if not abandoned(d.name, own_process_too=True):
                continue
            if not (d / CHECKPOINT).is_file() or (d / CHECKPOINT).is_symlink():
                continue
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
    """A store opened for reading. ``runs`` is a DataFrame with one row per run (index: run_id);
    ``damaged`` maps each batch left out of it to what is wrong with it.

    Arrays of one run: :meth:`signals`, :meth:`metrics`, :meth:`embeddings`, :meth:`weights`,
    :meth:`snapshot`. Many runs at once: :meth:`stack`. A read from a damaged batch (a missing
    or undecodable chunk, a missing array or weights file) raises :class:`DamagedBatch`.
    """

    def __init__(self, path: Path, runs: pd.DataFrame, damaged: dict[str, str] | None = None):
        self.path = path
        self.runs = runs
        self.damaged = dict(damaged or {})
        self._groups: dict[str, Any] = {}
        self._checksums: dict[str, dict[str, str] | None] = {}

    def __len__(self) -> int:
        return len(self.runs)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, runs={len(self.runs)})"

    def _locate(self, run_id: str) -> tuple[str, int, Path]:
        """(batch id, index in the batch, batch directory) of a run."""
        try:
            row = self.runs.loc[run_id]
        except KeyError:
            raise StoreError(f"no run {run_id!r} in {self.path}") from None
        bid = str(row["batch_id"])
        return bid, int(row["batch_index"]), StoreLayout(self.path).batch(bid)

    def _group(self, bid: str) -> Any:
        if bid not in self._groups:
            zarr = import_zarr()
            bdir = StoreLayout(self.path).batch(bid)
            try:
                self._groups[bid] = zarr.open_group(str(bdir / ARRAYS), mode="r")
            except Exception as exc:  # noqa: BLE001 - any failure here means a damaged batch
                raise DamagedBatch(self.path, bid, f"{ARRAYS} does not open "
                                   f"({type(exc).__name__})") from None
            self._checksums[bid] = read_checksums(self.path, bdir)
        return self._groups[bid]

    def _has(self, bid: str, name: str) -> bool:
        return name in self._group(bid)

    def _read(self, bid: str, name: str, index: Any = ()) -> np.ndarray:
        """``array[index]`` of one batch; a missing or undecodable chunk is an error."""
        g = self._group(bid)
        sums = self._checksums.get(bid)
        if sums is not None:
            first = index[0] if isinstance(index, tuple) and index else index
            prefix = f"{ARRAYS}/{name}/c/" + (f"{first}/" if isinstance(first, int) else "")
            bdir = StoreLayout(self.path).batch(bid)
            lost = [k for k in sums if k.startswith(prefix) and not (bdir / k).is_file()]
            if lost:
                raise DamagedBatch(self.path, bid, f"{lost[0]} is missing")
        try:
            return np.asarray(g[name][index])
        except Exception as exc:  # noqa: BLE001 - zarr's, numcodecs' or the OS's: damaged
            raise DamagedBatch(self.path, bid, f"array {name} does not read "
                               f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
                               ) from None

    def _tensors(self, bid: str, path: Path, index: int) -> dict[str, np.ndarray]:
        try:
            return {k: v[index] for k, v in load_file(str(path)).items()}
        except FileNotFoundError:
            what = f"{path.relative_to(StoreLayout(self.path).batch(bid))} is missing"
        except Exception as exc:  # noqa: BLE001 - safetensors' errors: a damaged file
            what = f"{path.name} does not load ({type(exc).__name__})"
        raise DamagedBatch(self.path, bid, what)

    def config(self, run_id: str) -> RunConfig:
        """The run's full config."""
        if run_id not in self.runs.index:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return config_from_row(self.runs.loc[run_id])

    def signals(self, run_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps (T,), S_k (T, p//2 + 1)) of one run."""
        bid, i, _ = self._locate(run_id)
        return self._read(bid, "signal_steps", slice(None)), self._read(bid, "signals", i)

    def metrics(self, run_id: str) -> pd.DataFrame:
        """Train/test loss and accuracy of one run, one row per recorded step."""
        bid, i, _ = self._locate(run_id)
        df = pd.DataFrame(self._read(bid, "metrics", i), columns=list(METRIC_NAMES))
        df.insert(0, "step", self._read(bid, "metric_steps", slice(None)))
        return df

    def embeddings(self, run_id: str) -> dict[int, np.ndarray]:
        """Embeddings (p, d) of one run by step: always 0 and the final step, plus any asked."""
        bid, i, _ = self._locate(run_id)
        steps = int(self.runs.loc[run_id, "steps"])
        out = {0: self._read(bid, "embedding_init", i)}
        if self._has(bid, "embedding_steps"):
            for j, s in enumerate(self._read(bid, "embedding_steps", slice(None))):
                out[int(s)] = self._read(bid, "embeddings", (i, j))
        out[steps] = self._read(bid, "embedding_final", i)
        return dict(sorted(out.items()))

    def train_indices(self, run_id: str) -> np.ndarray:
        """The run's training pair indices (n_train,)."""
        bid, i, _ = self._locate(run_id)
        return self._read(bid, "train_idx", i).astype(np.int64)

    def weights(self, run_id: str) -> dict[str, np.ndarray]:
        """Final parameters of one run, nn.Module layout (embedding (p, d), layers.l.weight
        (out, in), layers.l.bias (out,))."""
        bid, i, bdir = self._locate(run_id)
        return self._tensors(bid, bdir / WEIGHTS, i)

    def snapshot_steps(self, run_id: str) -> list[int]:
        _, _, bdir = self._locate(run_id)
        d = bdir / SNAPSHOTS
        if not d.is_dir():
            return []
        return sorted(snapshot_step(f) for f in d.glob("step_*.safetensors"))

    def snapshot(self, run_id: str, step: int) -> dict[str, np.ndarray]:
        """Parameters of one run at a snapshot step (as :meth:`weights`)."""
        bid, i, bdir = self._locate(run_id)
        f = snapshot_file(bdir, step)
        if not f.is_file():
            raise StoreError(f"run {run_id!r} has no snapshot at step {step}")
        return self._tensors(bid, f, i)

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
            bid, i, _ = self._locate(rid)
            if steps is not None and name in ("signals", "metrics"):
                out.append(self._read(bid, name, (i, steps)))
            else:
                out.append(self._read(bid, name, i))
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


def load(path: str | Path, *, verify: bool = False) -> Store:
    """Open a store: runs as a DataFrame (index run_id), arrays by run id.

    Every batch's table is checked (:func:`integrity.check_table`); a damaged batch is left
    out of ``runs`` with a :class:`DamagedBatchWarning` and listed in ``Store.damaged``. With
    ``verify``, every batch is also checked in full (:func:`verify_batch`: files against their
    checksums, arrays present with their recorded shapes and readable, weights loadable) and
    a StoreError naming each damaged batch is raised if any is.

    Raises StoreError for a missing, foreign or unreadable store.
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
    tables, damaged = [], {}
    try:
        batch_dirs = StoreLayout(path).batch_dirs()
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot read store {path}", exc)) from None
    for d in batch_dirs:
        try:
            table = read_batch_table(path, d)
            if verify:
                verify_batch(path, d, table)
        except DamagedBatch as exc:
            damaged[d.name] = exc.what
            if not verify:
                warnings.warn(str(exc), DamagedBatchWarning, stacklevel=2)
            continue
        tables.append(table)
    if verify and damaged:
        raise StoreError(f"store {path}: {len(damaged)} damaged batch(es): " + "; ".join(
            f"batch {b} is damaged: {what}" for b, what in damaged.items()))
    if tables:
        runs = pd.concat(tables, ignore_index=True)
        runs = runs.drop_duplicates("run_id", keep="first")
        for name, default in LATER_FIELDS.items():  # batches written before the field existed
            col = runs[name] if name in runs else pd.Series(default, index=runs.index)
            runs[name] = col.fillna(default).astype(type(default))
    else:
        runs = pd.DataFrame({"run_id": pd.Series(dtype=str)})
    return Store(path, runs.set_index("run_id", drop=False), damaged)


def read_batch_table(store: Path, batch_dir: Path) -> pd.DataFrame:
    """A committed batch's table, checked (:func:`integrity.check_table`); raises
    :class:`DamagedBatch`."""
    bid = batch_dir.name
    if not is_batch_id(bid) or not plain_dir(batch_dir):
        raise DamagedBatch(store, bid, "not a batch directory (a batch's name is 16 hex "
                                       "digits, and it is a plain directory)")
    if not (batch_dir / COMPLETE).is_file():
        raise DamagedBatch(store, bid, "no COMPLETE marker")
    try:
        table = pq.read_table(batch_dir / RUNS_TABLE).to_pandas()
    except Exception as exc:  # noqa: BLE001 - pyarrow's or the OS's errors: unreadable
        raise DamagedBatch(store, bid, f"{RUNS_TABLE} does not read ({type(exc).__name__})"
                           ) from None
    check_table(store, bid, table, optional=LATER_FIELDS)
    return table


def verify_batch(store: Path, batch_dir: Path, table: pd.DataFrame) -> None:
    """Check one committed batch in full; raise :class:`DamagedBatch` saying what is wrong:
    a file missing or differing from its checksum, an array missing, of another shape or
    unreadable, a weights or snapshot file that does not load or holds another number of
    runs."""
    bid = batch_dir.name
    sums = read_checksums(store, batch_dir)
    if sums is not None:
        problems = changed_files(batch_dir, sums)
        if problems:
            raise DamagedBatch(store, bid, "; ".join(problems[:3]) + (
                f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""))
    table = table.sort_values("batch_index")
    try:
        configs = [config_from_row(r) for _, r in table.iterrows()]
    except Exception as exc:  # noqa: BLE001 - a config the table cannot rebuild
        raise DamagedBatch(store, bid, f"a run's config does not load ({exc})") from None
    reader = Store(store, table.set_index("run_id", drop=False))
    for name, (shape, _) in array_shapes(configs).items():
        group = reader._group(bid)
        if name not in group:
            raise DamagedBatch(store, bid, f"array {name} is missing")
        if tuple(group[name].shape) != shape:
            raise DamagedBatch(store, bid, f"array {name} has shape {group[name].shape}, "
                                           f"expected {shape}")
        reader._read(bid, name, slice(None))
    files = [batch_dir / WEIGHTS, *sorted((batch_dir / SNAPSHOTS).glob("*.safetensors"))]
    for f in files:
        tensors = reader._tensors(bid, f, slice(None))
        if any(v.shape[0] != len(configs) for v in tensors.values()):
            raise DamagedBatch(store, bid, f"{f.name} holds another number of runs")


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
