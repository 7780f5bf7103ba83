"""What keeps a store honest: the checksums of a batch's files, the checks of a batch's table,
the permissions of written files, and operating-system errors as one line.

A batch records the SHA-256 of every file it holds in ``checksums.json`` when it is committed;
:func:`changed_files` compares the files on disk with it (every byte), :func:`lost_files` only
whether each listed file is there as a plain file (a stat each). :func:`check_table` is the
cheap check every :func:`store.load` makes of a batch's table (columns, types, run ids of
their pattern, ``batch_id`` the digest of them, ``batch_index``); a batch that fails it is
*damaged*: reported as "batch X of store S is damaged: what" and left out, so the rest of the
store stays usable. Nothing here follows a link: a link inside a batch is damage.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import StoreError, StoreWarning
from .layout import BATCH_FILE_RE, COMPLETE, RUN_ID_RE, batch_id_for, plain_file

#: the file of a committed batch that lists its files' checksums
CHECKSUMS = "checksums.json"


class DamagedBatch(StoreError):
    """One batch of a store is damaged; the message says which, of which store, and how."""

    def __init__(self, store: str | Path, batch_id: str, what: str):
        self.store, self.batch_id, self.what = Path(store), batch_id, what
        super().__init__(f"batch {batch_id} of store {store} is damaged: {what}")

    def __reduce__(self):  # picklable, for errors raised in worker processes
        return type(self), (self.store, self.batch_id, self.what)


class DamagedBatchWarning(StoreWarning):
    """A damaged batch was left out of a store that was opened without ``verify``."""


def os_error_line(what: str, exc: OSError) -> str:
    """``what: reason (path)`` for an OSError: one line, the system's words for the reason."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__
    name = str(exc.filename or "")
    where = f" ({name if len(name) <= 120 else name[:60] + '...' + name[-40:]})" if name else ""
    return f"{what}: {reason}{where}"


def umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_like_others(path: str | Path) -> None:
    """Give a file the permissions every other file of the store gets (0666 less the umask);
    some writers (safetensors) create theirs 0600."""
    os.chmod(path, 0o666 & ~umask())


_DIGEST = re.compile(r"[0-9a-f]{64}")


def file_digest(path: Path) -> str:
    """The SHA-256 of a plain file, opened without following a link (OSError for a link:
    ELOOP; for a directory or another kind of file: EISDIR)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a plain file", str(path))
        return hashlib.file_digest(fh, "sha256").hexdigest()


def walk_files(top: Path, rel: str = "") -> tuple[list[str], list[str]]:
    """(files, others) under ``top``, relative to it with ``rel`` before them ('/'-separated,
    sorted), never following a link: ``others`` are the links and whatever is neither a
    plain file nor a directory."""
    files: list[str] = []
    others: list[str] = []
    try:
        entries = list(os.scandir(top))
    except FileNotFoundError:
        return files, others
    for e in entries:
        name = f"{rel}{e.name}"
        if e.is_symlink():
            others.append(name)
        elif e.is_dir(follow_symlinks=False):
            sub = walk_files(Path(e.path), f"{name}/")
            files += sub[0]
            others += sub[1]
        elif e.is_file(follow_symlinks=False):
            files.append(name)
        else:
            others.append(name)
    return sorted(files), sorted(others)


def batch_files(batch_dir: Path) -> list[str]:
    """Every file of a batch directory (relative, '/'-separated, sorted), ``checksums.json``
    and the COMPLETE marker excluded (links and other kinds of files too: see
    :func:`changed_files`)."""
    return [f for f in walk_files(batch_dir)[0] if f not in (CHECKSUMS, COMPLETE)]


def write_checksums(batch_dir: Path) -> None:
    """Record the SHA-256 of every file of the batch in ``checksums.json``."""
    digests = {rel: file_digest(batch_dir / rel) for rel in batch_files(batch_dir)}
    path = batch_dir / CHECKSUMS
    path.write_text(json.dumps({"algorithm": "sha256", "files": digests}, indent=0))


def read_checksums(store: Path, batch_dir: Path) -> dict[str, str]:
    """The recorded checksums of a batch: {relative path: SHA-256}, every path one a batch
    holds (:data:`layout.BATCH_FILE_RE`); DamagedBatch when the file is missing, a link or
    does not read as such."""
    path = batch_dir / CHECKSUMS
    if not plain_file(path):
        what = "is a symbolic link" if path.is_symlink() else "is missing"
        raise DamagedBatch(store, batch_dir.name, f"{CHECKSUMS} {what}")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
        files = doc["files"]
        if not isinstance(files, dict) or not all(
                isinstance(v, str) and _DIGEST.fullmatch(v) for v in files.values()):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise DamagedBatch(store, batch_dir.name, f"unreadable {CHECKSUMS}") from None
    strange = [k for k in files if not BATCH_FILE_RE.fullmatch(k)]
    if strange:
        raise DamagedBatch(store, batch_dir.name, f"{CHECKSUMS} lists {strange[0][:80]!r}, "
                                                  "not a file of a batch")
    return files


def lost_files(batch_dir: Path, checksums: Mapping[str, str]) -> list[str]:
    """The listed files that are not there as plain files: 'X is missing', 'X is a symbolic
    link' (a stat each, no file read: the check every load makes)."""
    problems = []
    top = os.fspath(batch_dir)
    for rel in checksums:
        try:
            mode = os.lstat(f"{top}/{rel}").st_mode
        except OSError:
            mode = 0
        if not stat.S_ISREG(mode):
            problems.append(f"{rel} is a symbolic link" if stat.S_ISLNK(mode)
                            else f"{rel} is missing")
    return problems


def changed_files(batch_dir: Path, checksums: Mapping[str, str]) -> list[str]:
    """What differs from the recorded checksums: 'X is missing', 'X does not match its
    checksum', 'X is a symbolic link' (or another kind of file), 'X is not in
    checksums.json' (empty when every file is intact and no other is there)."""
    files, others = walk_files(batch_dir)
    problems = [f"{rel} is a symbolic link" if (batch_dir / rel).is_symlink()
                else f"{rel} is not a plain file" for rel in others]
    present = set(files)
    for rel, digest in checksums.items():
        if rel not in present:
            if rel not in others:
                problems.append(f"{rel} is missing")
        elif file_digest(batch_dir / rel) != digest:
            problems.append(f"{rel} does not match its checksum")
    problems += [f"{rel} is not in {CHECKSUMS}" for rel in sorted(present - set(checksums))
                 if rel not in (CHECKSUMS, COMPLETE)]
    return problems


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    return "object"


def check_table(store: Path, batch_id: str, table: pd.DataFrame,
                optional: Iterable[str] = ()) -> None:
    """Raise :class:`DamagedBatch` unless ``table`` is a batch table of ``batch_id``: the run
    and config columns present with their types, ``batch_id`` equal to the directory's name
    and ``batch_index`` exactly 0 .. M-1. ``optional``: config columns that may be absent."""
    from ..config import RunConfig

    def damaged(what: str) -> DamagedBatch:
        return DamagedBatch(store, batch_id, what)

    kinds = {"run_id": "str", "batch_id": "str", "batch_index": "int"}
    for f in fields(RunConfig):
        default = None if f.default is MISSING else f.default
        kinds[f.name] = _kind(default) if default is not None else "object"
    optional = set(optional)
    missing = [c for c in kinds if c not in table.columns and c not in optional]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise damaged(f"runs.parquet lacks the column(s) {', '.join(missing[:4])}{more}")
    if table.empty:
        raise damaged("runs.parquet holds no runs")
    for col, kind in kinds.items():
        if col not in table.columns:
            continue
        s = table[col]
        ok = {
            "int": pd.api.types.is_integer_dtype(s),
            "float": pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s),
            "bool": pd.api.types.is_bool_dtype(s),
            "str": s.map(lambda v: isinstance(v, str)).all(),
            "object": True,
        }[kind]
        if not ok:
            raise damaged(f"column {col} has type {s.dtype}, expected {kind}")
    if not (table["batch_id"] == batch_id).all():
        other = table.loc[table["batch_id"] != batch_id, "batch_id"].iloc[0]
        raise damaged(f"its table names batch {str(other)[:80]!r}")
    bad = table.loc[~table["run_id"].str.fullmatch(RUN_ID_RE.pattern), "run_id"]
    if len(bad):
        raise damaged(f"its table holds the run id {str(bad.iloc[0])[:80]!r}, not a run id")
    if sorted(table["batch_index"].tolist()) != list(range(len(table))):
        raise damaged(f"batch_index is not 0 .. {len(table) - 1}")
    if table["run_id"].duplicated().any():
        raise damaged("a run appears twice in its table")
    if batch_id_for(table.sort_values("batch_index")["run_id"].tolist()) != batch_id:
        raise damaged("its run ids are not those the batch was written with (its id is "
                      "their digest)")

