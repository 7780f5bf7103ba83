"""This machine's training cost, measured once and cached.

Where a store already holds batches of the same dtype and device class, their measured run
times give the cost (:func:`store_cost`: the median over batches). Otherwise the cost of one
model-step of the paper's default shape (p = 59, d = 128, hidden 100, 100) is measured by
:func:`circle_survival.sweep.calibrate` (two warm-up steps that are not timed, then the median
of the timed steps, the metrics' share included) once per machine key: host name, torch
version, torch threads, dtype and device. The result is kept with when it was taken, the load
average then and the number of cores in ``costs.json`` under the user's cache folder
(``platformdirs.user_cache_dir``; ``$CIRCLE_SURVIVAL_CACHE_DIR`` overrides it), and taken again
when stale: older than :data:`STALE_DAYS`, or taken under load on a machine now quieter.
Other shapes scale by :func:`circle_survival.sweep.model_step_flops`.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig, resolve_device
from .plan import model_step_flops

CACHE_ENV = "CIRCLE_SURVIVAL_CACHE_DIR"
CACHE_FILE = "costs.json"
#: models trained in a calibration on the CPU and on a GPU (where the cost per model falls
#: with the batch size, so the measurement uses a batch of realistic size)
CALIBRATION_MODELS = {"cpu": 8, "cuda": 512}
#: a calibration older than this many days is taken again
STALE_DAYS = 7
#: a calibration taken with more load than this per core is taken again once the machine is
#: at most half as busy (a busy machine's calibration overestimates 2-4x)
BUSY_LOAD_PER_CORE = 0.5


def cache_path() -> Path:
    """The cost cache file: ``$CIRCLE_SURVIVAL_CACHE_DIR/costs.json`` or the user cache."""
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        from platformdirs import user_cache_dir

        folder = user_cache_dir("circle-survival")
    return Path(folder) / CACHE_FILE


def machine_key(dtype: str, device: str) -> str:
    """'host|torch 2.13.0|2 threads|float64|cpu': what a measured cost is valid for."""
    import torch

    dev = resolve_device(device)
    if dev.startswith("cuda"):
        dev = f"{dev} {torch.cuda.get_device_name(torch.device(dev))}"
    return (f"{socket.gethostname()}|torch {torch.__version__}|{torch.get_num_threads()} "
            f"threads|{dtype}|{dev}")


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _load() -> float | None:
    """The machine's 1-minute load average (None where the system has none)."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


@dataclass(frozen=True)
class Cost:
    """Seconds of training per unit of :func:`model_step_flops` work, and where it comes
    from: a calibration of this machine (when, under what load, on how many cores) or the
    run times measured in a store (``batches`` of them)."""

    seconds_per_flop: float
    source: str
    measured_at: float = 0.0
    load: float | None = None
    cores: int = 0
    batches: int = 0

    def ms_per_default_step(self) -> float:
        """The cost of one model-step of the paper's default shape, in milliseconds."""
        return 1000 * self.seconds_per_flop * model_step_flops(RunConfig())

    def describe(self) -> str:
        """'11.2 ms per model-step of the default shape, calibrated 2026-12-04 18:30 under
        load 0.3 on 2 cores' or '..., measured in 12 batches of the store'."""
        cost = f"{self.ms_per_default_step():.3g} ms per model-step of the default shape"
        if self.source == "store":
            return f"{cost}, measured in {self.batches} batch(es) of the store"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.measured_at))
        load = "unknown load" if self.load is None else f"load {self.load:.1f}"
        return f"{cost}, calibrated {when} under {load} on {self.cores} cores"

    def stale(self, now: float | None = None, load_now: float | None = None) -> bool:
        """Whether the calibration is to be taken again: older than :data:`STALE_DAYS`, or
        taken on a busy machine (over :data:`BUSY_LOAD_PER_CORE` per core) that is now at
        most half as busy."""
        now = time.time() if now is None else now
        if now - self.measured_at > STALE_DAYS * 86400:
            return True
        busy = self.load is not None and self.load > BUSY_LOAD_PER_CORE * max(1, self.cores)
        return busy and load_now is not None and load_now <= self.load / 2


def _cached(entry: object) -> Cost | None:
    """A cache entry as a Cost; None for an entry of an older format (a bare number, which
    says nothing of when it was measured: measured again)."""
    if not isinstance(entry, dict):
        return None
    try:
        return Cost(float(entry["seconds_per_flop"]), "calibration",
                    float(entry["measured_at"]), entry.get("load"), int(entry["cores"]))
    except (KeyError, TypeError, ValueError):
        return None


def calibration(dtype: str = "float64", device: str = "auto", *,
                refresh: bool = False) -> Cost:
    """This machine's cost for ``dtype`` on ``device``: from the cache unless it is missing,
    stale (:meth:`Cost.stale`) or ``refresh``; else measured (:func:`calibrate`) and cached
    with when, under what load and on how many cores it was taken."""
    from .plan import calibrate

    key = machine_key(dtype, device)
    path = cache_path()
    cache = _read_cache(path)
    cost = _cached(cache.get(key))
    if not refresh and cost is not None and cost.seconds_per_flop > 0 and not cost.stale(
            load_now=_load()):
        return cost
    dev = resolve_device(device)
    cfg = RunConfig(steps=10, dtype=dtype, device=dev)
    m = CALIBRATION_MODELS["cuda" if dev.startswith("cuda") else "cpu"]
    load = _load()
    cal = calibrate([cfg.replace(embedding_seed=i) for i in range(m)], budget_s=2.0,
                    max_models=m, max_models_gpu=m)
    cost = Cost(cal.seconds_per_model_step / model_step_flops(cfg), "calibration",
                time.time(), load, os.cpu_count() or 1)
    cache[key] = {"seconds_per_flop": cost.seconds_per_flop, "measured_at": cost.measured_at,
                  "load": cost.load, "cores": cost.cores}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.part")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache folder: measure again next time
    return cost


def seconds_per_flop(dtype: str = "float64", device: str = "auto", *,
                     refresh: bool = False) -> float:
    """Seconds of training per unit of :func:`model_step_flops` work on this machine
    (:func:`calibration`)."""
    return calibration(dtype, device, refresh=refresh).seconds_per_flop


def store_cost(runs: Any, dtype: str, device: str) -> Cost | None:
    """The cost measured by the batches of a store's runs table ``runs`` trained in
    ``dtype`` on the device class of ``device`` (cpu or cuda): the median over batches of
    train seconds / (models x steps x work per step); None if it holds none."""
    if runs is None or len(runs) == 0 or "train_seconds" not in runs:
        return None
    from ..store import config_from_row

    kind = "cuda" if resolve_device(device).startswith("cuda") else "cpu"
    per = []
    for _, row in runs.drop_duplicates("batch_id").iterrows():
        if row["dtype"] != dtype or not str(row["resolved_device"]).startswith(kind):
            continue
        cfg = config_from_row(row)
        work = int(row["batch_size"]) * cfg.steps * model_step_flops(cfg)
        if work > 0 and float(row["train_seconds"]) > 0:
            per.append(float(row["train_seconds"]) / work)
    if not per:
        return None
    return Cost(float(np.median(per)), "store", batches=len(per))


def costs_for(configs: Iterable[RunConfig], *, refresh: bool = False,
              runs: Any = None) -> dict[tuple[str, str], Cost]:
    """The cost of each (dtype, device) among ``configs``: measured in the store's ``runs``
    where it holds batches of that kind, else this machine's calibration."""
    out: dict[tuple[str, str], Cost] = {}
    for c in configs:
        key = (c.dtype, c.device)
        if key not in out:
            out[key] = (None if refresh else store_cost(runs, c.dtype, c.device)) or \
                calibration(c.dtype, c.device, refresh=refresh)
    return out


def estimate_seconds(configs: Iterable[RunConfig], *, refresh: bool = False,
                     runs: Any = None) -> float:
    """Serial training time of ``configs`` on this machine (seconds), from the cost of each
    (dtype, device) met (:func:`costs_for`)."""
    configs = list(configs)
    per = costs_for(configs, refresh=refresh, runs=runs)
    return sum(per[(c.dtype, c.device)].seconds_per_flop * model_step_flops(c) * c.steps
               for c in configs)
