"""The lock a sweep holds on its store while it records itself and cleans up
(``STORE/sweep.lock``), and its holder.

The lock is an exclusive ``flock``, released by the kernel when the process dies. A sweep
holds it only for its setup (reading what is complete, checking the config, recording its
spec and batching, removing what dead processes left); the training itself is shared through
claims (:mod:`.claims`), so many sweeps run on one store at once. A sweep that finds the lock
taken waits for it up to :data:`LOCK_WAIT_SECONDS`, then gives up with a message naming the
holder (host, pid, sweep, since when).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..store.integrity import os_error_line
from ..store.layout import StoreLayout, process_alive

#: seconds a sweep waits for another one's setup to end before giving up
LOCK_WAIT_SECONDS = 120.0


class StoreLock:
    """An exclusive lock on a store (``STORE/sweep.lock``), waited for up to ``wait``
    seconds (0: refuse at once when taken).

    ``flock`` is released by the kernel when the holder dies, so a killed sweep never leaves
    a store locked. The holder's pid, host, sweep and start time are written into the file so
    that a sweep that gives up waiting (and ``status``) can say who holds it.
    """

    def __init__(self, store: str | Path, sweep: str = "", wait: float | None = None):
        self.path = StoreLayout(store).lock
        self.sweep = sweep
        self.wait = LOCK_WAIT_SECONDS if wait is None else wait
        self.fd: int | None = None

    def _take(self, fd: int) -> bool:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)

    def __enter__(self) -> StoreLock:
        fd = open_lock_file(self.path, os.O_RDWR | os.O_CREAT)
        if not self._take(fd):
            os.close(fd)
            holder = describe_holder(read_holder(self.path.parent))
            raise StoreError(f"store {self.path.parent} is in use by another sweep "
                             f"({holder}) for over {self.wait:g} s; wait for it to finish or "
                             "use another store") from None
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "sweep": self.sweep,
                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(owner).encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise StoreError(os_error_line(f"cannot lock store {self.path.parent}", exc)
                             ) from None
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def open_lock_file(path: Path, flags: int) -> int:
    """Open the lock file without following a link (a link planted there is refused: the lock
    truncates what it opens); the file gets the umask's permissions."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if path.is_symlink():
            raise StoreError(f"store {path.parent}: {path.name} is a symbolic link; remove it "
                             "(a store's lock must be a plain file)") from None
        raise StoreError(os_error_line(f"cannot lock store {path.parent}", exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(f"store {path.parent}: {path.name} is not a plain file")
    return fd


def read_holder(store: str | Path) -> dict[str, Any] | None:
    """What the lock file says about its holder (None when empty, unreadable or a link)."""
    try:
        fd = os.open(StoreLayout(store).lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            data = json.loads(fh.read(65536).decode("utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_holder(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    return (f"sweep {holder.get('sweep')!r}, pid {holder.get('pid')} on "
            f"{holder.get('host')}, since {holder.get('since')}")


def holder_alive(holder: Mapping[str, Any] | None) -> bool | None:
    """Whether the recorded holder still runs: True/False on this host, None elsewhere."""
    if not holder:
        return False
    if holder.get("host") != socket.gethostname():
        return None
    return process_alive(int(holder.get("pid", 0) or 0))
