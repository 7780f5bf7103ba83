"""Sweeps: a grid of runs, expanded from one spec, trained in batches into one store.

A :class:`SweepSpec` names a base config, axes (any :class:`RunConfig` field, each with a list
of values) combined as a grid (every combination) or zipped (value i of every axis together),
and the three seed lists, which zip with each other by default (a length-1 list broadcasts)
or form a grid. It loads from TOML with the same shape as the Python object::

    name = "circles-vs-d"
    seeds_combine = "zip"      # or "grid"; also accepted as [combine] seeds = ...
    [base]
    steps = 30000
    [axes]
    d = [16, 32, 64, 128]
    [seeds]                    # each a list, an integer or a range "a:b" / "a:b:step"
    embedding = "0:50"
    mlp = "0:50"
    split = "0:50"
    [combine]
    mode = "grid"              # or "zip": axes must then have equal lengths

Runs are ordered axis point by axis point (in the order of the axes), seeds innermost; their
ids come from :attr:`RunConfig.run_id`, so re-expanding a spec gives the same ids.

Running a sweep (:func:`run_sweep`):

1. the spec is expanded and every run validated (nothing is written before that);
2. runs are grouped by :meth:`RunConfig.batch_key` into batches of at most ``max_batch``
   models (:func:`runner.plan_batches`; by default from device memory). The plan is made over
   the whole sweep and runs already complete in the store are then dropped, so a resumed sweep
   trains the same batches as an uninterrupted one;
3. the store is locked (``STORE/sweep.lock``, an exclusive ``flock`` held for the duration and
   released by the kernel when the process dies; a second sweep on the same store is refused
   with a message naming the holder) and the spec is recorded in ``STORE/sweeps/<name>.json``;
4. batches are handed to an executor: ``local`` trains them one after another in this process
   or in ``workers`` spawned processes; ``ray`` sends each batch to a Ray cluster as a remote
   task. Every batch is written under ``STORE/tmp/`` and renamed into ``STORE/batches/`` when
   complete, so a sweep killed at any moment (even with SIGKILL) leaves complete batches only;
   running it again trains the rest.

Ray (``pip install 'circle-survival[ray]'``): ``run_sweep(..., executor="ray")`` uses the Ray
already initialised in the process, or connects to ``address`` (e.g. ``"auto"`` or
``"HEAD:6379"`` of a cluster started with ``ray start``), or starts a local Ray. Each task asks
for ``ray_cpus`` CPUs and, for runs on cuda (or "auto" on a cluster with GPUs), ``ray_gpus``
GPUs (default 1; a fraction packs several batches on one GPU). Every task writes its batch
directly into the store path, so on a cluster:

- the store must be on storage every node mounts at the same absolute path (NFS, Lustre, a
  shared volume), and every node needs the same version of this package installed;
- batch sizes are chosen on the driver: from the driver's GPU memory, or 64 models when the
  driver has no GPU (pass ``max_batch`` to size batches for the workers' devices);
- the lock is taken by the driver only, and partial batches of dead processes are cleaned
  from the driver's host only, when the next sweep starts.

On a GPU the default batch size follows free memory, so a resumed sweep may batch its
remaining runs differently from the first attempt; every run is still trained exactly once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import os
import re
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .config import SEED_FIELDS, RunConfig, load_toml, parse_seed_list, resolve_device
from .errors import ConfigError, StoreError
from .runner import clean_stale_tmp, plan_batches, train_batch
from .store import completed_run_ids, init_store, process_alive, tmp_abandoned

SEED_SOURCES = ("embedding", "mlp", "split")
COMBINE_MODES = ("grid", "zip")
EXECUTORS = ("local", "ray")
SPEC_FIELDS = ("name", "base", "axes", "seeds", "combine", "seeds_combine")
CONFIG_FIELDS = tuple(f.name for f in fields(RunConfig))
LOCK_FILE = "sweep.lock"
SWEEPS_DIR = "sweeps"
RAY_INSTALL_HINT = "pip install 'circle-survival[ray]'"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- the spec ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    """A grid of runs.

    Args:
        name: the sweep's name (letters, digits, ``.``, ``_``, ``-``); its record in a store is
            ``STORE/sweeps/<name>.json``.
        base: config fields shared by every run (anything else takes RunConfig's default).
        axes: field -> list of values, in order; any RunConfig field may be an axis
            (``intervention`` values are tables, ``hidden`` values are lists).
        seeds: source ("embedding", "mlp", "split") -> list of seeds (or an int, or a range
            string "a:b" / "a:b:step" / "1,3,7"); an omitted source uses ``base``'s
            ``<source>_seed`` or 0.
        combine: "grid" (every combination of the axes) or "zip" (axes of equal length,
            value i of each together).
        seeds_combine: "zip" (seed lists of equal length, length-1 lists broadcast) or "grid".

    Every run is validated when the spec is made; a bad spec raises :class:`ConfigError`
    naming the field.
    """

    name: str = "sweep"
    base: Mapping[str, Any] = field(default_factory=dict)
    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    seeds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    combine: str = "grid"
    seeds_combine: str = "zip"

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "name", _check_name(self.name))
        _set(self, "base", _check_base(self.base))
        _set(self, "axes", _check_axes(self.axes))
        _set(self, "seeds", _check_seeds(self.seeds))
        _require_choice("combine", self.combine, COMBINE_MODES)
        _require_choice("seeds_combine", self.seeds_combine, COMBINE_MODES)
        _check_seed_conflicts(self)
        if self.combine == "zip":
            _check_zip_lengths(self.axes)
        configs, ids = _expand(self)
        _set(self, "_configs", configs)
        _set(self, "_run_ids", ids)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, default_name: str = "sweep") -> SweepSpec:
        """A spec from a dict shaped like the TOML file (or like :meth:`to_dict`).

        ``combine`` may be a string or a table ``{mode = ..., seeds = ...}``; ``seeds`` may be
        a table by source or one value for all three sources.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a sweep spec must be a table, got {type(data).__name__}")
        unknown = sorted(set(data) - set(SPEC_FIELDS))
        if unknown:
            raise ConfigError(f"unknown sweep field {unknown[0]!r} (expected one of "
                              f"{', '.join(SPEC_FIELDS)})")
        combine, seeds_combine = _split_combine(data.get("combine", "grid"),
                                                data.get("seeds_combine"))
        seeds = data.get("seeds", {})
        if not isinstance(seeds, Mapping):
            seeds = dict.fromkeys(SEED_SOURCES, seeds)
        return cls(name=data.get("name", default_name), base=data.get("base", {}),
                   axes=data.get("axes", {}), seeds=seeds, combine=combine,
                   seeds_combine=seeds_combine)

    @classmethod
    def from_toml(cls, path: str | Path) -> SweepSpec:
        """Read a spec from TOML; ``name`` defaults to the file's stem."""
        return cls.from_dict(load_toml(path), default_name=Path(path).stem)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` turns back into an equal spec."""
        return {
            "name": self.name,
            "base": _plain(self.base),
            "axes": {k: [_plain(v) for v in vals] for k, vals in self.axes.items()},
            "seeds": {k: list(v) for k, v in self.seeds.items()},
            "combine": self.combine,
            "seeds_combine": self.seeds_combine,
        }

    # -- expansion --------------------------------------------------------------------------
    def configs(self) -> list[RunConfig]:
        """Every run of the sweep, in order (duplicates removed)."""
        return list(self._configs)  # type: ignore[attr-defined]

    def run_ids(self) -> list[str]:
        """The run ids, in the order of :meth:`configs`."""
        return list(self._run_ids)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._configs)  # type: ignore[attr-defined]

    def points(self) -> list[dict[str, Any]]:
        """The axis points: one dict of field values per combination of the axes."""
        names = list(self.axes)
        if not names:
            return [{}]
        columns = [self.axes[n] for n in names]
        combos = (itertools.product(*columns) if self.combine == "grid"
                  else zip(*columns, strict=True))
        return [dict(zip(names, c, strict=True)) for c in combos]

    def seed_triples(self) -> list[tuple[int, int, int]]:
        """(embedding, mlp, split) seeds of each run at one axis point."""
        lists = [self.seeds.get(src, (self.base.get(f"{src}_seed", 0),))
                 for src in SEED_SOURCES]
        if self.seeds_combine == "grid":
            return list(itertools.product(*lists))
        n = max(len(v) for v in lists)
        for src, v in zip(SEED_SOURCES, lists, strict=True):
            if len(v) not in (1, n):
                raise ConfigError(f"seeds.{src}: {len(v)} values, but another seed list has "
                                  f"{n} (give 1 or {n}, or set seeds_combine = \"grid\")")
        return [tuple(v[i % len(v)] for v in lists) for i in range(n)]  # type: ignore[misc]


def _expand(spec: SweepSpec) -> tuple[tuple[RunConfig, ...], tuple[str, ...]]:
    """Build and validate every run (and its id); the first invalid one raises ConfigError
    naming it."""
    triples = spec.seed_triples()
    out: list[RunConfig] = []
    seen: dict[str, None] = {}
    for point in spec.points():
        for seeds in triples:
            data = {**spec.base, **dict(zip(SEED_FIELDS, seeds, strict=True)), **point}
            try:
                cfg = RunConfig.from_dict(data)
            except ConfigError as exc:
                raise ConfigError(f"{_where(spec, point)}: {exc}") from None
            rid = cfg.run_id
            if rid not in seen:
                seen[rid] = None
                out.append(cfg)
    return tuple(out), tuple(seen)


def _where(spec: SweepSpec, point: Mapping[str, Any]) -> str:
    """Which part of a spec an invalid run comes from: the base alone, or an axis point."""
    try:
        RunConfig.from_dict(spec.base)
    except ConfigError:
        return "base"
    if not point:
        return "base"
    return "axes (" + ", ".join(f"{k}={_plain(v)!r}" for k, v in point.items()) + ")"


def _plain(v: Any) -> Any:
    """Tuples become lists and mappings plain dicts, recursively (JSON-ready)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"name must be letters, digits, '.', '_' or '-', got {name!r}")
    return name


def _check_base(base: Any) -> dict[str, Any]:
    if not isinstance(base, Mapping):
        raise ConfigError(f"base must be a table of config fields, got {base!r}")
    unknown = sorted(set(base) - set(CONFIG_FIELDS))
    if unknown:
        raise ConfigError(f"base: unknown config field {unknown[0]!r}")
    return _plain(base)


def _check_axes(axes: Any) -> dict[str, tuple[Any, ...]]:
    if not isinstance(axes, Mapping):
        raise ConfigError(f"axes must be a table of field = [values], got {axes!r}")
    out = {}
    for name, values in axes.items():
        if name not in CONFIG_FIELDS:
            raise ConfigError(f"axes: unknown config field {name!r}")
        if not isinstance(values, list | tuple):
            raise ConfigError(f"axes.{name}: expected a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"axes.{name}: empty axis (give at least one value)")
        out[name] = tuple(_plain(v) for v in values)
    return out


def _check_seeds(seeds: Any) -> dict[str, tuple[int, ...]]:
    if not isinstance(seeds, Mapping):
        raise ConfigError(f"seeds must be a table (embedding, mlp, split), got {seeds!r}")
    out = {}
    for src, value in seeds.items():
        if src not in SEED_SOURCES:
            raise ConfigError(f"seeds: unknown seed source {src!r} (expected one of "
                              f"{', '.join(SEED_SOURCES)})")
        out[src] = parse_seed_list(value, f"seeds.{src}")
    return out


def _require_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _split_combine(combine: Any, seeds_combine: Any) -> tuple[Any, Any]:
    """``combine`` as a string or a table {mode, seeds}; returns (mode, seeds mode)."""
    if isinstance(combine, Mapping):
        unknown = sorted(set(combine) - {"mode", "seeds"})
        if unknown:
            raise ConfigError(f"combine: unknown field {unknown[0]!r} (expected mode, seeds)")
        if "seeds" in combine and seeds_combine is not None:
            raise ConfigError("seeds_combine: given twice (as combine.seeds and "
                              "seeds_combine)")
        seeds_combine = combine.get("seeds", seeds_combine)
        combine = combine.get("mode", "grid")
    return combine, ("zip" if seeds_combine is None else seeds_combine)


def _check_seed_conflicts(spec: SweepSpec) -> None:
    for src in spec.seeds:
        name = f"{src}_seed"
        if name in spec.base:
            raise ConfigError(f"seeds.{src}: also given as base.{name}; give it once")
        if name in spec.axes:
            raise ConfigError(f"seeds.{src}: also given as axes.{name}; give it once")


def _check_zip_lengths(axes: Mapping[str, tuple]) -> None:
    lengths = {k: len(v) for k, v in axes.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ConfigError(f"combine: zip axes must have equal lengths ({desc})")


# -- planning ------------------------------------------------------------------------------


def plan_sweep(spec: SweepSpec, max_batch: int | None = None,
               done: set[str] | frozenset[str] = frozenset()) -> list[list[RunConfig]]:
    """The batches still to train: the whole sweep is batched (:func:`runner.plan_batches`),
    then runs in ``done`` are dropped, so the batches do not depend on what is complete."""
    return drop_done(batch_all(spec, max_batch), done)


def batch_all(spec: SweepSpec, max_batch: int | None = None) -> list[list[RunConfig]]:
    """Every run of the sweep in batches of equal batch key, at most ``max_batch`` models
    each (default: from memory, :func:`runner.default_max_batch`)."""
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
    """Parameters of one model: the embedding and every Linear layer."""
    widths = [2 * cfg.d, *cfg.hidden, cfg.p]
    return cfg.p * cfg.d + sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True))


#: A guess of the per-run table row (Parquet, compressed) in bytes.
TABLE_BYTES_PER_RUN = 3072


def estimate_disk(batches: Sequence[Sequence[RunConfig]]) -> dict[str, int]:
    """About the bytes a set of batches writes (arrays uncompressed, plus a table row), by kind:
    signals, metrics, embeddings, weights, snapshots, other (split indices and table)."""
    from .trainer import RecordPlan, array_shapes

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


def model_step_flops(cfg: RunConfig) -> float:
    """Rough floating-point work of one model's training step (forward, backward, update);
    used only to scale a measured time from one shape to another."""
    n = cfg.n_train
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

    from .trainer import Trainer

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


# -- the store: lock, record, status -------------------------------------------------------


class StoreLock:
    """An exclusive lock on a store for the duration of a sweep (``STORE/sweep.lock``).

    ``flock`` is released by the kernel when the holder dies, so a killed sweep never leaves
    a store locked. The holder's pid, host, sweep and start time are written into the file so
    that a refused sweep (and ``status``) can say who holds it.
    """

    def __init__(self, store: str | Path, sweep: str = ""):
        self.path = Path(store) / LOCK_FILE
        self.sweep = sweep
        self.fd: int | None = None

    def __enter__(self) -> StoreLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = describe_holder(read_holder(self.path.parent))
            raise StoreError(f"store {self.path.parent} is in use by another sweep "
                             f"({holder}); wait for it to finish or use another store"
                             ) from None
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "sweep": self.sweep,
                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def read_holder(store: str | Path) -> dict[str, Any] | None:
    """What the lock file says about its holder (None when empty or unreadable)."""
    try:
        data = json.loads((Path(store) / LOCK_FILE).read_text() or "null")
    except (OSError, json.JSONDecodeError):
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


def record_sweep(store: str | Path, spec: SweepSpec) -> Path:
    """Write the spec and its run ids to ``STORE/sweeps/<name>.json`` (atomically).

    A record of another spec under the same name is kept, renamed to
    ``<name>~<digest of its spec>.json``, so the runs it lists stay accounted for.
    """
    from . import __version__

    d = Path(store) / SWEEPS_DIR
    d.mkdir(exist_ok=True)
    path = d / f"{spec.name}.json"
    if path.is_file():
        try:
            earlier = json.loads(path.read_text()).get("spec")
        except (OSError, json.JSONDecodeError, AttributeError):
            earlier = None
        if earlier != spec.to_dict():
            text = json.dumps(earlier, sort_keys=True).encode()
            os.replace(path, d / f"{spec.name}~{hashlib.sha256(text).hexdigest()[:8]}.json")
    tmp = d / f".{spec.name}.json.{os.getpid()}"
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
    live writers and stale ones), and the lock holder (None when free)."""

    path: Path
    runs: int
    sweeps: list[SweepProgress]
    partial_live: list[str]
    partial_stale: list[str]
    lock_holder: dict[str, Any] | None


def sweep_status(store: str | Path) -> StoreStatus:
    """Progress of every sweep recorded in ``store``."""
    from .store import load

    store = Path(store)
    done = set(load(store).runs.index)  # raises StoreError for a missing/foreign store
    progress = []
    for f in sorted((store / SWEEPS_DIR).glob("*.json")):
        try:
            rec = json.loads(f.read_text())
            ids = rec["run_ids"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            raise StoreError(f"{f}: damaged sweep record") from None
        # the file's stem: the sweep's name, or name~digest for a replaced spec
        progress.append(SweepProgress(f.stem, len(done & set(ids)), len(ids)))
    live, stale = [], []
    for d in sorted((store / "tmp").iterdir()) if (store / "tmp").is_dir() else []:
        if tmp_abandoned(d.name):
            stale.append(d.name)
        else:
            live.append(d.name)
    holder = read_holder(store)
    if holder is not None and holder_alive(holder) is False:
        holder = None
    return StoreStatus(store, len(done), progress, live, stale, holder)


# -- executors -----------------------------------------------------------------------------


class ProgressBar:
    """One bar for the whole sweep: runs done / total, runs per minute, ETA (on stderr)."""

    def __init__(self, total: int, done: int, enabled: bool = True):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="run", file=sys.stderr,
                        disable=not enabled, dynamic_ncols=True, smoothing=0.1,
                        bar_format="{desc}{percentage:3.0f}%|{bar}| {n:.1f}/{total_fmt} runs "
                                   "[{elapsed}<{remaining}{postfix}]")

    def add(self, runs: float) -> None:
        """Count ``runs`` more runs (fractions while a batch is in flight)."""
        self.bar.update(runs)
        rate = self.bar.format_dict.get("rate")
        if rate:
            self.bar.set_postfix_str(f"{60 * rate:,.1f} runs/min", refresh=False)

    def close(self) -> None:
        self.bar.close()


class _BatchCredit:
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


def run_serial(batches: Sequence[Sequence[RunConfig]], store: Path, credit: _BatchCredit
               ) -> list[str]:
    """Train batches one after another in this process."""
    trained = []
    for i, batch in enumerate(batches):
        trained += train_batch(batch, store, progress=lambda n, i=i: credit.steps(i, n))
        credit.finished(i)
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


def _worker_train(i: int, config_dicts: list[dict], store: str) -> list[str]:
    configs = [RunConfig.from_dict(d) for d in config_dicts]

    def report(n: int) -> None:
        if _PROGRESS_QUEUE is not None:
            _PROGRESS_QUEUE.put((i, n))

    return train_batch(configs, store, progress=report)


def local_cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_pool(batches: Sequence[Sequence[RunConfig]], store: Path, workers: int,
             credit: _BatchCredit) -> list[str]:
    """Train batches in ``workers`` spawned processes (torch threads: cores / workers)."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    progress_queue = ctx.Queue()
    workers = min(workers, len(batches))
    threads = max(1, local_cpu_count() // workers)
    trained: list[str] = []

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
        pending = {pool.submit(_worker_train, i, [c.to_dict() for c in b], str(store)): i
                   for i, b in enumerate(batches)}
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for fut in finished:
                i = pending.pop(fut)
                trained += fut.result()  # re-raises a worker's error
                credit.finished(i)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return trained


def import_ray() -> Any:
    """Ray, or ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"the ray executor needs Ray, which is not installed: "
                          f"{RAY_INSTALL_HINT}") from None
    return ray


def _ray_train(config_dicts: list[dict], store: str, threads: int) -> list[str]:
    """A Ray task: train one batch straight into the (shared) store."""
    import torch

    torch.set_num_threads(max(1, threads))
    return train_batch([RunConfig.from_dict(d) for d in config_dicts], store)


def run_ray(batches: Sequence[Sequence[RunConfig]], store: Path, credit: _BatchCredit, *,
            cpus: float = 1.0, gpus: float | None = None) -> list[str]:
    """Train each batch as a Ray remote task on the Ray this process is connected to (see
    :func:`ray_session`): ``num_cpus=cpus``; ``num_gpus=gpus`` (default 1) for batches on
    cuda, or on "auto" when the cluster has GPUs. Each task writes into ``store`` itself."""
    ray = import_ray()
    has_gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(_ray_train)
    refs: dict[Any, int] = {}
    trained: list[str] = []
    try:
        for i, b in enumerate(batches):
            dev = b[0].device
            wants_gpu = dev.startswith("cuda") or (dev == "auto" and has_gpus)
            num_gpus = (1.0 if gpus is None else gpus) if wants_gpu else 0
            ref = task.options(num_cpus=cpus, num_gpus=num_gpus).remote(
                [c.to_dict() for c in b], str(store.resolve()), max(1, int(cpus)))
            refs[ref] = i
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                trained += ray.get(ref)
                credit.finished(refs[ref])
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    return trained


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Ray for the duration of a sweep: the one already initialised in this process, or a
    connection to ``address`` (a cluster), or a local Ray started here (and shut down after).
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
    """Start a local Ray (address None) or connect to a cluster; a failure is one line."""
    kwargs: dict[str, Any] = {"logging_level": "WARNING"}
    if address is None:
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"at {address}" if address else "locally"
        msg = " ".join(str(exc).split())[:300]
        raise ConfigError(f"cannot start or reach Ray {where}: {msg}") from None


# -- running a sweep -----------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    """What :func:`run_sweep` did: runs in the sweep, those already complete before, and the
    ids trained now."""

    name: str
    store: Path
    total: int
    already: int
    trained: list[str]


def check_executor(executor: str, workers: int, spec: SweepSpec) -> None:
    """Refuse bad executor settings, and devices this machine lacks for a local sweep."""
    _require_choice("executor", executor, EXECUTORS)
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if executor == "ray":
        import_ray()
    else:
        for device in {c.device for c in spec.configs()}:
            resolve_device(device)


def run_sweep(spec: SweepSpec, store: str | Path, *, executor: str = "local", workers: int = 1,
              address: str | None = None, max_batch: int | None = None,
              ray_cpus: float = 1.0, ray_gpus: float | None = None,
              progress: bool = True) -> SweepReport:
    """Train every run of ``spec`` not yet complete in ``store``.

    Args:
        executor: "local" (this machine) or "ray" (``address``: a running cluster, or None
            for a local Ray instance or the one already initialised).
        workers: local worker processes (1: train in this process).
        max_batch: models per batch (default: :func:`runner.default_max_batch`).
        ray_cpus, ray_gpus: resources each Ray task asks for (gpus: default 1 for cuda runs).
        progress: show the progress bar on stderr.

    Raises ConfigError / StoreError before anything is written for a bad spec, settings or
    store, and StoreError when another sweep holds the store.
    """
    store = Path(store)
    check_executor(executor, workers, spec)
    try:
        planned = batch_all(spec, max_batch)  # before writing: a device error comes first
    except ConfigError as exc:
        if executor != "ray" or max_batch is not None:
            raise
        raise ConfigError(f"{exc}; pass --max-batch to size batches for the cluster") from None
    # Start Ray (or fail to) before writing anything, and only when there is work for it.
    need_ray = executor == "ray" and bool(drop_done(planned, completed_run_ids(store)))
    with contextlib.ExitStack() as stack:
        if need_ray:
            stack.enter_context(ray_session(address))
        init_store(store)
        stack.enter_context(StoreLock(store, spec.name))
        record_sweep(store, spec)
        clean_stale_tmp(store)
        done = completed_run_ids(store) & set(spec.run_ids())
        batches = drop_done(planned, done)
        bar = ProgressBar(len(spec), len(done), enabled=progress and bool(batches))
        stack.callback(bar.close)
        credit = _BatchCredit(bar, batches)
        if not batches:
            trained: list[str] = []
        elif executor == "ray":
            trained = run_ray(batches, store, credit, cpus=ray_cpus, gpus=ray_gpus)
        elif workers > 1 and len(batches) > 1:
            trained = run_pool(batches, store, workers, credit)
        else:
            trained = run_serial(batches, store, credit)
    return SweepReport(spec.name, store, len(spec), len(done), trained)


__all__ = [
    "Calibration",
    "SweepProgress",
    "SweepReport",
    "SweepSpec",
    "StoreLock",
    "StoreStatus",
    "TimeEstimate",
    "calibrate",
    "estimate_disk",
    "estimate_time",
    "batch_all",
    "drop_done",
    "plan_sweep",
    "ray_session",
    "record_sweep",
    "run_sweep",
    "sweep_status",
    "train_batch",
]
