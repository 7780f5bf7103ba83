"""Executors: how the batches of a sweep are trained, and the progress bar they feed.

- :func:`run_serial`: one after another in this process;
- :func:`run_pool`: in ``workers`` spawned processes on this machine (torch threads: cores /
  workers; each worker dies with its parent, so no orphan keeps writing);
- :func:`run_ray`: each batch a Ray remote task (``pip install 'circle-survival[ray]'``). Ray
  is the one already initialised in the process, or a connection to ``address`` (e.g.
  ``"auto"`` or ``"HEAD:6379"`` of a cluster started with ``ray start``), or else a private
  local Ray, never one already running on the machine (:func:`ray_session`). Each task asks
  for ``cpus`` CPUs and, for runs on cuda (or "auto" on a cluster with GPUs), ``gpus`` GPUs
  (default 1; a fraction packs several batches on one GPU). Every task writes its batch
  directly into the store path, so on a cluster the store must be on storage every node
  mounts at the same absolute path, and every node needs the same version of this package.
  A task whose node or worker dies is rerun by Ray (:data:`RAY_TASK_RETRIES` times), on
  another node if need be; the rerun takes over the batch and resumes its checkpoint.

Every executor trains each batch with :func:`.batch_runner.train_batch`: claimed, written
under ``STORE/tmp/`` and renamed into ``STORE/batches/`` when complete. A batch that another
worker holds is left to it; once the rest is done, :func:`finish_pending` waits for those
batches, taking over any whose holder died.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import CircleSurvivalError, ConfigError
from .batch_runner import train_batch

RAY_INSTALL_HINT = "pip install 'circle-survival[ray]'"


class ProgressBar:
    """One bar for the whole sweep: runs done / total, runs per minute, ETA (on stderr).

    The count is kept here, with the fractions of batches in flight, and clamped to
    ``0 .. total``, so the bar never passes 100% and the ETA never turns negative; the bar
    shows whole runs (the count rounded down), and the total exactly once every batch is in.
    """

    def __init__(self, total: int, done: int, enabled: bool = True):
        from tqdm import tqdm

        self.total, self.count = total, float(min(done, total))
        self.start_count, self.start_time = self.count, time.monotonic()
        self.bar = tqdm(total=total, initial=int(self.count), unit="run", file=sys.stderr,
                        disable=not enabled, dynamic_ncols=True, smoothing=0.1,
                        bar_format="{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} runs "
                                   "[{elapsed}<{remaining}{postfix}]")

    def add(self, runs: float) -> None:
        """Count ``runs`` more runs (fractions while a batch is in flight)."""
        self.count = min(float(self.total), max(self.count, self.count + runs))
        whole = self.total if self.total - self.count < 1e-9 else int(self.count)
        if whole > self.bar.n:
            self.bar.update(whole - self.bar.n)
        # tqdm's smoothed rate, or the mean rate until tqdm has one (it has none while every
        # update so far fell within its refresh interval)
        elapsed = time.monotonic() - self.start_time
        rate = self.bar.format_dict.get("rate") or (
            (self.count - self.start_count) / elapsed if elapsed > 0 else 0.0)
        if rate:
            self.bar.set_postfix_str(f"{60 * rate:,.1f} runs/min", refresh=False)

    def close(self) -> None:
        self.bar.close()


class BatchCredit:
    """Turns step counts of in-flight batches into fractional runs on the bar, exactly
    ``len(batch)`` per batch once it completes."""

    def __init__(self, bar: ProgressBar, batches: Sequence[Sequence[RunConfig]]):
        self.bar, self.batches = bar, batches
        self.credited = [0.0] * len(batches)

    def steps(self, i: int, n: int) -> None:
        b = self.batches[i]
        add = min(len(b) * n / b[0].steps, len(b) - self.credited[i])
        self.credited[i] += add
        self.bar.add(add)

    def finished(self, i: int) -> None:
        self.bar.add(len(self.batches[i]) - self.credited[i])
        self.credited[i] = float(len(self.batches[i]))


def run_serial(batches: Sequence[Sequence[RunConfig]], store: Path, credit: BatchCredit,
               options: Mapping[str, Any] | None = None) -> list[str]:
    """Train batches one after another in this process (``options``: keywords of
    :func:`.batch_runner.train_batch`, e.g. ``checkpoint_seconds``), then wait for those
    other workers hold: :func:`finish_pending` over every batch, whose first pass trains
    each one not held, in order."""
    return finish_pending(batches, range(len(batches)), store, credit, options)


#: seconds between two looks at the batches other workers hold
POLL_SECONDS = 2.0


def finish_pending(batches: Sequence[Sequence[RunConfig]], pending: Sequence[int], store: Path,
                   credit: BatchCredit, options: Mapping[str, Any] | None = None, *,
                   poll: float = POLL_SECONDS,
                   attempt: Callable[[int], list[str] | None] | None = None) -> list[str]:
    """Wait until every batch ``batches[i]`` for ``i`` in ``pending`` (held by other workers)
    is committed, training each one whose holder's claim goes stale: here, or by
    ``attempt(i)`` (e.g. a new Ray task, so that a GPU batch trains where the GPUs are);
    return the run ids trained by this sweep."""
    def here(i: int) -> list[str] | None:
        return train_batch(batches[i], store, progress=lambda n: credit.steps(i, n),
                           **(options or {}))

    pending, trained, attempt = list(pending), [], attempt or here
    while pending:
        for i in list(pending):
            ids = attempt(i)
            if ids is not None:  # committed, by its holder or here
                trained += ids
                credit.finished(i)
                pending.remove(i)
        if pending:
            time.sleep(poll)
    return trained


_PROGRESS_QUEUE: Any = None


def _worker_init(queue: Any, threads: int, parent: int) -> None:
    """Set up a local worker: progress queue, torch threads, die with the parent."""
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue
    _die_with_parent(parent)
    import torch

    torch.set_num_threads(threads)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphaned writers)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_train(i: int, config_dicts: list[dict], store: str, options: dict
                  ) -> list[str] | None:
    configs = [RunConfig.from_dict(d) for d in config_dicts]

    def report(n: int) -> None:
        if _PROGRESS_QUEUE is not None:
            _PROGRESS_QUEUE.put((i, n))

    return train_batch(configs, store, progress=report, **options)


def local_cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_pool(batches: Sequence[Sequence[RunConfig]], store: Path, workers: int,
             credit: BatchCredit, options: Mapping[str, Any] | None = None) -> list[str]:
    """Train batches in ``workers`` spawned processes (torch threads: cores / workers)."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    progress_queue = ctx.Queue()
    workers = min(workers, len(batches))
    threads = max(1, local_cpu_count() // workers)
    trained: list[str] = []
    held: list[int] = []

    def drain() -> None:
        while True:
            try:
                i, n = progress_queue.get_nowait()
            except queue_mod.Empty:
                return
            credit.steps(i, n)

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(progress_queue, threads, os.getpid()))
    try:
        pending = {pool.submit(_worker_train, i, [c.to_dict() for c in b], str(store),
                               dict(options or {})): i
                   for i, b in enumerate(batches)}
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for fut in finished:
                i = pending.pop(fut)
                ids = fut.result()  # re-raises a worker's error
                if ids is None:
                    held.append(i)
                    continue
                trained += ids
                credit.finished(i)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return trained + finish_pending(batches, held, store, credit, options)


def import_ray() -> Any:
    """Ray, or ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"the ray executor needs Ray, which is not installed: "
                          f"{RAY_INSTALL_HINT}") from None
    return ray


def _ray_train(config_dicts: list[dict], store: str, threads: int, options: dict
               ) -> list[str] | None:
    """A Ray task: train one batch straight into the (shared) store."""
    import torch

    torch.set_num_threads(max(1, threads))
    return train_batch([RunConfig.from_dict(d) for d in config_dicts], store, **options)


#: times Ray reruns a task whose worker or node died (a system failure: a task's own error is
#: never retried; Ray's default too, set here so that it holds whatever Ray's defaults). The
#: rerun takes over the dead worker's claim, stale as soon as that process is gone when it ran
#: on the rerun's host (resuming its checkpoint); while the claim is live (a dead worker of
#: another host, until its lease runs out) the rerun leaves the batch to finish_pending.
RAY_TASK_RETRIES = 3


def run_ray(batches: Sequence[Sequence[RunConfig]], store: Path, credit: BatchCredit, *,
            cpus: float = 1.0, gpus: float | None = None,
            options: Mapping[str, Any] | None = None) -> list[str]:
    """Train each batch as a Ray remote task on the Ray this process is connected to (see
    :func:`ray_session`): ``num_cpus=cpus``; ``num_gpus=gpus`` (default 1) for batches on
    cuda, or on "auto" when the cluster has GPUs. Each task writes into ``store`` itself."""
    ray = import_ray()
    has_gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(_ray_train)
    refs: dict[Any, int] = {}
    trained: list[str] = []
    held: list[int] = []

    def submit(i: int) -> Any:
        dev = batches[i][0].device
        wants_gpu = dev.startswith("cuda") or (dev == "auto" and has_gpus)
        num_gpus = (1.0 if gpus is None else gpus) if wants_gpu else 0
        return task.options(num_cpus=cpus, num_gpus=num_gpus,
                            max_retries=RAY_TASK_RETRIES).remote(
            [c.to_dict() for c in batches[i]], str(store.resolve()), max(1, int(cpus)),
            dict(options or {}))

    try:
        for i in range(len(batches)):
            refs[submit(i)] = i
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                ids = ray.get(ref)
                if ids is None:
                    held.append(refs[ref])
                    continue
                trained += ids
                credit.finished(refs[ref])
        # held by other workers: waited for, and taken over by a new task on the cluster
        trained += finish_pending(batches, held, store, credit, options,
                                  attempt=lambda i: ray.get(submit(i)))
    except BaseException as exc:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise ray_failure(ray, exc) from None
    return trained


def ray_failure(ray: Any, exc: BaseException) -> BaseException:
    """What to raise for an exception out of Ray: a task's own error as it is (one line), a
    failure of Ray itself (a node lost, a worker crashed, a timeout) as one ConfigError line;
    anything else (an interrupt) unchanged."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, CircleSurvivalError):
        return cause
    if isinstance(exc, ray.exceptions.RayError):
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return ConfigError(f"Ray failed while training ({type(exc).__name__}: {first}); the "
                           "complete batches are kept: run the same command again")
    return exc


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Ray for the duration of a sweep: the one already initialised in this process, or a
    connection to ``address`` (a cluster), or a private local Ray started here (and shut down
    after): without ``address`` a Ray already running on the machine (``ray start``, or
    ``RAY_ADDRESS``) is neither joined nor touched.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    _ray_init(ray, address)
    try:
        yield ray
    finally:
        ray.shutdown()


def _ray_init(ray: Any, address: str | None) -> None:
    """Start a private local Ray (address None) or connect to a cluster; a failure is one
    line."""
    kwargs: dict[str, Any] = {"logging_level": "WARNING"}
    if address is None:
        kwargs["include_dashboard"] = False
    try:
        # "local": always a new Ray of this process's own; address=None would join one
        # already running on the machine (RAY_ADDRESS, or the last 'ray start')
        ray.init(address="local" if address is None else address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception ("node timed out")
        where = f"at {address}" if address else "locally"
        msg = " ".join(str(exc).split())[:300]
        hint = ("; the machine may be too busy for Ray to start in time: try again, or start "
                "it first with 'ray start --head' and pass --address auto"
                if "timed out" in msg.lower() else "")
        raise ConfigError(f"cannot start or reach Ray {where}: {msg}{hint}") from None
