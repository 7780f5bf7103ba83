"""The batched trainer against the one-model oracle, and its recording."""

import numpy as np
import pytest
from oracle import train_one

from circle_survival import RunConfig, train
from circle_survival.fourier import signal
from circle_survival.trainer import MemorySink, Trainer


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check_against_oracle(configs, chunk_size=None):
    trainer = Trainer(configs, chunk_size=chunk_size)
    sink = MemorySink(configs)
    result = trainer.run(sink)
    final = trainer.state_dict()
    for i, cfg in enumerate(configs):
        sig, losses, state = train_one(cfg)
        assert rel_err(sink["signals"][i], sig) < 1e-9
        steps = sink["metric_steps"]
        inner = steps < cfg.steps
        assert rel_err(sink["metrics"][i, inner, 0], losses[steps[inner]]) < 1e-9
        for name, value in state.items():
            assert rel_err(final[name][i], value) < 1e-9, name
        np.testing.assert_array_equal(final["embedding"][i], sink["embedding_final"][i])
    return sink, result


def test_batched_equals_one_at_a_time_paper_defaults():
    configs = [RunConfig(steps=50, embedding_seed=e, mlp_seed=m, split_seed=s)
               for e, m, s in [(0, 1, 2), (3, 4, 5), (6, 7, 8)]]
    check_against_oracle(configs, chunk_size=2)


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh"])
def test_other_activations_and_depth(activation):
    configs = [RunConfig(p=13, d=12, hidden=(16, 8, 8), activation=activation, steps=50,
                         train_fraction=0.6, embedding_seed=e, mlp_seed=e + 10,
                         split_seed=e + 20)
               for e in range(3)]
    check_against_oracle(configs)


def test_frozen_embedding_and_per_model_hyperparameters():
    configs = [RunConfig(p=17, d=16, hidden=(20, 20), steps=50, freeze_embedding=True,
                         lr=lr, weight_decay=wd, embedding_seed=e, mlp_seed=e + 1,
                         split_seed=e + 2)
               for e, lr, wd in [(0, 0.01, 0.5), (1, 0.003, 1.0), (2, 0.02, 0.0)]]
    sink, _ = check_against_oracle(configs, chunk_size=1)
    assert np.array_equal(sink["embedding_init"], sink["embedding_final"])


def test_frozen_mlp_and_fresh_embedding_scheme():
    configs = [RunConfig(p=11, d=8, hidden=(12,), steps=50, freeze_mlp=True,
                         init_scheme="reference_fresh_embedding", embedding_seed=e,
                         mlp_seed=7, split_seed=7) for e in range(3)]
    check_against_oracle(configs)


def test_same_config_and_seeds_give_identical_arrays():
    configs = [RunConfig(p=13, d=16, hidden=(20, 20), steps=40, embedding_seed=e,
                         mlp_seed=e, split_seed=e) for e in range(3)]
    a, ra = train(configs)
    b, rb = train(configs)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert ra.rows == rb.rows
    # another chunking changes only the rounding
    c, _ = train(configs, chunk_size=1)
    np.testing.assert_allclose(c["signals"], a["signals"], rtol=1e-12)


def test_recorded_signals_equal_signals_of_recorded_embeddings():
    cfg = RunConfig(p=17, d=10, hidden=(16,), steps=30, embedding_every=7,
                    embedding_steps=(3,), metrics_every=4)
    sink, _ = train([cfg, cfg.replace(embedding_seed=5)])
    steps = list(sink["signal_steps"])
    assert steps == list(range(31))
    assert list(sink["embedding_steps"]) == [0, 3, 7, 14, 21, 28]
    for j, s in enumerate(sink["embedding_steps"]):
        np.testing.assert_allclose(sink["signals"][:, s], signal(sink["embeddings"][:, j],
                                                                 half=True), rtol=1e-12)
    np.testing.assert_allclose(sink["signals"][:, -1], signal(sink["embedding_final"],
                                                              half=True), rtol=1e-12)
    assert list(sink["metric_steps"]) == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    assert np.isfinite(sink["metrics"]).all()


def test_signal_schedule_and_float32():
    cfg = RunConfig(p=13, d=8, hidden=(8,), steps=25, signal_every=10, dtype="float32")
    sink, result = train(cfg)
    assert list(sink["signal_steps"]) == [0, 10, 20, 25]
    assert sink["signals"].dtype == np.float32
    assert result.rows[0]["n_circles"] == len(result.rows[0]["circles"])


def test_dense_early_signals_equal_every_step_signals():
    dense = RunConfig(p=13, d=8, hidden=(8,), steps=40, signal_every=15, signal_dense_until=4,
                      embedding_seed=2)
    sink, _ = train(dense)
    assert list(sink["signal_steps"]) == [0, 1, 2, 3, 4, 15, 30, 40]
    full, _ = train(dense.replace(signal_every=1, signal_dense_until=0))
    np.testing.assert_array_equal(sink["signals"][0], full["signals"][0][sink["signal_steps"]])


def test_snapshots_hold_every_parameter():
    cfg = RunConfig(p=11, d=6, hidden=(8, 8), steps=10, snapshot_every=5)
    sink, _ = train(cfg)
    assert sorted(sink.snapshots) == [0, 5, 10]
    snap = sink.snapshots[0]
    assert snap["layers.0.weight"].shape == (1, 8, 12)
    np.testing.assert_array_equal(snap["embedding"], sink["embedding_init"])
    np.testing.assert_array_equal(sink.snapshots[10]["embedding"], sink["embedding_final"])


@pytest.mark.parametrize("p", [12, 59])
def test_padded_output_layer_changes_nothing(p, monkeypatch):
    """The step pads the output layer to a multiple of 4 columns: the same loss, accuracy and
    gradients as the unpadded layer (to rounding), each gradient of its parameter's unpadded
    shape (that the padded columns carry no probability is checked in test_ensemble.py)."""
    import torch

    from circle_survival import ensemble

    configs = [RunConfig(p=p, d=8, hidden=(12, 10), steps=1, embedding_seed=e) for e in range(2)]
    trainer = Trainer(configs)
    pairs = trainer.train_pairs
    assert ensemble.padded_width(p) == 4 * -(-p // 4)
    padded = ensemble.loss_and_grads(trainer.params, pairs, "silu")
    monkeypatch.setattr(ensemble, "OUTPUT_ALIGN", 1)
    plain = ensemble.loss_and_grads(trainer.params, pairs, "silu")
    torch.testing.assert_close(padded[0], plain[0], rtol=1e-13, atol=0)
    torch.testing.assert_close(padded[1], plain[1], rtol=0, atol=0)
    for a, b, param in zip(padded[2], plain[2], trainer.params, strict=True):
        assert a.shape == b.shape == param.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
