"""The generic torch.func trainer against a plain one-model loop and against the fused path."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from circle_survival import RunConfig
from circle_survival.fourier import signal
from circle_survival.training.functional import (
    FuncTrainer,
    fused_applies,
    make_trainer,
    train,
)
from circle_survival.training.modules import build
from circle_survival.training.trainer import MemorySink, Trainer
from circle_survival.variants import labels, log_order

STEPS = 100


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def plain_loop(cfg: RunConfig, steps: int = STEPS):
    """One model as plain PyTorch: its module, autograd, torch.optim (AdamW or SGD)."""
    module, state = build(cfg)
    idx = torch.as_tensor(state.train_idx)
    y = torch.as_tensor(labels(cfg.task, cfg.p, cfg.task_table))[idx]
    a, b = idx % cfg.p, idx // cfg.p
    emb = "W_E" if cfg.model == "transformer" else "embedding"
    params = []
    for name, t in module.named_parameters():
        frozen = cfg.freeze_embedding if name == emb else cfg.freeze_mlp
        t.requires_grad_(not frozen)
        params += [] if frozen else [t]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                weight_decay=cfg.weight_decay)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(module(a, b), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}, np.array(losses)


def check_against_plain(configs, chunk_size=None):
    trainer = FuncTrainer(configs, chunk_size=chunk_size)
    sink = MemorySink(configs)
    trainer.run(sink)
    final = trainer.state_dict()
    for i, cfg in enumerate(configs):
        state, losses = plain_loop(cfg, cfg.steps)
        for name, value in state.items():
            assert rel_err(final[name][i], value) < 1e-9, name
        steps = sink["metric_steps"]
        inner = steps < cfg.steps
        assert rel_err(sink["metrics"][i, inner, 0], losses[steps[inner]]) < 1e-9
    return trainer, sink


def seeded(n=2, **fields):
    fields = {"steps": STEPS, "device": "cpu", **fields}
    return [RunConfig(embedding_seed=s, mlp_seed=s + 10, split_seed=s + 20, **fields)
            for s in range(n)]


SMALL_MLP = {"p": 13, "d": 12, "hidden": (16, 16)}
SMALL_TRANSFORMER = {"model": "transformer", "p": 13, "d": 16, "n_heads": 4, "d_mlp": 32}


@pytest.mark.parametrize("fields", [
    SMALL_MLP,
    {**SMALL_MLP, "activation": "relu", "hidden": (8, 8, 8), "task": "subtract"},
    {**SMALL_MLP, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9},
    {**SMALL_MLP, "task": "multiply"},
    SMALL_TRANSFORMER,
    {**SMALL_TRANSFORMER, "attention_rate": 0.0, "lr": 1e-3, "weight_decay": 1.0,
     "betas": (0.9, 0.98)},
    {**SMALL_TRANSFORMER, "attention_rate": 0.5, "optimizer": "sgd", "lr": 0.05},
], ids=["mlp", "mlp-relu-deep-subtract", "mlp-sgd", "mlp-multiply", "transformer",
        "transformer-constant-attention", "transformer-half-rate-sgd"])
def test_generic_equals_a_plain_one_model_loop(fields, one_thread):
    check_against_plain(seeded(3, **fields), chunk_size=2)


def test_per_model_lr_and_decay_and_a_frozen_embedding(one_thread):
    configs = [c.replace(lr=lr, weight_decay=wd, freeze_embedding=True)
               for c, lr, wd in zip(seeded(3, **SMALL_TRANSFORMER),
                                    (1e-3, 3e-3, 1e-2), (1.0, 0.0, 0.5), strict=True)]
    trainer, sink = check_against_plain(configs)
    np.testing.assert_array_equal(sink["embedding_init"], sink["embedding_final"])
    assert trainer.embedding().shape == (3, 13, 16)


def test_generic_equals_the_fused_path_on_the_papers_mlp(one_thread):
    configs = seeded(3, p=17, d=16, hidden=(24, 24), signal_every=1, snapshot_steps=(50,))
    assert fused_applies(configs[0]) and isinstance(make_trainer(configs), Trainer)
    assert not isinstance(make_trainer(configs), FuncTrainer)
    fused, res_f = train(configs)
    generic, res_g = train(configs, generic=True)
    for name in ("signals", "metrics", "embedding_init", "embedding_final"):
        assert rel_err(generic[name], fused[name]) < 1e-9, name
    np.testing.assert_array_equal(generic["train_idx"], fused["train_idx"])
    for name, value in fused.snapshots[50].items():
        assert rel_err(generic.snapshots[50][name], value) < 1e-9, name
    assert [r["circles"] for r in res_g.rows] == [r["circles"] for r in res_f.rows]


def test_multiplication_records_signals_in_log_coordinates(one_thread):
    configs = seeded(2, **SMALL_MLP, task="multiply", steps=5)
    sink, result = train(configs)
    order = log_order(13)
    expect = signal(sink["embedding_final"][:, order], half=True)
    np.testing.assert_allclose(sink["signals"][:, -1], expect, rtol=1e-10)
    assert sink["signals"].shape[-1] == 13 // 2 + 1
    assert all(0 < c <= 6 for r in result.rows for c in r["circles"])


def test_checkpoint_resumes_bit_for_bit(one_thread):
    configs = seeded(2, **SMALL_TRANSFORMER, optimizer="sgd", lr=0.05, steps=20)
    whole = FuncTrainer(configs)
    for _ in range(20):
        whole.step()
    half = FuncTrainer(configs)
    for _ in range(10):
        half.step()
    resumed = FuncTrainer(configs)
    resumed.load_state(half.save_state())
    for _ in range(10):
        resumed.step()
    for name, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value)


def test_a_transformer_batch_into_a_store(tmp_path, one_thread):
    from circle_survival import load, train_to_store
    from circle_survival.training.transformer import OneLayerTransformer

    configs = seeded(2, **SMALL_TRANSFORMER, steps=20, snapshot_steps=(10,))
    ids = train_to_store(configs, tmp_path / "store")
    store = load(tmp_path / "store")
    assert sorted(store.run_ids()) == sorted(ids)
    model = store.model(ids[0])
    assert isinstance(model, OneLayerTransformer)
    assert store.model(ids[0], step=10).W_E.shape == (14, 16)
    steps, sig = store.signals(ids[0])
    assert sig.shape == (21, 7)
    a = torch.arange(13)
    assert model(a, a).shape == (13, 13)
