"""Every path under a store: the one place that names STORE/'s files and directories.

Layout::

    STORE/
      circle-survival-store.json     marker: {"format": "circle-survival-store", "version": 1}
      batches/<batch_id>/            one complete batch (see ``store.py`` for its files)
        COMPLETE                     written last, before the batch is renamed into place
        runs.parquet                 one row per run
        arrays.zarr/                 the records (``records.array_shapes``)
        weights.safetensors          final parameters, leading run axis
        snapshots/step_XXXXXXXX.safetensors   parameters at chosen steps, if asked
        checkpoint.safetensors       (partial batches only) the state to resume from
        run_ids.json                 the batch's run ids, in batch order
        checksums.json               the SHA-256 of every file, written at commit time
      tmp/<batch_id>.<host>.<pid>.<random>/   batches being written (ignored by readers)
      tmp/<...>.unloadable.safetensors        a checkpoint that did not load, set aside
      sweep.lock                     held briefly while a sweep records itself and cleans up
      claims/<batch_id>.json         the worker training a batch now: host, pid, lease
      sweeps/<name>.json             the spec and run ids of each sweep trained into it
      sweeps/<name>~<digest>.json    an earlier spec recorded under the same name
      results/<name>-<scale>/        what ``circle-survival reproduce`` writes: result.json
                                     (the numbers, claims and figure names) and the figures

A batch's id is a digest of its ordered run ids (16 hex digits, never a path). Only plain
directories (no links) under ``tmp/`` are ever adopted or removed. A partial batch's directory
name says which process of which host writes it, so a later process can tell an abandoned one
(its writer no longer runs on this host) from a live one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MARKER = "circle-survival-store.json"
BATCHES = "batches"
TMP = "tmp"
LOCK_FILE = "sweep.lock"
CLAIMS = "claims"
SWEEPS = "sweeps"
RESULTS = "results"
RESULT_FILE = "result.json"
# files of one batch directory
COMPLETE = "COMPLETE"
RUNS_TABLE = "runs.parquet"
ARRAYS = "arrays.zarr"
WEIGHTS = "weights.safetensors"
SNAPSHOTS = "snapshots"
CHECKPOINT = "checkpoint.safetensors"
RUN_IDS = "run_ids.json"
UNLOADABLE = ".unloadable.safetensors"


def batch_id_for(run_ids: Sequence[str]) -> str:
    """A batch's id: a digest of its (ordered) run ids."""
    return hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:16]


def snapshot_file(batch_dir: Path, step: int) -> Path:
    """The snapshot of a batch at ``step``."""
    return batch_dir / SNAPSHOTS / f"step_{step:08d}.safetensors"


def snapshot_step(path: Path) -> int:
    """The step of a snapshot file (the inverse of :func:`snapshot_file`)."""
    return int(path.stem.split("_")[1])


@dataclass(frozen=True)
class StoreLayout:
    """The paths of one store at ``root``."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def batches(self) -> Path:
        return self.root / BATCHES

    def batch(self, batch_id: str) -> Path:
        """The directory of a complete batch."""
        return self.batches / batch_id

    def is_complete(self, batch_id: str) -> bool:
        return (self.batch(batch_id) / COMPLETE).is_file()

    def batch_dirs(self) -> list[Path]:
        """Every entry under ``batches/``, sorted by name (readers check each is a plain
        directory named by a batch id)."""
        return sorted(self.batches.iterdir()) if self.batches.is_dir() else []

    @property
    def tmp(self) -> Path:
        return self.root / TMP

    def new_partial(self, batch_id: str) -> Path:
        """A fresh name for a batch this process is about to write."""
        return self.tmp / f"{batch_id}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"

    def partials(self, batch_id: str | None = None) -> list[Path]:
        """Partial batches (of one batch id, or all), sorted by name."""
        if not self.tmp.is_dir() or self.tmp.is_symlink():
            return []
        found = self.tmp.glob("*" if batch_id is None else f"{batch_id}.*")
        return sorted(d for d in found if plain_dir(d) and partial_owner(d.name))

    def remove_stale_partials(self) -> None:
        """Remove partial batches left by processes of this host that no longer run, except
        those with a checkpoint, which the next attempt at the same batch resumes."""
        for d in self.partials():
            if abandoned(d.name) and not (d / CHECKPOINT).is_file():
                shutil.rmtree(d, ignore_errors=True)

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def claims(self) -> Path:
        return self.root / CLAIMS

    def claim_file(self, batch_id: str) -> Path:
        """The claim of the worker training ``batch_id`` now (see ``sweep/claims.py``)."""
        return self.claims / f"{batch_id}.json"

    def claim_files(self) -> list[Path]:
        """Every claim file, sorted (not the claims' private temporary files)."""
        if not self.claims.is_dir() or self.claims.is_symlink():
            return []
        return sorted(self.claims.glob("[0-9a-f]*.json"))

    @property
    def sweeps(self) -> Path:
        return self.root / SWEEPS

    def sweep_record(self, name: str) -> Path:
        return self.sweeps / f"{name}.json"

    def replaced_sweep_record(self, name: str, digest: str) -> Path:
        """Where an earlier record under ``name`` is kept when another spec takes the name."""
        return self.sweeps / f"{name}~{digest}.json"

    def sweep_records(self) -> list[Path]:
        return sorted(self.sweeps.glob("*.json"))

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    def result_dir(self, name: str, scale: str) -> Path:
        """Where an experiment reproduced at a scale writes its figures and numbers."""
        return self.results / f"{name}-{scale}"

    def result_files(self) -> list[Path]:
        """The result.json of every experiment reproduced into the store, sorted."""
        return sorted(self.results.glob(f"*/{RESULT_FILE}"))


def plain_dir(path: Path) -> bool:
    """A directory that is not a symbolic link."""
    return path.is_dir() and not path.is_symlink()


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_batch_id(text: str) -> bool:
    """Whether ``text`` is a batch id (16 hex digits: never a path)."""
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _host() -> str:
    return socket.gethostname().replace(".", "-") or "host"


def partial_owner(name: str) -> tuple[str, str, int] | None:
    """(batch_id, host, pid) of a partial batch's directory name, None if not one of ours."""
    parts = name.split(".")
    if len(parts) != 4 or not parts[2].isdigit() or not is_batch_id(parts[0]):
        return None
    return parts[0], parts[1], int(parts[2])


def abandoned(name: str, *, own_process_too: bool = False, other_hosts: bool = False) -> bool:
    """Whether a partial batch was left by a process of this host that no longer runs (or,
    with ``own_process_too``, by this very process). Batches of other hosts are only with
    ``other_hosts`` (the caller holds the batch's claim, so their writer's claim lapsed)."""
    owner = partial_owner(name)
    if owner is None:
        return False
    if owner[1] != _host():
        return other_hosts
    if owner[2] == os.getpid():
        return own_process_too
    return not process_alive(owner[2])
