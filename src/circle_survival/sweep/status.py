"""A sweep's record in its store (``STORE/sweeps/<name>.json``: the spec and its run ids) and
the status of a store: runs per recorded sweep, partial batches, who holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import StoreError
from ..store import load
from ..store.layout import StoreLayout, abandoned
from .claims import Claim, live_claims
from .lock import holder_alive, read_holder
from .spec import SweepSpec


def record_sweep(store: str | Path, spec: SweepSpec) -> Path:
    """Write the spec and its run ids to ``STORE/sweeps/<name>.json`` (atomically).

    A record of another spec under the same name is kept, renamed to
    ``<name>~<digest of its spec>.json``, so the runs it lists stay accounted for.
    """
    layout = StoreLayout(store)
    layout.sweeps.mkdir(exist_ok=True)
    path = layout.sweep_record(spec.name)
    if path.is_file():
        try:
            earlier = json.loads(path.read_bytes().decode("utf-8")).get("spec")
        except (OSError, ValueError, AttributeError):
            earlier = None
        if earlier != spec.to_dict():
            text = json.dumps(earlier, sort_keys=True).encode()
            os.replace(path, layout.replaced_sweep_record(
                spec.name, hashlib.sha256(text).hexdigest()[:8]))
    tmp = layout.sweeps / f".{spec.name}.json.{os.getpid()}"
    tmp.write_text(json.dumps({
        "name": spec.name, "spec": spec.to_dict(), "n_runs": len(spec),
        "run_ids": spec.run_ids(), "package_version": __version__,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }, indent=1))
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class SweepProgress:
    """One recorded sweep's progress in a store."""

    name: str
    complete: int
    expected: int


@dataclass(frozen=True)
class StoreStatus:
    """What :func:`sweep_status` finds: runs per recorded sweep, partial batches (those of
    live writers and stale ones), the live claims (the batches workers train now, with their
    holders and ages), and the lock holder (None when free)."""

    path: Path
    runs: int
    sweeps: list[SweepProgress]
    partial_live: list[str]
    partial_stale: list[str]
    lock_holder: dict[str, Any] | None
    claims: list[Claim] = field(default_factory=list)


def sweep_status(store: str | Path) -> StoreStatus:
    """Progress of every sweep recorded in ``store``."""
    store = Path(store)
    layout = StoreLayout(store)
    done = set(load(store).runs.index)  # raises StoreError for a missing/foreign store
    progress = []
    for f in layout.sweep_records():
        try:
            rec = json.loads(f.read_bytes().decode("utf-8"))
            ids = rec["run_ids"]
            if not isinstance(ids, list):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise StoreError(f"{f}: damaged sweep record") from None
        # the file's stem: the sweep's name, or name~digest for a replaced spec
        progress.append(SweepProgress(f.stem, len(done & set(ids)), len(ids)))
    live, stale = [], []
    for d in layout.partials():
        if abandoned(d.name):
            stale.append(d.name)
        else:
            live.append(d.name)
    holder = read_holder(store)
    if holder is not None and holder_alive(holder) is False:
        holder = None
    return StoreStatus(store, len(done), progress, live, stale, holder, live_claims(store))
