"""This machine's training cost, measured once and cached.

The cost of one model-step of the paper's default shape (p = 59, d = 128, hidden 100, 100)
is measured by :func:`circle_survival.sweep.calibrate` (two warm-up steps that are not timed,
then the median of the timed steps, the metrics' share included) once per machine key: host
name, torch version, torch threads, dtype and device. The result is kept in
``costs.json`` under the user's cache folder (``platformdirs.user_cache_dir``;
``$CIRCLE_SURVIVAL_CACHE_DIR`` overrides it), so listing presets or a dry run costs nothing
after the first call. Other shapes scale by :func:`circle_survival.sweep.model_step_flops`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from ..config import RunConfig, resolve_device

CACHE_ENV = "CIRCLE_SURVIVAL_CACHE_DIR"
CACHE_FILE = "costs.json"
#: models trained in a calibration on the CPU and on a GPU (where the cost per model falls
#: with the batch size, so the measurement uses a batch of realistic size)
CALIBRATION_MODELS = {"cpu": 8, "cuda": 512}


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


def seconds_per_flop(dtype: str = "float64", device: str = "auto", *,
                     refresh: bool = False) -> float:
    """Seconds of training per unit of :func:`model_step_flops` work on this machine, from
    the cache or (first call, or ``refresh``) from a calibration that is then cached."""
    from . import calibrate, model_step_flops

    key = machine_key(dtype, device)
    path = cache_path()
    cache = _read_cache(path)
    if not refresh and isinstance(cache.get(key), int | float) and cache[key] > 0:
        return float(cache[key])
    dev = resolve_device(device)
    cfg = RunConfig(steps=10, dtype=dtype, device=dev)
    m = CALIBRATION_MODELS["cuda" if dev.startswith("cuda") else "cpu"]
    cal = calibrate([cfg.replace(embedding_seed=i) for i in range(m)], budget_s=2.0,
                    max_models=m, max_models_gpu=m)
    value = cal.seconds_per_model_step / model_step_flops(cfg)
    cache[key] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.part")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache folder: measure again next time
    return value


def estimate_seconds(configs: Iterable[RunConfig], *, refresh: bool = False) -> float:
    """Serial training time of ``configs`` on this machine (seconds), from the cached cost
    of each (dtype, device) met."""
    from . import model_step_flops

    per: dict[tuple[str, str], float] = {}
    total = 0.0
    for c in configs:
        key = (c.dtype, c.device)
        if key not in per:
            per[key] = seconds_per_flop(c.dtype, c.device, refresh=refresh)
        total += per[key] * model_step_flops(c) * c.steps
    return total
