"""M models' parameters in one flat storage, and their copies on the host.

The parameters live in one flat storage, parameter by parameter: embedding, then W_0, b_0,
W_1, b_1, ... (W in (in, out) layout), each an (M, ...) block starting at a multiple of
:data:`SEGMENT_ALIGN` elements; the gaps are zeros that AdamW keeps at zero. So every chunk of
models of every parameter is contiguous, and the gradients can be written straight into a
storage of the same layout.

On the host a batch's parameters are either in ``nn.Module`` layout (:func:`module_layout`:
one array per parameter with a leading model axis) or, for checkpoints, in rows
(:func:`host_rows`: every parameter of a model in one row, (M, P), read back by
:func:`rows_into`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..config import RunConfig
from . import ensemble
from .initial_state import InitialState

#: each parameter's block in the flat storage starts at a multiple of this many elements
SEGMENT_ALIGN = 8


def param_names(cfg: RunConfig) -> list[str]:
    """Names in ``nn.Module`` style: embedding, layers.{l}.weight, layers.{l}.bias."""
    names = ["embedding"]
    for layer in range(len(cfg.hidden) + 1):
        names += [f"layers.{layer}.weight", f"layers.{layer}.bias"]
    return names


def stack_params(states: Sequence[InitialState], dtype: torch.dtype, device: str
                 ) -> tuple[torch.Tensor, list[int], list[torch.Tensor]]:
    """Lay every parameter of the runs' initial states into one flat storage.

    Returns the storage, each parameter's offset in it (a multiple of :data:`SEGMENT_ALIGN`)
    and its (M, ...) view, in the order embedding, W_0, b_0, W_1, b_1, ...
    """
    per_model = [[s.embedding] + [t for w, b in zip(s.weights, s.biases, strict=True)
                                  for t in (w.T, b)] for s in states]
    shapes = [(len(states), *t.shape) for t in per_model[0]]
    offsets, off = [], 0
    for shape in shapes:
        offsets.append(off)
        off += ensemble.padded_width(math.prod(shape), SEGMENT_ALIGN)
    storage = torch.zeros(off, dtype=dtype, device=device)
    views = []
    for i, (o, shape) in enumerate(zip(offsets, shapes, strict=True)):
        view = storage[o:o + math.prod(shape)].view(shape)
        view.copy_(torch.stack([ts[i] for ts in per_model]).to(device))
        views.append(view)
    return storage, offsets, views


def module_layout(names: Sequence[str], params: Sequence[torch.Tensor]
                  ) -> dict[str, np.ndarray]:
    """Every parameter in ``nn.Module`` layout with a leading model axis, as numpy copies."""
    out = {}
    for name, t in zip(names, params, strict=True):
        a = t.detach()
        if name.endswith(".weight"):
            a = a.transpose(1, 2)
        out[name] = a.cpu().numpy().copy()  # a copy, never a view of live state
    return out


def host_rows(parts: Sequence[torch.Tensor], m: int, dtype: torch.dtype,
              pinned: bool = False) -> torch.Tensor:
    """The (M, ...) tensors ``parts`` as one (M, P) host tensor, each model's values in one
    row; with ``pinned`` on a GPU the copy is asynchronous (into fresh pinned memory): wait
    for the device before reading it."""
    if not parts:
        return torch.empty(m, 0, dtype=dtype)
    dev = torch.cat([t.reshape(m, -1) for t in parts], dim=1)
    if pinned and dev.is_cuda:
        out = torch.empty(dev.shape, dtype=dev.dtype, pin_memory=True)
        return out.copy_(dev, non_blocking=True)
    return dev.cpu()


def rows_into(parts: Sequence[torch.Tensor], array: np.ndarray) -> None:
    """Copy :func:`host_rows`' layout (M, P) back into the (M, ...) tensors ``parts``."""
    host = torch.as_tensor(array)
    off = 0
    for t in parts:
        size = t[0].numel()
        t.copy_(host[:, off:off + size].reshape(t.shape))
        off += size
