"""Planning a sweep: runs grouped into batches, and what the batches will cost in time (a
short measured calibration, extrapolated) and disk.

Runs share a batch when their :meth:`RunConfig.batch_key` is equal; a batch holds at most
``max_batch`` models (default: 64 on the CPU, from free memory on a GPU). The plan is made over
the whole sweep and runs already complete are then dropped, so a resumed sweep trains the same
batches as an uninterrupted one.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import RunConfig, resolve_device
from ..errors import ConfigError
from ..training.capacity import batch_bytes, free_memory
from .spec import SweepSpec

#: Default cap on models per batch on the CPU (records and optimiser state grow with it).
CPU_MAX_BATCH = 64


def default_max_batch(cfg: RunConfig) -> int:
    """Models per batch: a fixed cap on the CPU; on a GPU, as many as fit in its free memory
    (:func:`circle_survival.capacity.max_models`)."""
    device = resolve_device(cfg.device)
    if not device.startswith("cuda"):
        return CPU_MAX_BATCH
    from ..training.capacity import max_models

    return max_models(cfg, device)


def plan_batches(configs: Sequence[RunConfig], max_batch: int | None = None
                 ) -> list[list[RunConfig]]:
    """Group configs by batch key (order of first appearance kept) into batches of at most
    ``max_batch`` models (default: :func:`default_max_batch`)."""
    groups: dict[str, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(c.batch_key(), []).append(c)
    batches = []
    for group in groups.values():
        cap = max_batch or default_max_batch(group[0])
        batches += [group[i:i + cap] for i in range(0, len(group), cap)]
    return batches


def plan_sweep(spec: SweepSpec, max_batch: int | None = None,
               done: set[str] | frozenset[str] = frozenset()) -> list[list[RunConfig]]:
    """The batches still to train: the whole sweep is batched (:func:`plan_batches`),
    then runs in ``done`` are dropped, so the batches do not depend on what is complete."""
    return drop_done(batch_all(spec, max_batch), done)


def batch_all(spec: SweepSpec, max_batch: int | None = None) -> list[list[RunConfig]]:
    """Every run of the sweep in batches of equal batch key, at most ``max_batch`` models
    each (default: from memory, :func:`default_max_batch`)."""
    if max_batch is not None and max_batch < 1:
        raise ConfigError(f"max-batch must be >= 1, got {max_batch}")
    return plan_batches(spec.configs(), max_batch)


def drop_done(batches: Sequence[Sequence[RunConfig]], done: set[str] | frozenset[str]
              ) -> list[list[RunConfig]]:
    """The batches with complete runs removed (empty batches dropped)."""
    if not done:
        return [list(b) for b in batches]
    out = []
    for batch in batches:
        todo = [c for c in batch if c.run_id not in done]
        if todo:
            out.append(todo)
    return out


def n_params(cfg: RunConfig) -> int:
    """Parameters of one model: the embedding and every Linear layer (the transformer's
    embedding, positions, attention, MLP and unembedding)."""
    if cfg.model == "transformer":
        d, h = cfg.d, cfg.d_mlp
        return (cfg.p + 1) * d + 3 * d + 4 * d * d + 2 * d * h + h + d + d * cfg.p
    widths = [2 * cfg.d, *cfg.hidden, cfg.p]
    return cfg.p * cfg.d + sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True))


#: A guess of the per-run table row (Parquet, compressed) in bytes.
TABLE_BYTES_PER_RUN = 3072


def estimate_disk(batches: Sequence[Sequence[RunConfig]]) -> dict[str, int]:
    """About the bytes a set of batches writes (arrays uncompressed, plus a table row), by kind:
    signals, metrics, embeddings, weights, snapshots, other (split indices and table)."""
    from ..training.record_plan import RecordPlan, array_shapes

    out = dict.fromkeys(("signals", "metrics", "embeddings", "weights", "snapshots",
                         "other"), 0)
    kinds = {"signals": "signals", "metrics": "metrics", "embedding_init": "embeddings",
             "embedding_final": "embeddings", "embeddings": "embeddings"}
    for batch in batches:
        cfg, m = batch[0], len(batch)
        for name, (shape, dtype) in array_shapes(batch).items():
            size = math.prod(shape) * (4 if dtype in ("float32", "int32") else 8)
            out[kinds.get(name, "other")] += size
        item = 8 if cfg.dtype == "float64" else 4
        out["weights"] += m * n_params(cfg) * item
        out["snapshots"] += len(RecordPlan.of(cfg).snapshot_steps) * m * n_params(cfg) * item
        out["other"] += m * TABLE_BYTES_PER_RUN
    return out


def free_disk(path: Path) -> int | None:
    """Free bytes on the file system that holds (or will hold) ``path``."""
    target = path.absolute()
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        return shutil.disk_usage(target).free
    except OSError:
        return None


def check_fits(batches: Sequence[Sequence[RunConfig]], store: Path, memory: bool = True
               ) -> None:
    """Refuse, before anything is written, batches that cannot be trained here: one whose
    working set exceeds the device's free memory (with ``memory``: batches trained on this
    machine), or whose records exceed the store's free disk. Raises ConfigError naming the
    batch's shape, what it needs and what there is."""
    free = free_disk(store)
    checked: set[tuple[str, int]] = set()
    for batch in batches:
        cfg, m = batch[0], len(batch)
        if (cfg.batch_key(), m) in checked:
            continue
        checked.add((cfg.batch_key(), m))
        shape = f"{m} run(s) of p={cfg.p}, d={cfg.d}, hidden={list(cfg.hidden)}"
        device = resolve_device(cfg.device) if memory else cfg.device
        need = batch_bytes(cfg, m, device)
        have = free_memory(device) if memory else None
        if have is not None and need > have:
            hint = "lower max-batch" if m > 1 else "lower p, d or hidden"
            raise ConfigError(f"a batch of {shape} needs about {_size(need)} of memory on "
                              f"{device}, which has {_size(have)} free: {hint}")
        disk = sum(estimate_disk([batch]).values())
        if free is not None and disk > free:
            raise ConfigError(f"a batch of {shape} and steps={cfg.steps} records about "
                              f"{_size(disk)}, but {store} has {_size(free)} of free disk: "
                              "record less often (signal_every, metrics_every) or free space")


def _size(n: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}" if n < 2**60 else f"{n:.3g} bytes"
    return f"{n / 2**10:.1f} KiB"


def model_step_flops(cfg: RunConfig) -> float:
    """Rough floating-point work of one model's training step (forward, backward, update);
    used only to scale a measured time from one shape to another."""
    n = cfg.n_train
    if cfg.model == "transformer":  # keys and values at 3 positions, the rest at "="
        d = cfg.d
        per_pair = 2 * (6 * d * d + 2 * d * d + 2 * d * cfg.d_mlp + d * cfg.p)
        return 3.0 * n * per_pair + 12.0 * n_params(cfg)
    first = 2 * 2 * cfg.p * cfg.d * cfg.hidden[0] + n * cfg.hidden[0]
    widths = [*cfg.hidden, cfg.p]
    rest = sum(2 * n * i * o for i, o in zip(widths[:-1], widths[1:], strict=True))
    return 3.0 * (first + rest) + 12.0 * n_params(cfg)


@dataclass(frozen=True)
class Calibration:
    """A measured cost: ``seconds_per_model_step`` for runs of ``cfg``'s shape, from training
    ``models`` models for ``steps`` steps."""

    cfg: RunConfig
    models: int
    steps: int
    seconds_per_model_step: float


def calibrate(batch: Sequence[RunConfig], budget_s: float = 1.0, max_models: int = 8,
              max_models_gpu: int = 1024) -> Calibration:
    """Time a few training steps of a mini batch shaped like ``batch`` and take the median.

    Uses the batch's first ``max_models`` models on the CPU (the cost per model hardly
    depends on the batch size there) and up to ``max_models_gpu`` on a GPU (where it falls
    with the batch size). Signals every step and test metrics every ``metrics_every`` steps
    are included, as the trainer records them.
    """
    import torch

    from ..training.trainer import Trainer

    cfg = batch[0]
    device = resolve_device(cfg.device)
    configs = list(batch[:max_models_gpu if device.startswith("cuda") else max_models])
    trainer = Trainer(configs)
    m = len(configs)
    sig = torch.empty(m, cfg.n_freq, dtype=trainer.dtype, device=trainer.device)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up
        trainer.step(sig)
    sync()
    times: list[float] = []
    t0 = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - t0 < budget_s and len(times) < 200):
        t = time.perf_counter()
        trainer.step(sig if cfg.signal_every == 1 else None)
        sync()
        times.append(time.perf_counter() - t)
    n = len(times)
    per_step = sorted(times)[n // 2]  # the median: robust to a busy machine's stalls
    t1 = time.perf_counter()
    trainer.metrics(include_train=False)
    sync()
    per_step += (time.perf_counter() - t1) / cfg.metrics_every
    return Calibration(cfg, m, n, per_step / m)


def batch_seconds(batches: Sequence[Sequence[RunConfig]], total: float) -> list[float]:
    """``total`` seconds of training shared among ``batches`` in proportion to their work
    (runs x steps x :func:`model_step_flops`)."""
    work = [len(b) * b[0].steps * model_step_flops(b[0]) for b in batches]
    return [total * w / sum(work) for w in work] if work and sum(work) else [0.0] * len(work)


def per_task(seconds: Sequence[float], batches_per_task: int) -> list[float]:
    """The seconds of each array task that trains ``batches_per_task`` consecutive batches."""
    k = max(1, batches_per_task)
    return [sum(seconds[i:i + k]) for i in range(0, len(seconds), k)]


def wall_clock(seconds: Sequence[float], parallel: int) -> float:
    """The time ``parallel`` workers take for jobs of these durations, each worker taking
    the next job as it finishes one, longest first: the last worker's finishing time."""
    import heapq

    if not seconds:
        return 0.0
    slots = [0.0] * max(1, min(parallel, len(seconds)))
    for s in sorted(seconds, reverse=True):
        heapq.heappush(slots, heapq.heappop(slots) + s)
    return max(slots)


@dataclass(frozen=True)
class TimeEstimate:
    """Serial training time of a set of batches on this machine."""

    seconds: float
    calibrations: list[Calibration]


def estimate_time(batches: Sequence[Sequence[RunConfig]], budget_s: float = 3.0,
                  max_groups: int = 3) -> TimeEstimate:
    """Measure the costliest shapes (up to ``max_groups``, about ``budget_s`` seconds in all)
    and extrapolate: seconds per model-step x steps x runs, other shapes scaled by
    :func:`model_step_flops`."""
    if not batches:
        return TimeEstimate(0.0, [])
    groups: dict[str, list[Sequence[RunConfig]]] = {}
    for b in batches:
        groups.setdefault(b[0].batch_key(), []).append(b)

    def work(bs: list[Sequence[RunConfig]]) -> float:
        return sum(len(b) * b[0].steps for b in bs) * model_step_flops(bs[0][0])

    order = sorted(groups, key=lambda k: -work(groups[k]))
    measured: dict[str, Calibration] = {}
    t0 = time.perf_counter()
    for key in order[:max_groups]:
        if measured and time.perf_counter() - t0 > budget_s:
            break
        measured[key] = calibrate(groups[key][0], budget_s=budget_s / (2 * max_groups))
    per_flop = sum(c.seconds_per_model_step / model_step_flops(c.cfg)
                   for c in measured.values()) / len(measured)
    seconds = 0.0
    for key, bs in groups.items():
        cfg = bs[0][0]
        per = (measured[key].seconds_per_model_step if key in measured
               else per_flop * model_step_flops(cfg))
        seconds += per * sum(len(b) * b[0].steps for b in bs)
    return TimeEstimate(seconds, list(measured.values()))
