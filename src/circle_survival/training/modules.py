"""One run's model as an ``nn.Module`` with its initial parameters, for the generic trainer
(:mod:`.functional`) and for reading a run back from a store.

``model = "mlp"``: :class:`~circle_survival.model.ModularAdditionMLP` holding the initial
state of :func:`.initial_state.initial_state` (the same draws as the fused trainer, so both
start every run from the same parameters). ``model = "transformer"``:
:class:`.transformer.OneLayerTransformer` with its authors' initialisation. Either module
maps int tensors (a, b) of one shape to logits (..., p); its token rows 0 .. p-1 (the
embedding the Fourier analysis reads) are :func:`embedding_name`'s parameter, first p rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..model import ModularAdditionMLP
from .initial_state import InitialState, initial_state
from .task import split_indices
from .transformer import OneLayerTransformer

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def embedding_name(cfg: RunConfig) -> str:
    """The parameter whose first p rows are the token embedding: "embedding" or "W_E"."""
    return "W_E" if cfg.model == "transformer" else "embedding"


def empty_module(cfg: RunConfig, dtype: torch.dtype | None = None) -> nn.Module:
    """The run's module with zero parameters (``dtype`` default: the run's)."""
    dtype = dtype or DTYPES[cfg.dtype]
    if cfg.model == "transformer":
        return OneLayerTransformer(cfg.p, cfg.d, cfg.n_heads, cfg.d_mlp, cfg.attention_rate,
                                   dtype=dtype)
    return ModularAdditionMLP(cfg.p, cfg.d, cfg.hidden, cfg.activation, dtype=dtype)


def build(cfg: RunConfig) -> tuple[nn.Module, InitialState]:
    """The run's module at its initial parameters (float64, CPU) and its initial state
    (the split; for the transformer ``embedding`` is W_E[:p] and weights/biases are empty)."""
    module = empty_module(cfg, torch.float64)
    if cfg.model == "transformer":
        module.init_weights(cfg.embedding_seed, cfg.mlp_seed)
        train, test = split_indices(cfg.p, cfg.n_train, cfg.split_seed, cfg.init_scheme)
        state = InitialState(module.W_E.detach()[: cfg.p].clone(), [], [], train, test, {})
        return module, state
    state = initial_state(cfg)
    with torch.no_grad():
        module.embedding.copy_(state.embedding)
        for layer, w, b in zip(module.layers, state.weights, state.biases, strict=True):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    return module, state


def module_from_config(cfg: RunConfig, state: Mapping[str, np.ndarray | torch.Tensor]
                       ) -> nn.Module:
    """The run's module with parameters ``state`` (a store's weights or snapshot)."""
    if cfg.model == "mlp":
        return ModularAdditionMLP.from_config(cfg, state)
    module = empty_module(cfg)
    dtype = DTYPES[cfg.dtype]
    module.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=dtype)
                            for k, v in state.items()})
    return module
