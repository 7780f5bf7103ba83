"""A sweep's record in its store (``STORE/sweeps/<name>.json``: the spec and its run ids) and
the status of a store: runs per recorded sweep, partial batches, who holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import StoreError
from ..store import load
from ..store.create import write_new
from ..store.layout import SWEEPS, StoreLayout, abandoned, plain_file, process_alive
from .claims import DEFAULT_LEASE, Claim, live_claims
from .lock import holder_alive, read_holder
from .spec import SweepSpec


def record_sweep(store: str | Path, spec: SweepSpec,
                 batches: Sequence[Sequence[str]] | None = None,
                 max_batch: int | None = None) -> Path:
    """Write the spec and its run ids to ``STORE/sweeps/<name>.json`` (atomically), with the
    batching it trains in (``batches``: run ids per batch, planned with ``max_batch``) and
    the recording process (host, pid), so that other workers of the same sweep batch alike.

    A record of another spec under the same name is kept, renamed to
    ``<name>~<digest of its spec>.json``, so the runs it lists stay accounted for.
    """
    layout = StoreLayout(store)
    layout.ensure(SWEEPS)
    path = layout.sweep_record(spec.name)
    if path.is_file() or path.is_symlink():
        earlier = (read_record(path) or {}).get("spec")
        if earlier != spec.to_dict():
            text = json.dumps(earlier, sort_keys=True).encode()
            os.replace(path, layout.replaced_sweep_record(
                spec.name, hashlib.sha256(text).hexdigest()[:8]))
    tmp = layout.sweeps / f".{spec.name}.json.{os.getpid()}.{os.urandom(4).hex()}"
    write_new(tmp, json.dumps({
        "name": spec.name, "spec": spec.to_dict(), "n_runs": len(spec),
        "run_ids": spec.run_ids(), "package_version": __version__,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "recorded_time": time.time(),
        "host": socket.gethostname(), "pid": os.getpid(), "max_batch": max_batch,
        "batches": [list(b) for b in batches] if batches is not None else None,
    }, indent=1).encode())
    os.replace(tmp, path)
    return path


def read_record(path: Path) -> dict[str, Any] | None:
    """A sweep record as written by :func:`record_sweep`; None if it does not read (or is
    not a plain file: a link is never followed)."""
    if not plain_file(path):
        return None
    try:
        rec = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def recorded_batching(store: str | Path, spec: SweepSpec) -> dict[str, Any] | None:
    """The batching recorded for this very spec: ``{"batches": [[run ids]], "max_batch",
    "live"}``, ``live`` telling whether a worker may be training it now (the recording
    process still runs on this host, or was recorded less than a lease ago elsewhere, or a
    claim of the sweep is live); None when there is none."""
    rec = read_record(StoreLayout(store).sweep_record(spec.name))
    if rec is None or rec.get("spec") != spec.to_dict() or not isinstance(
            rec.get("batches"), list):
        return None
    host, pid = rec.get("host"), rec.get("pid")
    if host == socket.gethostname() and isinstance(pid, int):
        recorder = pid != os.getpid() and process_alive(pid)
    else:
        recorder = time.time() - float(rec.get("recorded_time") or 0) < DEFAULT_LEASE
    live = recorder or any(c.sweep == spec.name for c in live_claims(store))
    return {"batches": rec["batches"], "max_batch": rec.get("max_batch"), "live": live}


def recorded_specs(store: str | Path) -> list[tuple[str, SweepSpec]]:
    """Every sweep recorded in the store, as (record name, spec); records that do not read
    are left out."""
    out = []
    for f in StoreLayout(store).sweep_records():
        rec = read_record(f)
        try:
            out.append((f.stem, SweepSpec.from_dict(rec["spec"])))
        except Exception:  # noqa: BLE001 - a damaged or older record: not a spec to judge by
            continue
    return out


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
    for f in layout.sweep_records():  # StoreError for an entry that is not a record
        try:
            rec = json.loads(f.read_bytes().decode("utf-8"))
            ids = rec["run_ids"]
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
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
