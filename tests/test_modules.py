"""A run's module: the same initial parameters as the fused trainer, and read back."""

import numpy as np
import torch

from circle_survival import RunConfig
from circle_survival.training.modules import build, embedding_name, module_from_config
from circle_survival.training.trainer import Trainer


def test_the_mlp_starts_where_the_fused_trainer_does():
    cfg = RunConfig(p=7, d=4, hidden=(6, 5), embedding_seed=1, mlp_seed=2, device="cpu")
    module, state = build(cfg)
    fused = Trainer([cfg]).state_dict()
    for name, value in module.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), fused[name][0])
    assert embedding_name(cfg) == "embedding" and state.train_idx.shape == (cfg.n_train,)


def test_a_transformer_round_trips_through_its_state():
    cfg = RunConfig(p=7, d=8, model="transformer", n_heads=2, d_mlp=16, attention_rate=0.5)
    module, state = build(cfg)
    torch.testing.assert_close(state.embedding, module.W_E[:7].detach())
    again = module_from_config(cfg, {k: v.numpy() for k, v in module.state_dict().items()})
    a = torch.arange(7)
    torch.testing.assert_close(again(a, a), module(a, a))
    assert embedding_name(cfg) == "W_E" and again.attention_rate == 0.5
