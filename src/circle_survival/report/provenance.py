"""Where a result came from: package version, git commit, library versions, device, dtype, date
and the command that made it.

:func:`provenance` returns a flat dict of strings, written into every ``result.json`` and shown
on the report page. Device and dtype are read from the runs table of the store the result was
analysed from (its ``resolved_device`` and ``dtype`` columns); several values are joined with
", ".
"""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._version import __version__

#: the keys of a provenance record, in the order the report shows them
PROVENANCE_KEYS = ("package", "git_commit", "torch", "python", "device", "dtype", "date",
                   "command")
#: what the report shows for a key a record lacks
NOT_RECORDED = "not recorded"


def git_commit(root: Path | None = None) -> str | None:
    """The commit checked out in the source tree the package is imported from (with
    "+modified" when tracked files differ from it), or None outside a git checkout."""
    root = root or Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD", "--"],
                               capture_output=True, timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+modified" if dirty else "")


def _distinct(runs: Any, column: str) -> str | None:
    if runs is None or column not in getattr(runs, "columns", ()):
        return None
    values = sorted({str(v) for v in runs[column].dropna()})
    return ", ".join(values) if values else None


def provenance(runs: Any = None, command: Sequence[str] | None = None) -> dict[str, str]:
    """The provenance record of a result.

    runs: the runs table (a pandas DataFrame with ``resolved_device`` and ``dtype`` columns)
    the result was computed from; without it device and dtype are "not recorded".
    command: the command line (default ``sys.argv``, its program name shortened to
    ``circle-survival``).
    """
    import torch

    argv = list(sys.argv if command is None else command)
    if argv and command is None:
        argv[0] = "circle-survival"
    return {
        "package": f"circle-survival {__version__}",
        "git_commit": git_commit() or "none (not a git checkout)",
        "torch": torch.__version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "device": _distinct(runs, "resolved_device") or NOT_RECORDED,
        "dtype": _distinct(runs, "dtype") or NOT_RECORDED,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": shlex.join(argv) if argv else NOT_RECORDED,
    }
