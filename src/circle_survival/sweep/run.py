"""Running a sweep: the one way runs are trained into a store.

:func:`run_sweep`:

1. the spec is expanded and every run validated, the executor's settings and the devices
   checked, the batches planned, the store's path checked, and each batch's memory and disk
   checked against the machine (nothing is written before that);
2. the runs already complete are read from the store, once (or taken from the
   :class:`Store` passed in place of its path);
3. the store is created if need be (atomically: many processes may create one store at
   once) and, for the setup only, locked (``STORE/sweep.lock``; another sweep's setup is
   waited for): read again only if a batch was committed since (the common case reads the
   store once), the batching agreed with other workers of the same sweep, and the spec and
   its batching recorded (``STORE/sweeps/<name>.json``); partial batches of dead processes of
   this host are removed, unless they hold a checkpoint to resume from; a checkpoint of this
   sweep's runs batched otherwise than now is removed with a warning (its runs train from the
   start); a damaged batch (its table or files, read in full for the batches of the sweep's
   runs before the lock: :func:`find_damaged`) is set aside into ``STORE/damaged/`` with a
   warning naming it, and its runs train again;
4. the batches still to train are handed to an executor (:mod:`.executors`), which claims
   each batch before training it (:mod:`.claims`): many sweeps on one store, on one machine or
   many, share the batches, and each waits at the end for those the others hold. A sweep
   killed at any moment (even with SIGKILL) leaves complete batches only; running it again
   trains the rest.

:func:`train_to_store` trains a list of configs the same way, as a one-spec sweep
(:func:`.spec.spec_from_configs`).

On a GPU the default batch size follows free memory, so a resumed sweep may batch its
remaining runs differently from the first attempt; every run is still trained exactly once.
With Ray on a cluster, batch sizes are chosen on the driver (from the driver's GPU memory, or 64
models when it has none: pass ``max_batch`` to size batches for the workers' devices), and the
lock and the clean-up of partial batches are the driver's only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import RunConfig, resolve_device
from ..errors import ConfigError, StoreWarning
from ..store import (
    Store,
    check_same_base,
    check_store_path,
    import_zarr,
    init_store,
    is_store,
    load,
    read_batch_table,
    refuse_other_base,
)
from ..store.layout import CHECKPOINT, RUN_IDS, StoreLayout, abandoned, batch_id_for, is_batch_id
from ..store.loading import check_batch, set_aside
from .executors import (
    BatchCredit,
    ProgressBar,
    import_ray,
    ray_session,
    run_pool,
    run_ray,
    run_serial,
)
from .lock import StoreLock
from .plan import batch_all, check_fits, drop_done
from .slurm import SlurmOptions, check_slurm, import_submitit, run_slurm
from .spec import SweepSpec, require_choice, spec_from_configs
from .status import record_sweep, recorded_batching, recorded_specs

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray", "slurm")


@dataclass(frozen=True)
class SweepReport:
    """What :func:`run_sweep` did: runs in the sweep, those already complete before, and the
    ids trained now; ``opened``, the store as read under the lock (before training), and
    ``batches``, the ids of the batches planned then, so that :meth:`after` reads only the
    tables of the batches trained now."""

    name: str
    store: Path
    total: int
    already: int
    trained: list[str]
    opened: Store | None = None
    batches: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = field(default=())
    _after: dict[str, Store] = field(default_factory=dict, repr=False, compare=False)

    def after(self) -> Store:
        """The store after the sweep without reading it again: the runs read under the lock
        and those of the batches committed since (only their tables are read, once: every
        batch of the sweep is complete when it returns)."""
        if "store" not in self._after:
            self._after["store"] = self._read_after()
        return self._after["store"]

    def _read_after(self) -> Store:
        opened = self.opened if self.opened is not None else load(self.store)
        layout = StoreLayout(self.store)
        new = [read_batch_table(self.store, layout.batch(b)) for b in self.batches
               if layout.is_complete(b)]
        if not new:
            return opened
        before = [opened.runs.reset_index(drop=True)] if len(opened.runs) else []
        runs = pd.concat([*before, *new], ignore_index=True)  # no empty frame: keeps dtypes
        runs = runs.drop_duplicates("run_id", keep="first")
        return Store(opened.path, runs.set_index("run_id", drop=False), opened.damaged)

    def runs(self) -> pd.DataFrame:
        """The runs table of the sweep's runs, in the sweep's order (:meth:`after`)."""
        runs = self.after().runs
        return runs.loc[[r for r in dict.fromkeys(self.run_ids) if r in runs.index]]


def check_executor(executor: str, workers: int, spec: SweepSpec) -> None:
    """Refuse bad executor settings, and devices this machine lacks for a local sweep."""
    require_choice("executor", executor, EXECUTORS)
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if executor == "ray":
        import_ray()
    elif executor == "slurm":
        import_submitit()
    else:
        for device in {c.device for c in spec.configs()}:
            resolve_device(device)


def run_sweep(spec: SweepSpec, store: str | Path | Store, *, executor: str = "local",
              workers: int = 1, address: str | None = None, max_batch: int | None = None,
              ray_cpus: float = 1.0, ray_gpus: float | None = None,
              progress: bool = True, completed: Iterable[str] | None = None,
              checkpoint_seconds: float = 300.0, same_base: bool = False,
              on_start: Callable[[int, int], None] | None = None,
              slurm: SlurmOptions | None = None, slurm_dry_run: bool = False) -> SweepReport:
    """Train every run of ``spec`` not yet complete in ``store``.

    Args:
        store: the store's path, or the :class:`Store` just opened there (it is not read
            again unless a batch was committed since).
        executor: "local" (this machine), "ray" (``address``: a running cluster, or None
            for a private local Ray or the one already initialised) or "slurm" (one job
            array, :func:`.slurm.run_slurm`, with ``slurm`` its options).
        workers: local worker processes (1: train in this process).
        max_batch: models per batch (default: :func:`.plan.default_max_batch`).
        ray_cpus, ray_gpus: resources each Ray task asks for (gpus: default 1 for cuda runs).
        progress: show the progress bar on stderr.
        completed: the run ids already complete in the store, when the caller has just read
            them (default: read here).
        checkpoint_seconds: about how often a batch in flight saves its state; a process
            killed mid-batch loses at most that much work.
        same_base: refuse a store holding runs that differ from the spec's in anything but
            the seeds (checked on the store as read, before anything is written).
        on_start: called under the lock, before training, with the number of the sweep's
            runs and of those already complete.
        slurm_dry_run: print the sbatch script the slurm executor would submit for the
            batches still to train; write and submit nothing.

    Raises ConfigError / StoreError before anything is written for a bad spec, settings or
    store, and StoreError when another sweep's setup holds the store's lock too long. A batch
    another worker holds is left to it and waited for (:func:`.executors.finish_pending`).
    """
    opened = store if isinstance(store, Store) else None
    store = Path(opened.path if opened is not None else store)
    check_executor(executor, workers, spec)
    import_zarr()  # the batches are written with it: fail before writing anything
    try:
        planned = batch_all(spec, max_batch)  # before writing: a device error comes first
    except ConfigError as exc:
        if executor == "local" or max_batch is not None:
            raise
        raise ConfigError(f"{exc}; pass --max-batch to size batches for the cluster") from None
    check_store_path(store)
    if opened is None and completed is None and is_store(store):
        opened = quiet_load(store)
    suspects, intact = find_damaged(opened, spec) if opened is not None else ({}, set())
    if suspects and opened is not None:  # (set aside under the lock)
        opened = Store(opened.path, opened.runs[~opened.runs["batch_id"].isin(list(suspects))],
                       {**opened.damaged, **suspects})
    if same_base and opened is not None:
        check_same_base(opened, spec.configs()[0])
    done = set(completed if completed is not None else
               opened.runs.index if opened is not None else ())
    done &= set(spec.run_ids())
    batches = drop_done(planned, done)
    if executor == "slurm" and slurm_dry_run:
        run_slurm(batches, store, slurm or SlurmOptions(), dry_run=True)
        return SweepReport(spec.name, store, len(spec), len(done), [], opened=opened,
                           run_ids=tuple(spec.run_ids()))
    if executor == "slurm":
        check_slurm()
    check_fits(batches, store, memory=executor == "local")  # a cluster's nodes are not this one
    options = {"checkpoint_seconds": checkpoint_seconds, "sweep": spec.name}
    with contextlib.ExitStack() as stack:
        if executor == "ray" and batches:  # start Ray (or fail to) before writing anything
            stack.enter_context(ray_session(address))
        init_store(store)
        with StoreLock(store, spec.name):  # the setup only: the training is shared by claims
            now = read_under_lock(store, opened)
            found = find_damaged(now, spec, intact)[0]
            if found:
                set_aside_damaged(store, found)
                now = quiet_load(store)
            for name, what in now.damaged.items():  # not named as a batch: left, and said
                warnings.warn(f"{store}/batches/{name[:80]} is damaged: {what}; move it out "
                              "of the store", StoreWarning, stacklevel=2)
            if same_base:
                if now is not opened:
                    check_same_base(now, spec.configs()[0])
                check_recorded_bases(store, spec)
            planned = agreed_batching(store, spec, planned, max_batch)
            done = set(now.runs.index) & set(spec.run_ids())
            batches = drop_done(planned, done)
            log.info("sweep %r on %s: %d runs, %d complete, %d batch(es) to train (%s)",
                     spec.name, store, len(spec), len(done), len(batches), executor)
            if on_start is not None:
                on_start(len(spec), len(done))
            record_sweep(store, spec, [[c.run_id for c in b] for b in planned], max_batch)
            StoreLayout(store).remove_stale_partials()
            remove_rebatched_checkpoints(store, spec, batches)
        bar = ProgressBar(len(spec), len(done), enabled=progress and bool(batches))
        stack.callback(bar.close)
        credit = BatchCredit(bar, batches)
        if not batches:
            trained: list[str] = []
        elif executor == "slurm":
            trained = run_slurm(batches, store, slurm or SlurmOptions(), credit,
                                checkpoint_seconds=checkpoint_seconds)
        elif executor == "ray":
            trained = run_ray(batches, store, credit, cpus=ray_cpus, gpus=ray_gpus,
                              options=options)
        elif workers > 1 and len(batches) > 1:
            trained = run_pool(batches, store, workers, credit, options)
        else:
            trained = run_serial(batches, store, credit, options)
    return SweepReport(spec.name, store, len(spec), len(done), trained, opened=now,
                       batches=tuple(batch_id_for([c.run_id for c in b]) for b in batches),
                       run_ids=tuple(spec.run_ids()))


def find_damaged(store: Store, spec: SweepSpec, intact: Iterable[str] = ()
                 ) -> tuple[dict[str, str], set[str]]:
    """({batch id: what is wrong}, intact batch ids) of a store as read: the batches it left
    out as damaged (named by a batch id) and those holding runs of ``spec``, every byte of
    each read (:func:`check_batch`), on a few threads; those in ``intact`` (checked just
    before) are not read again."""
    from concurrent.futures import ThreadPoolExecutor

    layout = StoreLayout(store.path)
    runs = store.runs
    mine = runs.index.isin(spec.run_ids()) if "batch_id" in runs else []
    bids = set(runs.loc[mine, "batch_id"].astype(str)) if len(runs) else set()
    todo = sorted((bids | {b for b in store.damaged if is_batch_id(b)}) - set(intact))
    with ThreadPoolExecutor(max(1, min(8, len(todo), os.cpu_count() or 1))) as pool:
        found = dict(zip(todo, pool.map(lambda b: check_batch(store.path, layout.batch(b)),
                                        todo), strict=True))
    damaged = {b: what for b, what in found.items() if what is not None}
    return damaged, (set(found) - set(damaged)) | (set(intact) & bids)


def set_aside_damaged(store: Path, damaged: dict[str, str]) -> list[str]:
    """Move each damaged batch to ``damaged/`` (under the lock; another worker may have moved
    it first), with a warning naming it; return the ids set aside."""
    out = []
    for bid, what in sorted(damaged.items()):
        dst = set_aside(store, bid)
        if dst is not None:
            warnings.warn(f"batch {bid} of store {store} is damaged: {what}; set aside as "
                          f"damaged/{dst.name}, its runs train again", StoreWarning,
                          stacklevel=3)
            out.append(bid)
    return out


def agreed_batching(store: Path, spec: SweepSpec, planned: list[list[RunConfig]],
                    max_batch: int | None) -> list[list[RunConfig]]:
    """The batches this worker trains: ``planned``, or the batching recorded for the same
    spec when another worker may be training it now (so that no run is trained in two
    batches; an explicit other ``max_batch`` is then overruled, with a warning) or when both
    were planned by default (a GPU's default follows its free memory)."""
    rec = recorded_batching(store, spec)
    ids = [[c.run_id for c in b] for b in planned]
    if rec is None or rec["batches"] == ids:
        return planned
    if not (rec["live"] or (max_batch is None and rec["max_batch"] is None)):
        return planned
    by_id = {c.run_id: c for b in planned for c in b}
    recorded = [r for b in rec["batches"] for r in b]
    if sorted(recorded) != sorted(by_id) or not all(rec["batches"]):
        return planned  # a record that does not cover exactly these runs: plan afresh
    if max_batch is not None:
        warnings.warn(f"another worker trains sweep {spec.name} in store {store} in batches "
                      f"of up to {rec['max_batch'] or 'the default'} runs; this one keeps "
                      f"that batching (--max-batch {max_batch} is not used)", StoreWarning,
                      stacklevel=3)
    return [[by_id[r] for r in b] for b in rec["batches"]]


def check_recorded_bases(store: Path, spec: SweepSpec) -> None:
    """Refuse a store in which another sweep is recorded whose runs differ from this spec's
    in anything but the seeds (it may be training now, with nothing committed yet)."""
    mine = spec.configs()[0]
    for name, other in recorded_specs(store):
        if other.to_dict() != spec.to_dict():
            for cfg in {c.base_key(): c for c in other.configs()}.values():  # one per base
                refuse_other_base(store, mine, cfg, f" (sweep {name})")


def read_under_lock(store: Path, opened: Store | None) -> Store:
    """The store as it is under the lock: ``opened`` when its batches are still all there is
    (no batch committed, damaged or removed since it was read), else read again."""
    if opened is not None:
        known = set(opened.damaged)
        if "batch_id" in opened.runs:
            known |= set(opened.runs["batch_id"].astype(str))
        if {d.name for d in StoreLayout(store).batch_dirs()} == known:
            return opened
    return quiet_load(store)


def quiet_load(store: Path) -> Store:
    """The store, read without a warning for its damaged batches (a sweep sets them aside
    and says so itself: :func:`set_aside_damaged`)."""
    from ..store import DamagedBatchWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedBatchWarning)
        return load(store)


def remove_rebatched_checkpoints(store: Path, spec: SweepSpec,
                                 batches: Sequence[Sequence[RunConfig]]) -> list[str]:
    """Remove the checkpoints left by dead processes of this host that hold runs of ``spec``
    in a batch that is no longer planned (the batching changed: another ``max_batch``, or
    some of its runs complete), saying so; return the removed directories' names."""
    import shutil

    planned = {batch_id_for([c.run_id for c in b]) for b in batches}
    mine = set(spec.run_ids())
    removed = []
    for d in StoreLayout(store).partials():
        bid = d.name.split(".")[0]
        if bid in planned or not abandoned(d.name) or not (d / CHECKPOINT).is_file():
            continue
        try:
            ids = json.loads((d / RUN_IDS).read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            continue  # not ours to judge: a partial batch of an earlier format
        if isinstance(ids, list) and mine & {i for i in ids if isinstance(i, str)}:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d.name)
            warnings.warn(f"removed the checkpoint of batch {bid} in store {store}: its runs "
                          "are now batched differently and train from the start",
                          StoreWarning, stacklevel=2)
    return removed


def configs_spec(configs: Sequence[RunConfig], prefix: str = "train") -> SweepSpec:
    """The one-spec sweep of a list of configs, named ``PREFIX-<digest of its run ids>`` (the
    same runs get the same name, so training them again finds their record)."""
    ids = list(dict.fromkeys(c.run_id for c in configs))
    digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:10]
    return spec_from_configs(f"{prefix}-{digest}", configs)


def train_to_store(configs: Sequence[RunConfig] | RunConfig, store: str | Path, *,
                   max_batch: int | None = None, progress: bool = False,
                   checkpoint_seconds: float = 300.0, workers: int = 1) -> list[str]:
    """Train every config not yet complete in ``store`` (a one-spec sweep: the same lock,
    record, resume and executors as :func:`run_sweep`); return the run ids trained now.

    Each batch is committed atomically; an exception aborts only the batch in flight. About
    every ``checkpoint_seconds`` the batch in flight saves its state, so a process killed
    mid-batch loses at most that much work: the next call resumes the batch from its
    checkpoint.
    """
    if isinstance(configs, RunConfig):
        configs = [configs]
    report = run_sweep(configs_spec(configs), store, max_batch=max_batch, progress=progress,
                       checkpoint_seconds=checkpoint_seconds, workers=workers)
    return report.trained
