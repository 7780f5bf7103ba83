"""The paper's model as a plain PyTorch module, for hooks, ablations and other tools.

:class:`ModularAdditionMLP` holds a learnable embedding E (p, d) and an MLP
2d -> hidden[0] -> ... -> p with the run's activation after every hidden layer. The logits of
a pair (a, b) are MLP([E[a], E[b]]): the same function the batched trainer computes (it uses
the identity [E[a], E[b]] W = (E W_a)[a] + (E W_b)[b]). Its ``state_dict`` has the store's
layout: ``embedding`` (p, d), ``layers.{l}.weight`` (out, in), ``layers.{l}.bias`` (out,).

    model = store.model(run_id)          # final weights; store.model(run_id, step=500)
    logits = model.all_logits()          # (p*p, p), pair i = (i mod p, i div p)
    logits = model(a, b)                 # a, b: int tensors of any shape -> (..., p)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import RunConfig

#: the activation modules, by config name (as the trainer applies them)
ACTIVATION_MODULES = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class ModularAdditionMLP(nn.Module):
    """Embedding + MLP of one run.

    Args:
        p: modulus (tokens 0 .. p-1, p output logits).
        d: embedding width.
        hidden: hidden layer widths (the paper's (100, 100)).
        activation: silu, relu, gelu or tanh, after every hidden layer.
        dtype: parameter dtype (the paper's float64).

    Attributes:
        embedding: (p, d) parameter.
        layers: the Linear layers, 2d -> hidden[0], ..., hidden[-1] -> p.
        activations: one activation module after each hidden layer (hook these to read the
            hidden representations).
    """

    def __init__(self, p: int, d: int, hidden: Sequence[int] = (100, 100),
                 activation: str = "silu", dtype: torch.dtype = torch.float64):
        super().__init__()
        if activation not in ACTIVATION_MODULES:
            raise ValueError(f"unknown activation {activation!r}")
        self.p, self.d, self.activation = p, d, activation
        widths = [2 * d, *hidden, p]
        self.embedding = nn.Parameter(torch.zeros(p, d, dtype=dtype))
        self.layers = nn.ModuleList(nn.Linear(i, o, dtype=dtype)
                                    for i, o in zip(widths[:-1], widths[1:], strict=True))
        self.activations = nn.ModuleList(ACTIVATION_MODULES[activation]()
                                         for _ in hidden)

    @classmethod
    def from_config(cls, cfg: RunConfig, state: Mapping[str, np.ndarray | torch.Tensor]
                    ) -> ModularAdditionMLP:
        """The model of ``cfg`` with parameters ``state`` (store layout; see the module)."""
        dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        model = cls(cfg.p, cfg.d, cfg.hidden, cfg.activation, dtype=dtype)
        model.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=dtype)
                               for k, v in state.items()})
        return model

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logits (..., p) of the pairs (a, b); a and b are int tensors of one shape."""
        x = torch.cat([F.embedding(a, self.embedding), F.embedding(b, self.embedding)], dim=-1)
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            x = act(layer(x))
        return self.layers[-1](x)

    def all_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) of every pair index i = 0 .. p*p - 1: a = i mod p, b = i div p."""
        i = torch.arange(self.p * self.p, device=self.embedding.device)
        return i % self.p, i // self.p

    def all_logits(self) -> torch.Tensor:
        """Logits (p*p, p) of every pair, in pair-index order (see :meth:`all_pairs`)."""
        return self(*self.all_pairs())
