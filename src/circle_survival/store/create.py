"""Creating a store and recognising one: its marker, the checks of a path before anything is
written, and Zarr (imported only when a store is opened or written).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from ..errors import StoreError
from .integrity import os_error_line
from .layout import (
    BATCHES,
    FOLDERS,
    LOCK_FILE,
    MARKER,
    TMP,
    StoreLayout,
    plain_file,
    safe_path,
)

FORMAT = "circle-survival-store"
VERSION = 1
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
    """Whether ``path`` holds a store's marker (False for a path the system cannot look up;
    a marker that is a link counts, so that :func:`read_marker` refuses it in one line)."""
    try:
        marker = StoreLayout(path).marker
        return marker.is_file() or marker.is_symlink()
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
            read_marker(path)
        layout = StoreLayout(path)
        layout.check_folders()
        path.mkdir(parents=True, exist_ok=True)
        layout.ensure(BATCHES)
        layout.ensure(TMP)
        if not is_store(path):
            tmp = safe_path(path, f".{MARKER}.{uuid.uuid4().hex}")
            write_new(tmp, json.dumps({"format": FORMAT, "version": VERSION}).encode())
            os.replace(tmp, layout.marker)
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot create store {path}", exc)) from None
    return path


def _store_entry(name: str) -> bool:
    """Whether a directory entry is one a store being created holds."""
    return name in (MARKER, LOCK_FILE, *FOLDERS) or name.startswith(f".{MARKER}.")


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a file that must not exist yet (never through a link planted at its
    name: ``O_EXCL``); the file gets the umask's permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


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
            read_marker(path)
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
    layout = StoreLayout(path)
    layout.check_folders()  # a link or a file in place of a folder: refused
    for sub in (layout.tmp, layout.batches):
        if sub.is_dir() and not os.access(sub, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write store {path}: {sub} is not writable")


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def read_marker(path: Path) -> dict:
    if not plain_file(StoreLayout(path).marker):
        raise StoreError(f"{path}: {MARKER} is not a plain file (a link or another kind of "
                         "file)")
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


