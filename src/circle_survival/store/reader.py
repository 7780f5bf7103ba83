"""Reading a store: :class:`Store`, its runs table and every run's arrays, weights and model,
and the long ("tidy") frames a notebook asks for.

    store.model(run_id, step=None)         # ModularAdditionMLP (or the run's transformer)
    store.signals_frame(run_ids, steps)    # run_id, step, k, signal
    store.metrics_frame(run_ids)           # run_id, step, metric, value

Join either frame with ``store.runs`` (indexed by run_id) for the config columns.

Every read is checked against the batch's checksums, once per file (at its first read, cached
by the :class:`Store`): an array's metadata, each chunk of the runs read (and that no other
file, or link, lies among them), a weights or snapshot file. A file that is missing, a link
or differs from its checksum raises :class:`DamagedBatch` naming the batch: altered data
never reaches an analysis.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

from ..config import RunConfig
from ..errors import StoreError
from ..training.record_plan import METRIC_NAMES
from .create import import_zarr
from .integrity import DamagedBatch, file_digest, read_checksums, walk_files
from .layout import (
    ARRAYS,
    BATCH_FILE_RE,
    SNAPSHOTS,
    WEIGHTS,
    StoreLayout,
    snapshot_file,
    snapshot_step,
)
from .run_table import config_from_row

if TYPE_CHECKING:
    import torch


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
        self._arrays: dict[tuple[str, str], Any] = {}
        self._checksums: dict[str, dict[str, str]] = {}
        #: per batch: the chunk files of each (array, first index) and of each array
        self._chunks: dict[str, dict[tuple[str, int | None], list[str]]] = {}
        #: (batch, file) checked against its checksum; (batch, "name/c/i") chunk sets checked
        self._checked: set[tuple[str, str]] = set()
        self._dirs: dict[str, Path] = {}

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
        return bid, int(row["batch_index"]), self._dir(bid)

    def _dir(self, bid: str) -> Path:
        """A batch's directory (its id checked once)."""
        if bid not in self._dirs:
            self._dirs[bid] = StoreLayout(self.path).batch(bid)
        return self._dirs[bid]

    def _sums(self, bid: str) -> dict[str, str]:
        """The batch's checksums (read once), with its chunk files indexed."""
        if bid not in self._checksums:
            sums = read_checksums(self.path, self._dir(bid))
            index: dict[tuple[str, int | None], list[str]] = {}
            for key in sums:
                parts = key.split("/")
                if len(parts) > 3 and parts[0] == ARRAYS and parts[2] == "c":
                    index.setdefault((parts[1], None), []).append(key)
                    index.setdefault((parts[1], int(parts[3])), []).append(key)
            self._checksums[bid], self._chunks[bid] = sums, index
        return self._checksums[bid]

    def _check(self, bid: str, key: str) -> None:
        """Check one file of a batch against its checksum, once."""
        if (bid, key) in self._checked:
            return
        sums = self._sums(bid)
        if key not in sums:
            raise DamagedBatch(self.path, bid, f"{key} is not in its checksums")
        path = self._dir(bid) / key
        try:
            same = file_digest(path) == sums[key]
        except FileNotFoundError:
            raise DamagedBatch(self.path, bid, f"{key} is missing") from None
        except OSError:
            raise DamagedBatch(self.path, bid, f"{key} is not a plain file (a link?)") from None
        if not same:
            raise DamagedBatch(self.path, bid, f"{key} does not match its checksum")
        self._checked.add((bid, key))

    def _check_chunks(self, bid: str, name: str, first: int | None) -> None:
        """Check the chunks of ``name`` holding run ``first`` (None: all of them), once: the
        files there are exactly those listed, none a link, each equal to its checksum."""
        token = (bid, f"{name}/c/{'' if first is None else first}")
        if token in self._checked:
            return
        self._sums(bid)
        listed = set(self._chunks[bid].get((name, first), ()))
        rel = f"{ARRAYS}/{name}/c" + ("" if first is None else f"/{first}")
        bdir = self._dir(bid)
        if (bid, f"{name}/c") not in self._checked:  # the folders above: no link, once
            c = f"{ARRAYS}/{name}/c"
            if os.path.realpath(bdir / c) != os.path.join(os.path.realpath(bdir), *c.split("/")):
                raise DamagedBatch(self.path, bid, f"{c} is a symbolic link or lies under one")
            self._checked.add((bid, f"{name}/c"))
        if os.path.islink(bdir / rel):
            raise DamagedBatch(self.path, bid, f"{rel} is a symbolic link")
        files, others = walk_files(bdir / rel, f"{rel}/")
        if others:
            raise DamagedBatch(self.path, bid, f"{others[0]} is a symbolic link or not a file")
        lost, extra = sorted(listed - set(files)), sorted(set(files) - listed)
        if lost:
            raise DamagedBatch(self.path, bid, f"{lost[0]} is missing")
        if extra:
            raise DamagedBatch(self.path, bid, f"{extra[0]} is not in its checksums")
        for key in sorted(listed):
            self._check(bid, key)
        self._checked.add(token)

    def trust(self, bid: str) -> None:
        """Take every file of a batch as checked (it was, just now, in full)."""
        sums = self._sums(bid)
        self._checked |= {(bid, k) for k in sums}
        self._checked |= {(bid, f"{n}/c/{'' if i is None else i}") for n, i in self._chunks[bid]}

    def _group(self, bid: str) -> Any:
        if bid not in self._groups:
            zarr = import_zarr()
            bdir = self._dir(bid)
            self._check(bid, f"{ARRAYS}/zarr.json")
            try:
                self._groups[bid] = zarr.open_group(str(bdir / ARRAYS), mode="r")
            except Exception as exc:  # noqa: BLE001 - any failure here means a damaged batch
                raise DamagedBatch(self.path, bid, f"{ARRAYS} does not open "
                                   f"({type(exc).__name__})") from None
        return self._groups[bid]

    def _has(self, bid: str, name: str) -> bool:
        return f"{ARRAYS}/{name}/zarr.json" in self._sums(bid) and name in self._group(bid)

    def _read(self, bid: str, name: str, index: Any = ()) -> np.ndarray:
        """``array[index]`` of one batch, its metadata and chunks checked at their first
        read; a missing, altered or undecodable chunk is an error."""
        g = self._group(bid)
        if f"{ARRAYS}/{name}/zarr.json" not in self._sums(bid):
            raise DamagedBatch(self.path, bid, f"array {name} is missing")
        self._check(bid, f"{ARRAYS}/{name}/zarr.json")
        first = index[0] if isinstance(index, tuple) and index else index
        first = int(first) if isinstance(first, int | np.integer) else None
        self._check_chunks(bid, name, first)
        try:
            if (bid, name) not in self._arrays:  # its metadata read once, as checked
                self._arrays[bid, name] = g[name]
            return np.asarray(self._arrays[bid, name][index])
        except Exception as exc:  # noqa: BLE001 - zarr's, numcodecs' or the OS's: damaged
            raise DamagedBatch(self.path, bid, f"array {name} does not read "
                               f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
                               ) from None

    def _tensors(self, bid: str, path: Path, index: Any) -> dict[str, np.ndarray]:
        self._check(bid, path.relative_to(self._dir(bid)).as_posix())
        try:
            return {k: v[index] for k, v in load_file(str(path)).items()}
        except FileNotFoundError:
            what = f"{path.relative_to(self._dir(bid))} is missing"
        except Exception as exc:  # noqa: BLE001 - safetensors' errors: a damaged file
            what = f"{path.name} does not load ({type(exc).__name__})"
        raise DamagedBatch(self.path, bid, what)

    def config(self, run_id: str) -> RunConfig:
        """The run's full config."""
        if run_id not in self.runs.index:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        try:
            return config_from_row(self.runs.loc[run_id])
        except Exception as exc:  # noqa: BLE001 - a row the config cannot be rebuilt from
            what = " ".join(str(exc).split())[:120]
            raise DamagedBatch(self.path, str(self.runs.loc[run_id, "batch_id"]),
                               f"the config of run {run_id} does not load ({what})") from None

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
        bid, _, _ = self._locate(run_id)
        return sorted(snapshot_step(Path(k)) for k in self._sums(bid)
                      if k.startswith(f"{SNAPSHOTS}/") and BATCH_FILE_RE.fullmatch(k))

    def snapshot(self, run_id: str, step: int) -> dict[str, np.ndarray]:
        """Parameters of one run at a snapshot step (as :meth:`weights`)."""
        bid, i, bdir = self._locate(run_id)
        f = snapshot_file(bdir, step)
        if step not in self.snapshot_steps(run_id):
            raise StoreError(f"run {run_id!r} has no snapshot at step {step}")
        return self._tensors(bid, f, i)

    def model(self, run_id: str, step: int | None = None) -> torch.nn.Module:
        """The run's model (the MLP, or the transformer of a ``model = "transformer"`` run:
        :func:`circle_survival.training.modules.module_from_config`) with its final weights
        (``step`` None or the run's last step) or the parameters of its snapshot at ``step``;
        StoreError naming the stored steps otherwise."""
        cfg = self.config(run_id)
        if step is None or step == cfg.steps:
            state = self.weights(run_id)
        else:
            stored = self.snapshot_steps(run_id)
            if step not in stored:
                have = ", ".join(map(str, stored)) or "none"
                raise StoreError(f"run {run_id!r} has no parameters at step {step} "
                                 f"(snapshots: {have}; final: {cfg.steps})")
            state = self.snapshot(run_id, step)
        from ..training.modules import module_from_config

        return module_from_config(cfg, state)

    def run_ids(self, run_ids: Iterable[str] | None = None) -> list[str]:
        """``run_ids`` as a list of strings (default: every run), each checked to be here."""
        ids = [str(r) for r in (self.runs.index if run_ids is None else run_ids)]
        missing = [r for r in ids if r not in self.runs.index]
        if missing:
            raise StoreError(f"no run {missing[0]!r} in {self.path}")
        return ids

    def require_runs(self) -> Store:
        """This store, or StoreError "STORE: no complete runs" when it holds none: the one
        check every analysis of a whole store makes first."""
        if self.runs.empty:
            raise StoreError(f"{self.path}: no complete runs")
        return self

    def signals_frame(self, run_ids: Iterable[str] | None = None,
                      steps: Sequence[int] | None = None) -> pd.DataFrame:
        """S_k of many runs, one row per (run, recorded step, k): columns run_id, step, k,
        signal (k = 0 .. p//2). ``steps``: keep only these recorded steps (default: all)."""
        frames = []
        for rid in self.run_ids(run_ids):
            t, sig = self.signals(rid)
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

    def metrics_frame(self, run_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Losses and accuracies of many runs, one row per (run, recorded step, metric):
        columns run_id, step, metric (train_loss, train_acc, test_loss, test_acc), value."""
        frames = []
        for rid in self.run_ids(run_ids):
            long = self.metrics(rid).melt(id_vars="step", var_name="metric",
                                          value_name="value")
            long.insert(0, "run_id", rid)
            frames.append(long)
        if not frames:
            return pd.DataFrame({"run_id": [], "step": [], "metric": [], "value": []})
        return pd.concat(frames, ignore_index=True)

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


