"""What keeps a store honest: the checksums of a batch's files, the checks of a batch's table,
the permissions of written files, and operating-system errors as one line.

A batch records the SHA-256 of every file it holds in ``checksums.json`` when it is committed;
:func:`changed_files` compares the files on disk with it. :func:`check_table` is the cheap check
every :func:`store.load` makes of a batch's table (columns, types, ``batch_id``,
``batch_index``); a batch that fails it is *damaged*: reported as "batch X of store S is
damaged: what" and left out, so the rest of the store stays usable.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import StoreError, StoreWarning

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


def file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def batch_files(batch_dir: Path) -> list[str]:
    """Every file of a batch directory (relative, '/'-separated, sorted), ``checksums.json``
    and the COMPLETE marker excluded."""
    out = []
    for root, _, names in os.walk(batch_dir):
        for n in names:
            rel = (Path(root) / n).relative_to(batch_dir).as_posix()
            if rel not in (CHECKSUMS, "COMPLETE"):
                out.append(rel)
    return sorted(out)


def write_checksums(batch_dir: Path) -> None:
    """Record the SHA-256 of every file of the batch in ``checksums.json``."""
    digests = {rel: file_digest(batch_dir / rel) for rel in batch_files(batch_dir)}
    path = batch_dir / CHECKSUMS
    path.write_text(json.dumps({"algorithm": "sha256", "files": digests}, indent=0))


def read_checksums(store: Path, batch_dir: Path) -> dict[str, str] | None:
    """The recorded checksums of a batch (None for a batch committed before they existed)."""
    path = batch_dir / CHECKSUMS
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
        files = doc["files"]
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise DamagedBatch(store, batch_dir.name, f"unreadable {CHECKSUMS}") from None
    return files


def changed_files(batch_dir: Path, checksums: Mapping[str, str]) -> list[str]:
    """What differs from the recorded checksums: 'X is missing', 'X does not match its
    checksum' (empty when every file is intact)."""
    problems = []
    for rel, digest in checksums.items():
        f = batch_dir / rel
        if not f.is_file():
            problems.append(f"{rel} is missing")
        elif file_digest(f) != digest:
            problems.append(f"{rel} does not match its checksum")
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
        raise damaged(f"its table names batch {other!r}")
    if sorted(table["batch_index"].tolist()) != list(range(len(table))):
        raise damaged(f"batch_index is not 0 .. {len(table) - 1}")
    if table["run_id"].duplicated().any():
        raise damaged("a run appears twice in its table")

