"""How many models fit in one batch on a device: bytes per model from a config, free memory.

A batch of M models on a device holds, per model (``itemsize`` = 8 for float64, 4 for float32):

    state        4 P itemsize          parameters, gradients, AdamW's two moments (P padded
                                       per parameter to the trainer's segment alignment)
    pairs        3 (n_train + n_test) 8   a, b (flattened row indices) and labels, int64
    one-hot      2 p n_train itemsize  the pair matrix of the deterministic pair sums (off
                                       the CPU only, see ``Trainer(onehot_sums=...)``)
    activations  n_train (2 sum(hidden) + 2 w + 2 max(hidden)) itemsize + 4 p h_0 itemsize
                                       one step's peak: every hidden layer's pre-activation
                                       and activation, the logits and their softmax (w = p
                                       padded to the output alignment), two backward
                                       temporaries of the widest layer, the first layer's
                                       p-row tables and their gradients
    records      2 block (p//2 + 1 + 4) itemsize   the device's block of signals and metrics
                                       (the host keeps two more)

On a GPU the whole batch is one chunk, so the activations count once per model; on the CPU a
chunk of models is formed at a time (``trainer.default_chunk_size``) and the activations of
one chunk only are live. :func:`max_models` divides a fraction of the free memory by these
bytes (the rest is headroom for the allocator's rounding and the evaluation's temporaries).

Meant to be called where a batch is formed: ``max_models(cfg)`` for ``cfg.device`` (or
``max_models(cfg, free=...)`` with a known budget), then ``min(that, --max-batch)``.
"""

from __future__ import annotations

import math
import os

import torch

from ..config import RunConfig, resolve_device
from .ensemble import padded_width

#: the share of the free memory a batch may use
DEFAULT_FRACTION = 0.8
#: the trainer's block of step records
RECORD_BLOCK = 1024


def _named(device: str) -> str:
    """``device`` as given, "auto" resolved (no check that the device is present)."""
    return resolve_device(device) if device == "auto" else device


def parameter_count(cfg: RunConfig) -> int:
    """Parameters per model: embedding p*d, then each layer's weights and biases."""
    widths = [2 * cfg.d, *cfg.hidden, cfg.p]
    return cfg.p * cfg.d + sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True))


def bytes_per_model(cfg: RunConfig, device: str | None = None) -> dict[str, int]:
    """Bytes one model of a batch needs on ``device`` (default ``cfg.device``), by part
    (state, pairs, onehot, activations, records) and their ``total``."""
    device = _named(cfg.device if device is None else device)
    item = 8 if cfg.dtype == "float64" else 4
    state_elements = parameter_count(cfg)  # (each block's alignment adds < 8 per batch)
    n_test = cfg.p * cfg.p - cfg.n_train
    w = padded_width(cfg.p)
    parts = {
        "state": 4 * state_elements * item,
        "pairs": 3 * (cfg.n_train + n_test) * 8,
        "onehot": 0 if device == "cpu" else 2 * cfg.p * cfg.n_train * item,
        "activations": (cfg.n_train * (2 * sum(cfg.hidden) + 2 * w + 2 * max(cfg.hidden))
                        + 4 * cfg.p * cfg.hidden[0]) * item,
        "records": 2 * RECORD_BLOCK * (cfg.n_freq + 4) * item,
    }
    parts["total"] = sum(parts.values())
    return parts


def free_memory(device: str) -> int:
    """Free bytes on ``device``: the CUDA driver's free memory of that GPU, or the host's
    available memory (``MemAvailable`` of /proc/meminfo, else physical memory) for the CPU."""
    device = resolve_device(device)
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def batch_bytes(cfg: RunConfig, m: int, device: str | None = None) -> int:
    """Bytes a batch of ``m`` models of ``cfg`` holds on ``device`` (default ``cfg.device``):
    every model's state, pairs, one-hot and records, and the activations of every model on a
    GPU or of one chunk (``trainer.default_chunk_size``) on the CPU."""
    from .trainer import default_chunk_size

    device = _named(cfg.device if device is None else device)
    parts = bytes_per_model(cfg, device)
    live = default_chunk_size(cfg, m, device) if device == "cpu" else m
    return m * (parts["total"] - parts["activations"]) + live * parts["activations"]


def max_models(cfg: RunConfig, device: str | None = None, *, free: int | None = None,
               fraction: float = DEFAULT_FRACTION, chunk: int | None = None) -> int:
    """The most models of ``cfg`` one batch may hold on ``device`` (at least 1).

    ``free``: the free bytes (default: :func:`free_memory` now). On the CPU the activations
    count for one chunk of ``chunk`` models (default 1) rather than for every model.
    """
    device = _named(cfg.device if device is None else device)
    budget = fraction * (free_memory(device) if free is None else free)
    parts = bytes_per_model(cfg, device)
    if device == "cpu":
        fixed = (chunk or 1) * parts["activations"]
        per = parts["total"] - parts["activations"]
    else:
        fixed, per = 0, parts["total"]
    return max(1, math.floor((budget - fixed) / per))


__all__ = ["batch_bytes", "bytes_per_model", "free_memory", "max_models", "parameter_count"]
