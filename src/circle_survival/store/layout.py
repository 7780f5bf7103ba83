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
      damaged/<batch_id>.<time>/     a damaged batch set aside by a sweep (moved, never
                                     deleted), whose runs it trained again

A batch's id is a digest of its ordered run ids (16 hex digits, never a path). Every id and
name read back from a store is checked against the pattern it was written with
(:func:`is_batch_id`, :func:`is_run_id`, :func:`is_name`) before a path is built from it. The
store's own folders are never followed as links: each is refused (StoreError) when it is one,
and every path written into a store or an output folder goes through :func:`safe_path`, which
refuses one that does not resolve where it should. Only plain directories (no links) under
``tmp/`` are ever adopted or removed. A partial batch's directory name says which process of
which host writes it, so a later process can tell an abandoned one (its writer no longer runs
on this host) from a live one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError

MARKER = "circle-survival-store.json"
BATCHES = "batches"
TMP = "tmp"
LOCK_FILE = "sweep.lock"
CLAIMS = "claims"
SWEEPS = "sweeps"
RESULTS = "results"
RESULT_FILE = "result.json"
DAMAGED = "damaged"
#: the folders of a store, each a plain directory inside it (never a link)
FOLDERS = (BATCHES, TMP, CLAIMS, SWEEPS, RESULTS, DAMAGED)
# files of one batch directory
COMPLETE = "COMPLETE"
RUNS_TABLE = "runs.parquet"
ARRAYS = "arrays.zarr"
WEIGHTS = "weights.safetensors"
SNAPSHOTS = "snapshots"
CHECKPOINT = "checkpoint.safetensors"
RUN_IDS = "run_ids.json"
UNLOADABLE = ".unloadable.safetensors"

#: a run id as ``RunConfig.run_id`` makes it: p59-d128-e0-m0-s0-4197521dde
RUN_ID_RE = re.compile(r"p[0-9]+-d[0-9]+-e[0-9]+-m[0-9]+-s[0-9]+-[0-9a-f]{10}")
#: a sweep's, an experiment's or a scale's name (``SweepSpec.name``): letters, digits, '.',
#: '_', '-', the first a letter or digit
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: a sweep record's file name: NAME.json, or NAME~DIGEST.json for a replaced spec
RECORD_RE = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(~[0-9a-f]{8})?\.json")
#: the files of a committed batch (relative paths), besides COMPLETE and checksums.json
BATCH_FILE_RE = re.compile(r"runs\.parquet|run_ids\.json|weights\.safetensors"
                           r"|snapshots/step_[0-9]{8}\.safetensors|arrays\.zarr/zarr\.json"
                           r"|arrays\.zarr/[a-z_]+/(zarr\.json|c(/[0-9]+)+)")


def batch_id_for(run_ids: Sequence[str]) -> str:
    """A batch's id: a digest of its (ordered) run ids."""
    return hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:16]


def snapshot_file(batch_dir: Path, step: int) -> Path:
    """The snapshot of a batch at ``step``."""
    return batch_dir / SNAPSHOTS / f"step_{step:08d}.safetensors"


def snapshot_step(path: Path) -> int:
    """The step of a snapshot file (the inverse of :func:`snapshot_file`)."""
    return int(path.stem.split("_")[1])


def is_batch_id(text: object) -> bool:
    """Whether ``text`` is a batch id (16 hex digits: never a path)."""
    return isinstance(text, str) and len(text) == 16 and all(
        c in "0123456789abcdef" for c in text)


def is_run_id(text: object) -> bool:
    """Whether ``text`` is a run id as :attr:`RunConfig.run_id` writes it (never a path)."""
    return isinstance(text, str) and RUN_ID_RE.fullmatch(text) is not None


def is_name(text: object) -> bool:
    """Whether ``text`` is a sweep's, experiment's or scale's name (never a path)."""
    return isinstance(text, str) and NAME_RE.fullmatch(text) is not None


def safe_path(base: str | Path, *names: str) -> Path:
    """``base/names...``, checked to resolve where it should: each name one plain component
    (no separator, not '.' or '..', not empty) and no existing part below ``base`` a link
    (``base`` itself may be one: it is the caller's). The one way a path is made for writing
    into a store or an output folder; StoreError (one line) otherwise."""
    base = Path(base)
    for n in names:
        if (not isinstance(n, str) or not n or n in (".", "..") or "/" in n or "\0" in n
                or (os.sep != "/" and os.sep in n)):
            raise StoreError(f"{base}: {str(n)[:80]!r} is not a plain file name; nothing is "
                             "written there")
    path = base.joinpath(*names)
    if names and os.path.realpath(path) != os.path.join(os.path.realpath(base), *names):
        raise StoreError(f"{path} is a symbolic link or lies under one inside {base}; it "
                         "must be a plain file or folder (nothing is written through a link)")
    return path


def plain_file(path: Path) -> bool:
    """A regular file that is not a symbolic link."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


@dataclass(frozen=True)
class StoreLayout:
    """The paths of one store at ``root``. Each of the store's folders is refused
    (StoreError) when it is a symbolic link or not a directory; a batch's, claim's, sweep's
    or result's path only for an id or name of its pattern."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def folder(self, name: str) -> Path:
        """One of the store's folders (:data:`FOLDERS`): refused when it is a link or a file."""
        path = self.root / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return path
        except OSError:
            return path  # (the caller's own access says why, in one line)
        if stat.S_ISLNK(mode):
            raise StoreError(f"store {self.root}: {name}/ is not a plain directory but a "
                             "symbolic link; a store's folders must be plain directories "
                             "inside it")
        if not stat.S_ISDIR(mode):
            raise StoreError(f"store {self.root}: {name} is not a directory")
        return path

    def check_folders(self) -> None:
        """Refuse a store any of whose folders is a link or a file."""
        for name in FOLDERS:
            self.folder(name)

    def ensure(self, name: str) -> Path:
        """One of the store's folders, created if need be (never through a link)."""
        path = self.folder(name)
        path.mkdir(exist_ok=True)
        return self.folder(name)

    @property
    def batches(self) -> Path:
        return self.folder(BATCHES)

    def batch(self, batch_id: str) -> Path:
        """The directory of a complete batch."""
        return self.batches / self._id(batch_id)

    def _id(self, batch_id: str) -> str:
        if not is_batch_id(batch_id):
            raise StoreError(f"store {self.root}: {str(batch_id)[:80]!r} is not a batch id")
        return batch_id

    def is_complete(self, batch_id: str) -> bool:
        """Whether ``batches/<batch_id>`` is a plain directory holding its COMPLETE marker
        as a plain file (a link is never complete; :func:`loading.check_batch` checks more)."""
        d = self.batch(batch_id)
        return plain_dir(d) and plain_file(d / COMPLETE)

    def batch_dirs(self) -> list[Path]:
        """Every entry under ``batches/``, sorted by name (readers check each is a plain
        directory named by a batch id)."""
        batches = self.batches
        return sorted(batches.iterdir()) if batches.is_dir() else []

    @property
    def tmp(self) -> Path:
        return self.folder(TMP)

    def new_partial(self, batch_id: str) -> Path:
        """A fresh name for a batch this process is about to write."""
        return self.tmp / (f"{self._id(batch_id)}.{_host()}.{os.getpid()}."
                           f"{uuid.uuid4().hex[:8]}")

    def partials(self, batch_id: str | None = None) -> list[Path]:
        """Partial batches (of one batch id, or all), sorted by name."""
        tmp = self.tmp
        if not tmp.is_dir():
            return []
        found = tmp.glob("*" if batch_id is None else f"{self._id(batch_id)}.*")
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
        return self.folder(CLAIMS)

    def claim_file(self, batch_id: str) -> Path:
        """The claim of the worker training ``batch_id`` now (see ``sweep/claims.py``)."""
        return self.claims / f"{self._id(batch_id)}.json"

    def claim_files(self) -> list[Path]:
        """Every claim file, sorted (not the claims' private temporary files)."""
        claims = self.claims
        if not claims.is_dir():
            return []
        return sorted(f for f in claims.glob("[0-9a-f]*.json")
                      if is_batch_id(f.name.removesuffix(".json")))

    @property
    def sweeps(self) -> Path:
        return self.folder(SWEEPS)

    def sweep_record(self, name: str) -> Path:
        return self.sweeps / f"{_checked_name(self.root, name, 'sweep')}.json"

    def replaced_sweep_record(self, name: str, digest: str) -> Path:
        """Where an earlier record under ``name`` is kept when another spec takes the name."""
        return self.sweeps / f"{_checked_name(self.root, name, 'sweep')}~{digest}.json"

    def sweep_records(self) -> list[Path]:
        """Every sweep record, sorted; StoreError for an entry that looks like one (NAME.json)
        but is a link or not named as a sweep is (a damaged store: nothing silently left
        out)."""
        sweeps = self.sweeps
        if not sweeps.is_dir():
            return []
        out = []
        for f in sorted(sweeps.glob("*.json")):
            if not RECORD_RE.fullmatch(f.name) or not plain_file(f):
                raise StoreError(f"store {self.root}: {SWEEPS}/{f.name[:80]!r} is not a sweep "
                                 "record (a plain file named NAME.json, NAME a sweep's name); "
                                 "move it out of the store")
            out.append(f)
        return out

    @property
    def results(self) -> Path:
        return self.folder(RESULTS)

    def result_dir(self, name: str, scale: str) -> Path:
        """Where an experiment reproduced at a scale writes its figures and numbers (checked
        by :func:`safe_path`: never through a link)."""
        folder = f"{_checked_name(self.root, name, 'experiment')}-" \
                 f"{_checked_name(self.root, scale, 'scale')}"
        return safe_path(self.results, folder)

    def result_files(self) -> list[Path]:
        """The result.json of every experiment reproduced into the store, sorted; StoreError
        for a result folder that is a link or not named NAME-SCALE, or a result.json that is
        not a plain file."""
        results = self.results
        if not results.is_dir():
            return []
        out = []
        for d in sorted(results.iterdir()):
            if d.is_symlink() or (d.is_dir() and not is_name(d.name)):
                raise StoreError(f"store {self.root}: {RESULTS}/{d.name[:80]!r} is not a "
                                 "result folder (a plain directory named NAME-SCALE)")
            f = d / RESULT_FILE
            if d.is_dir() and (f.exists() or f.is_symlink()):
                if not plain_file(f):
                    raise StoreError(f"store {self.root}: {f.relative_to(self.root)} is not a "
                                     "plain file")
                out.append(f)
        return out

    @property
    def damaged(self) -> Path:
        return self.folder(DAMAGED)

    def damaged_batch(self, batch_id: str) -> Path:
        """A fresh place to set a damaged batch aside: ``damaged/<batch_id>.<time>``."""
        stem = f"{self._id(batch_id)}.{time.strftime('%Y%m%dT%H%M%S')}"
        path, n = self.damaged / stem, 1
        while os.path.lexists(path):
            path, n = self.damaged / f"{stem}.{n}", n + 1
        return path


def _checked_name(root: Path, name: str, what: str) -> str:
    if not is_name(name):
        raise StoreError(f"store {root}: {str(name)[:80]!r} is not a {what} name (letters, "
                         "digits, '.', '_' or '-')")
    return name


def plain_dir(path: Path) -> bool:
    """A directory that is not a symbolic link."""
    return path.is_dir() and not path.is_symlink()


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie, dead but not yet reaped by
    its parent, does not: it writes nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state after the command's closing parenthesis
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


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
