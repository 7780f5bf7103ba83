"""Batch sizing from device memory against the trainer's own tensors."""

import pytest

from circle_survival import RunConfig
from circle_survival.training.capacity import (
    bytes_per_model,
    free_memory,
    max_models,
    parameter_count,
)
from circle_survival.training.trainer import Trainer


@pytest.mark.parametrize("cfg", [RunConfig(), RunConfig(p=13, d=8, hidden=(12, 10),
                                                         dtype="float32")])
def test_state_and_pairs_bytes_equal_the_trainers_tensors(cfg):
    m = 3
    trainer = Trainer([cfg.replace(embedding_seed=e) for e in range(m)], onehot_sums=True)
    assert parameter_count(cfg) == sum(t[0].numel() for t in trainer.params)
    item = trainer.storage.element_size()
    state = sum(t.numel() for t in trainer.params) * 2 * item  # params and gradients
    state += sum(t.numel() for t in trainer.opt.exp_avg + trainer.opt.exp_avg_sq) * item
    pairs = sum(t.numel() * t.element_size() for pr in (trainer.train_pairs, trainer.test_pairs)
                for t in (pr.a_flat, pr.b_flat, pr.y))
    onehot = trainer.train_pairs.onehot
    parts = bytes_per_model(cfg, "cuda")
    assert parts["state"] * m == state
    assert parts["pairs"] * m == pairs
    assert parts["onehot"] * m == onehot.numel() * onehot.element_size()
    assert bytes_per_model(cfg, "cpu")["onehot"] == 0
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


def test_activations_cover_one_steps_saved_tensors():
    """At least the forward pass's saved tensors and the logits of one model."""
    cfg = RunConfig()
    n, item = cfg.n_train, 8
    saved = n * 2 * sum(cfg.hidden) * item
    assert bytes_per_model(cfg)["activations"] > saved + n * cfg.p * item


def test_max_models_divides_the_budget():
    cfg = RunConfig()
    per = bytes_per_model(cfg, "cuda")["total"]
    gib = 2**30
    assert max_models(cfg, "cuda", free=100 * gib, fraction=1.0) == 100 * gib // per
    assert max_models(cfg, "cuda", free=10 * per, fraction=0.5) == 5
    assert max_models(cfg, "cuda", free=1) == 1
    # on the CPU only one chunk's activations count
    cpu = bytes_per_model(cfg, "cpu")
    want = (gib - cpu["activations"]) // (cpu["total"] - cpu["activations"])
    assert max_models(cfg, "cpu", free=gib, fraction=1.0) == want
    # paper defaults: thousands of models on a 140 GB GPU
    assert 2000 < max_models(cfg, "cuda", free=140 * gib) < 20000
    assert free_memory("cpu") > 0
