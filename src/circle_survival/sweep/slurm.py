"""The SLURM executor: a sweep's batches as ONE job array through submitit
(``pip install 'circle-survival[slurm]'``).

Each array task trains ``batches_per_task`` batches with :func:`.batch_runner.train_batch`
into the store (committed ones skipped): the store must be on storage every node mounts at the
same path. The driver polls ``squeue``, never submitit's ``result()`` (without accounting,
``sacct`` fails and ``result()`` of a cancelled job never returns); when the array has left the
queue, the store says which batches are done; the others fail in one line, with their logs.
On USR2 (``signal_margin_s`` before the time limit, or preemption) submitit requeues the task
and the next attempt resumes from the batch's last checkpoint. The store adopts checkpoints of
dead processes of its own host only, so each attempt records (host, pid) in the log folder and
takes over the partial batch of the previous attempt of its job, on any node (SLURM runs one
attempt at a time); a rerun (a new job) resumes checkpoints left on its own node only. Logs:
``log_dir``, by default ``<store's parent>/<store name>-slurm-logs/`` (never in the store).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from ..config import RunConfig
from ..errors import CircleSurvivalError, ConfigError
from ..store.layout import CHECKPOINT, StoreLayout, abandoned, batch_id_for, partial_owner
from .batch_runner import train_batch
from .executors import POLL_SECONDS, BatchCredit

SLURM_INSTALL_HINT = "pip install 'circle-survival[slurm]'"
_say = partial(print, "circle-survival:", flush=True)  # a line in the task's log
_RESERVED = {"array", "output", "error", "open-mode", "signal", "wrap", "parsable"}
_OWN = {"partition", "time", "cpus-per-task", "gpus-per-task", "mem", "account", "qos",
        "job-name"}
_DONE = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE", "OUT_OF_MEMORY", "REVOKED"}
SETTLE_SECONDS = 5.0  # how long an ended task that did not complete must stay ended
_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(:|$)")
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


class SlurmTaskError(CircleSurvivalError):
    """Batches did not complete: ``trained``, the run ids that did; ``failed``, (batch, log)."""

    def __init__(self, message: str, trained: list[str], failed: list[tuple[str, Path]]):
        super().__init__(message)
        self.trained, self.failed = trained, failed


def time_minutes(value: int | str) -> int:
    """A time limit in whole minutes, from minutes (int) or sbatch's ``M``, ``M:S``,
    ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``."""
    m = None if isinstance(value, bool) else _TIME.fullmatch(str(value).strip())
    if m is None:
        raise ConfigError(f"slurm time must be minutes or [D-]HH:MM:SS, got {value!r}")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is not None:
        seconds = ((days * 24 + a) * 60 + (b or 0)) * 60 + (c or 0)
    else:
        seconds = (a * 60 + b) * 60 + c if c is not None else a * 60 + (b or 0)
    if seconds < 60:
        raise ConfigError(f"slurm time must be at least one minute, got {value!r}")
    return -(-seconds // 60)


def parse_slurm_opt(text: str) -> tuple[str, str | bool]:
    """``KEY=VALUE`` (any sbatch flag, its ``--`` optional), or ``KEY`` alone for a flag
    without value (e.g. ``exclusive``, value True); ``_`` in KEY reads as ``-``."""
    key, eq, value = str(text).partition("=")
    key = key.strip().removeprefix("--").replace("_", "-").lower()
    if not re.fullmatch(r"[a-z][a-z0-9-]*", key) or (eq and not value.strip()):
        raise ConfigError(f"a slurm option must be KEY=VALUE (an sbatch flag), got {text!r}")
    if key in _RESERVED | _OWN:
        raise ConfigError(f"slurm option {key!r} is " + (
            "set by the executor itself" if key in _RESERVED else "a setting of its own"))
    return key, (value.strip() if eq else True)


@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks SLURM for (None: the cluster's default), and how the array
    runs. ``time``: minutes or ``[D-]HH:MM:SS``; a task reaching it is requeued and resumes, at
    most ``max_timeouts`` times. ``cpus_per_task`` is also the torch threads. ``mem``: sbatch's
    ``--mem`` ("4G"). ``max_array_parallel``: tasks running at once. ``signal_margin_s``: USR2
    that long before the limit (at most half of it). ``setup``: shell lines run first
    (``module load ...``); ``python``: what runs the task (default ``sys.executable``).
    ``extra``: other sbatch flags (:func:`parse_slurm_opt`; True: a flag alone)."""

    partition: str | None = None
    time: int | str = 60
    cpus_per_task: int = 1
    gpus_per_task: int | None = None
    mem: str | None = None
    account: str | None = None
    qos: str | None = None
    batches_per_task: int = 1
    max_array_parallel: int | None = None
    signal_margin_s: int = 90
    max_timeouts: int = 3
    job_name: str = "circle-survival"
    log_dir: Path | None = None
    setup: tuple[str, ...] = ()
    python: str | None = None
    extra: Mapping[str, str | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        time_minutes(self.time)
        for name, low in (("cpus_per_task", 1), ("batches_per_task", 1), ("signal_margin_s", 0),
                          ("max_timeouts", 0), ("max_array_parallel", 1), ("gpus_per_task", 1)):
            value = getattr(self, name)
            if not (value is None and name in ("max_array_parallel", "gpus_per_task")) and (
                    isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ConfigError(f"slurm {name} must be an integer >= {low}, got {value!r}")
        if self.mem is not None and not re.fullmatch(r"[1-9]\d*[KMGT]?B?", str(self.mem),
                                                     re.IGNORECASE):
            raise ConfigError(f"slurm mem must be like 4G or 4000M, got {self.mem!r}")
        object.__setattr__(self, "extra", dict(
            parse_slurm_opt(k if v is True else f"{k}={v}") for k, v in dict(self.extra).items()))
        object.__setattr__(self, "setup", tuple(self.setup))

    def sbatch_parameters(self, n_tasks: int) -> dict[str, Any]:
        """Parameters of submitit's SlurmExecutor for an array of ``n_tasks`` tasks."""
        minutes = time_minutes(self.time)
        extra: dict[str, Any] = {"requeue": True, **self.extra}
        if self.mem is not None:
            extra["mem"] = str(self.mem)  # as given (submitit's own mem means GB)
        params: dict[str, Any] = {
            "job_name": self.job_name, "time": minutes, "cpus_per_task": self.cpus_per_task,
            "signal_delay_s": min(self.signal_margin_s, minutes * 30),
            "array_parallelism": self.max_array_parallel or max(1, n_tasks),
            "additional_parameters": extra}
        params.update({k: list(v) if k == "setup" else v for k in ("partition", "gpus_per_task",
                       "account", "qos", "setup") if (v := getattr(self, k))})
        return params


def default_log_dir(store: Path) -> Path:
    """``<store's parent>/<store name>-slurm-logs``: beside the store, on its storage."""
    store = Path(store).resolve()
    return store.parent / f"{store.name}-slurm-logs"


def import_submitit() -> Any:
    """submitit, or ConfigError saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("the slurm executor needs submitit, which is not installed: "
                          f"{SLURM_INSTALL_HINT}") from None
    return submitit


def check_slurm() -> None:
    """ConfigError unless submitit is installed and SLURM's commands are on PATH."""
    import_submitit()
    missing = [c for c in ("sbatch", "squeue", "scancel", "srun") if shutil.which(c) is None]
    if missing:
        raise ConfigError(f"the slurm executor needs SLURM's {', '.join(missing)} on PATH "
                          "(run it where jobs are submitted, e.g. a login node)")


class SlurmTask:
    """One array task: train its batches into the store, skipping committed ones. It follows
    submitit's Checkpointable protocol: on USR2 submitit calls ``checkpoint`` and requeues
    the job with what it returns (the task itself: it resumes from the store)."""

    def __init__(self, batches: Sequence[Sequence[RunConfig]], store: str,
                 checkpoint_seconds: float, threads: int):
        self.batches = [[c.to_dict() for c in b] for b in batches]
        self.store, self.threads, self.checkpoint_seconds = store, threads, checkpoint_seconds

    def __call__(self) -> list[str]:
        import torch

        torch.set_num_threads(max(1, self.threads))
        earlier, trained = _record_attempt(), []
        for dicts in self.batches:
            trained += self._train([RunConfig.from_dict(d) for d in dicts], earlier)
        return trained

    def _train(self, configs: list[RunConfig], earlier: list[tuple[str, int]]) -> list[str]:
        layout, bid = StoreLayout(self.store), batch_id_for([c.run_id for c in configs])
        if layout.is_complete(bid):
            _say(f"batch {bid}: already complete, skipped")
            return []
        _claim_earlier_partial(layout, bid, earlier)
        t0, resumed = time.monotonic(), (
            lambda n: _say(f"batch {bid}: resumed at step {n} from its checkpoint"))
        while (ids := train_batch(configs, self.store, on_resume=resumed,
                                  checkpoint_seconds=self.checkpoint_seconds)) is None:
            time.sleep(POLL_SECONDS)  # another worker holds the batch: wait for its commit
        _say(f"batch {bid}: committed, {len(configs)} runs in {time.monotonic() - t0:.1f} s")
        return ids

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.core.utils import DelayedSubmission

        _say("requeued: the batch in flight resumes from its last checkpoint")
        return DelayedSubmission(self, *args, **kwargs)


def _this_host() -> str:  # as the store names it in a partial batch's directory
    owner = partial_owner(StoreLayout(".").new_partial("0" * 16).name)
    return owner[1] if owner else "?"


def _record_attempt() -> list[tuple[str, int]]:
    """Append (host, pid) of this attempt to ``<log folder>/<job>_attempts.txt`` and return
    the earlier attempts' (none outside a submitit SLURM job)."""
    folder, job = os.environ.get("SUBMITIT_FOLDER"), os.environ.get("SLURM_JOB_ID")
    if not folder or not job:
        return []
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
    path, earlier = Path(folder) / f"{job}_attempts.txt", []
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            host, pid = line.split()
            earlier.append((host, int(pid)))
    with path.open("a") as f:
        f.write(f"{_this_host()} {os.getpid()}\n")
    return earlier


def _claim_earlier_partial(layout: StoreLayout, bid: str,
                           earlier: list[tuple[str, int]]) -> None:
    """Rename the checkpointed partial batch of the latest earlier attempt of this job (of
    any host) to this process, for the store's writer to adopt."""
    here, partials = _this_host(), layout.partials(bid)
    for attempt in reversed(earlier):
        for d in partials:
            if partial_owner(d.name)[1:] == attempt and (d / CHECKPOINT).is_file() and (
                    attempt[0] != here or abandoned(d.name)):  # (on this host: if dead)
                with contextlib.suppress(OSError):
                    os.rename(d, layout.new_partial(bid))
                    _say(f"batch {bid}: took over tmp/{d.name} of an earlier attempt")
                return


def slurm_script(n_tasks: int, options: SlurmOptions, log_dir: Path) -> str:
    """The sbatch script submitit submits for ``n_tasks`` array tasks (one: a plain job)."""
    from submitit.slurm.slurm import _make_sbatch_string

    python = options.python or shlex.quote(sys.executable)
    command = f"{python} -u -m submitit.core._submit {shlex.quote(str(log_dir))}"
    return _make_sbatch_string(command=command, folder=log_dir,
                               map_count=n_tasks if n_tasks > 1 else None,
                               **options.sbatch_parameters(n_tasks))


def run_slurm(batches: Sequence[Sequence[RunConfig]], store: Path, options: SlurmOptions,
              credit: BatchCredit | None = None, *, dry_run: bool = False,
              checkpoint_seconds: float = 300.0, poll_seconds: float = 10.0,
              timeout_seconds: float | None = None, out: TextIO | None = None) -> list[str]:
    """Train ``batches`` into ``store`` as one SLURM job array; return the run ids trained.

    Committed batches are skipped (and credited). ``dry_run``: write the sbatch script to
    ``out`` (default stdout), submit nothing. Else wait, polling ``squeue`` every
    ``poll_seconds`` and crediting each batch as it lands in the store; batches that did not
    complete (failed, cancelled, out of requeues) raise SlurmTaskError, one line naming each
    with its log, once every other task has ended. An interrupt, an error or
    ``timeout_seconds`` cancels the array."""
    layout = StoreLayout(store := Path(store).resolve())
    ids = [batch_id_for([c.run_id for c in b]) for b in batches]
    todo = [i for i, bid in enumerate(ids) if not layout.is_complete(bid)]
    for i in sorted(set(range(len(ids))) - set(todo)) if credit is not None else ():
        credit.finished(i)
    per = options.batches_per_task
    groups = [todo[k:k + per] for k in range(0, len(todo), per)]
    log_dir = Path(options.log_dir or default_log_dir(store)).resolve()
    if dry_run:
        import_submitit()
        script = slurm_script(len(groups), options, log_dir) if groups else "#!/bin/bash\n"
        first, _, rest = script.partition("\n")
        (out or sys.stdout).write(
            f"{first}\n# circle-survival: {len(todo)} batches "
            f"({sum(len(batches[i]) for i in todo)} runs) into {store}, {len(groups)} array "
            f"tasks of up to {per} batches\n{rest}")
        return []
    if not groups:
        return []
    check_slurm()
    jobs = _submit(groups, batches, str(store), options, log_dir, checkpoint_seconds)
    array = jobs[0].job_id.split("_")[0]
    task_of = {i: t for t, g in enumerate(groups) for i in g}
    landed: list[int] = []

    def land() -> None:
        for i in todo:
            if i not in landed and layout.is_complete(ids[i]):
                landed.append(i)
                if credit is not None:
                    credit.finished(i)

    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    states: dict[int, str] = {}
    ended_at = None  # when every task was first seen ended, short of all COMPLETED
    try:  # until the array has left the queue, or every task in it has ended for good
        while (now := _array_states(array)) is not None:
            states.update(now)
            land()
            ended = bool(now) and all(s in _DONE for s in now.values())
            if ended and set(now.values()) == {"COMPLETED"}:
                break
            ended_at = (ended_at or time.monotonic()) if ended else None
            if ended_at is not None and time.monotonic() - ended_at >= SETTLE_SECONDS:
                break  # a requeued task shows FAILED or PREEMPTED for a moment: not final
            if deadline is not None and time.monotonic() > deadline:
                raise CircleSurvivalError(f"SLURM job array {array} did not finish within "
                                          f"{timeout_seconds:g} s; it was cancelled")
            time.sleep(poll_seconds)
    except BaseException:
        subprocess.run(["scancel", array], capture_output=True, timeout=60)
        raise
    for _ in range(10):  # a shared file system may show a new batch late
        land()
        if {states.get(task_of[i]) for i in todo if i not in landed} != {"COMPLETED"}:
            break  # all landed, or the missing ones' tasks did not complete
        time.sleep(1.0)
    trained = [c.run_id for i in sorted(landed) for c in batches[i]]
    failed = [(i, Path(jobs[task_of[i]].paths.stderr)) for i in todo if i not in landed]
    if failed:
        each = "; ".join(f"batch {ids[i]} (task {task_of[i]}, "
                         f"{states.get(task_of[i], 'UNKNOWN')}, log {log}{_last_line(log)})"
                         for i, log in failed)
        hint = (" (tasks completed without their batch in the store: do the nodes mount it at "
                "the same path?)" if "COMPLETED" in {states.get(task_of[i]) for i, _ in failed}
                else "")
        raise SlurmTaskError(f"{len(failed)} of {len(todo)} batches did not complete in SLURM "
                             f"job array {array}: {each}{hint}; the complete batches are "
                             "kept: run the same command again to train the rest",
                             trained, [(ids[i], log) for i, log in failed])
    return trained


def _submit(groups: list[list[int]], batches: Sequence[Sequence[RunConfig]], store: str,
            options: SlurmOptions, log_dir: Path, checkpoint_seconds: float) -> list[Any]:
    """Submit one array of SlurmTask; sbatch's refusal is one ConfigError line."""
    submitit = import_submitit()
    log, level = logging.getLogger("submitit"), logging.getLogger("submitit").level
    log.setLevel(logging.ERROR)  # no submitit warnings (e.g. about sacct) on the user's screen
    try:
        executor = submitit.SlurmExecutor(folder=log_dir, max_num_timeout=options.max_timeouts,
                                          python=options.python)
        executor.update_parameters(**options.sbatch_parameters(len(groups)))
        try:
            with executor.batch():
                jobs = [executor.submit(SlurmTask([batches[i] for i in g], store,
                                                  checkpoint_seconds, options.cpus_per_task))
                        for g in groups]
        except Exception as exc:  # noqa: BLE001 - submitit's FailedJobError, OSError, ...
            lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
            why = next((x for x in lines if "error" in x.lower()), lines[0] if lines else "")
            raise ConfigError(f"sbatch refused the job array ({type(exc).__name__}: "
                              f"{why[:300]})") from None
    finally:
        log.setLevel(level)
    return jobs


def _array_states(array: str) -> dict[int, str] | None:
    """Each task's state in squeue (a plain job: task 0); None once SLURM no longer knows
    the job; {} when squeue did not answer this time."""
    try:
        r = subprocess.run(["squeue", "-h", "-r", "-j", array, "-t", "all", "-o", "%i|%T"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if r.returncode != 0:
        return None if "invalid job id" in r.stderr.lower() else {}
    states = {}
    for line in r.stdout.split():
        job, _, state = line.partition("|")
        task = job.partition("_")[2]
        if task.isdigit() or not task:
            states[int(task or 0)] = state or "UNKNOWN"
    return states or None


def _last_line(log: Path) -> str:
    """``: LINE`` of a log: its last exception, else SLURM's last ``***`` line, else its last
    line; or nothing."""
    with contextlib.suppress(OSError):
        lines = [" ".join(x.split()) for x in log.read_text(errors="replace").splitlines()]
        for pick in (_EXCEPTION.match, lambda x: "***" in x, bool):
            if found := next((x for x in reversed(lines) if pick(x)), None):
                return f": {found[:200]}"
    return ""
