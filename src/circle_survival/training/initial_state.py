"""The initial state of a run: embedding, MLP weights and split, drawn from three seeds.

Conventions: weights are in PyTorch's ``nn.Linear`` layout, ``W`` of shape (out, in) and ``b``
of shape (out,); the embedding has shape (p, d). Everything is drawn in float64 on the CPU and
cast afterwards, so a float32 run starts from the float64 run's initial state, rounded.

Schemes (``RunConfig.init_scheme``):
- "reference": as the authors' code. ``torch.manual_seed(seed)``, then the Linear layers
  2d -> h1 -> ... -> p are constructed in order (PyTorch's default init), then the embedding is
  ``torch.normal(0, 1, size=(p, d))``. The MLP comes from ``mlp_seed``; the embedding from
  ``embedding_seed`` the same way (layers constructed first, then the draw), so with all seeds
  equal a run is exactly the authors' run for that seed.
- "reference_fresh_embedding": as above, but the embedding is drawn right after
  ``torch.manual_seed(embedding_seed)`` (the authors' "fixed MLP" runs).
- "independent": ``torch.Generator`` objects seeded per source; same distributions.
The global RNG state of torch is saved and restored around every draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from .task import split_indices


@dataclass
class InitialState:
    """One model's initial state (float64, CPU) and split.

    embedding: (p, d); weights: list of (out, in); biases: list of (out,);
    train_idx, test_idx: int64 pair indices; intervention: what an intervention resolved to.
    """

    embedding: torch.Tensor
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    train_idx: np.ndarray
    test_idx: np.ndarray
    intervention: dict


def layer_shapes(cfg: RunConfig) -> list[tuple[int, int]]:
    """(in, out) of each Linear layer: 2d -> hidden... -> p."""
    widths = [2 * cfg.d, *cfg.hidden, cfg.p]
    return list(zip(widths[:-1], widths[1:], strict=True))


def _reference_layers(cfg: RunConfig) -> list[nn.Linear]:
    return [nn.Linear(i, o, dtype=torch.float64) for i, o in layer_shapes(cfg)]


def draw_mlp(cfg: RunConfig) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The MLP's initial weights (out, in) and biases (out,) from ``cfg.mlp_seed``."""
    if cfg.init_scheme == "independent":
        g = torch.Generator().manual_seed(cfg.mlp_seed)
        ws, bs = [], []
        for i, o in layer_shapes(cfg):
            bound = 1.0 / math.sqrt(i)
            ws.append((torch.rand(o, i, generator=g, dtype=torch.float64) * 2 - 1) * bound)
            bs.append((torch.rand(o, generator=g, dtype=torch.float64) * 2 - 1) * bound)
        return ws, bs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.mlp_seed)
        layers = _reference_layers(cfg)
    return [lin.weight.detach().clone() for lin in layers], [
        lin.bias.detach().clone() for lin in layers
    ]


def draw_embedding(cfg: RunConfig) -> torch.Tensor:
    """The embedding (p, d), N(0, 1) entries, from ``cfg.embedding_seed`` (no intervention)."""
    if cfg.init_scheme == "independent":
        g = torch.Generator().manual_seed(cfg.embedding_seed)
        return torch.randn(cfg.p, cfg.d, generator=g, dtype=torch.float64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.embedding_seed)
        if cfg.init_scheme == "reference":
            _reference_layers(cfg)  # the authors' stream draws the layers first
        return torch.normal(0.0, 1.0, size=(cfg.p, cfg.d), dtype=torch.float64)


def initial_state(cfg: RunConfig) -> InitialState:
    """Draw the full initial state of one run, applying ``cfg.intervention`` if any."""
    from ..interventions import apply_intervention

    embedding, resolved = apply_intervention(draw_embedding(cfg), cfg.intervention,
                                             cfg.embedding_seed)
    ws, bs = draw_mlp(cfg)
    train, test = split_indices(cfg.p, cfg.n_train, cfg.split_seed, cfg.init_scheme)
    return InitialState(embedding, ws, bs, train, test, resolved)
