"""The batched trainer against the one-model oracle, and its recording."""

import numpy as np
import pytest
import torch
from oracle import train_one

from circle_survival import RunConfig, train
from circle_survival.errors import ConfigError
from circle_survival.fourier import signal
from circle_survival.training.trainer import MemorySink, Trainer


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

    from circle_survival.training import ensemble

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


def _reference_step():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from reference_step import ReferenceStep
    return ReferenceStep


@pytest.mark.parametrize("cfg", [
    RunConfig(steps=100),
    RunConfig(steps=100, dtype="float32"),
    RunConfig(p=13, d=12, hidden=(16, 8, 8), activation="gelu", steps=100),
    RunConfig(p=17, d=16, hidden=(20, 20), steps=100, freeze_embedding=True),
    RunConfig(p=11, d=8, hidden=(12,), steps=100, freeze_mlp=True),
], ids=["paper", "float32", "gelu-deep", "frozen-embedding", "frozen-mlp"])
def test_step_equals_the_earlier_step(cfg, one_thread):
    """The fused step against the earlier step (benchmarks/reference_step.py) over 100 steps:
    equal to 1e-12 relative in float64 (rounding only), float32 to its rounding."""
    # the small configs give each model its own lr (AdamW's unfused path)
    per_model_lr = cfg.d < 128
    configs = [cfg.replace(embedding_seed=e, mlp_seed=e + 1, split_seed=e + 2,
                           lr=0.01 * (1 + e) if per_model_lr else cfg.lr)
               for e in range(3)]
    trainer, ref = Trainer(configs, chunk_size=2), _reference_step()(configs, chunk_size=2)
    for _ in range(cfg.steps):
        trainer.step()
        ref.step()
    tol = 1e-12 if cfg.dtype == "float64" else 1e-4
    got, want = trainer.state_dict(), ref.state_dict()
    for name in want:
        assert rel_err(got[name], want[name]) < tol, name


def test_onehot_pair_sums_equal_index_add(one_thread):
    """The deterministic one-hot formulation (used off the CPU) against index_add_."""
    configs = [RunConfig(p=13, d=8, hidden=(12, 12), steps=100, embedding_seed=e)
               for e in range(2)]
    a, b = Trainer(configs), Trainer(configs, onehot_sums=True)
    assert b.train_pairs.onehot is not None and a.train_pairs.onehot is None
    assert b.train_pairs.onehot.sum(1).eq(2).all()
    for _ in range(100):
        a.step()
        b.step()
    for name, value in a.state_dict().items():
        assert rel_err(b.state_dict()[name], value) < 1e-12, name


def test_checkpoint_keeps_the_flat_layout():
    """save_state's arrays are (M, P) rows in parameter order; loading them continues the run
    bit for bit, and parameters stay at aligned offsets with zero gaps."""
    from circle_survival.training.flat_params import SEGMENT_ALIGN

    configs = [RunConfig(p=11, d=6, hidden=(7,), steps=20, embedding_seed=e) for e in range(3)]
    a = Trainer(configs)
    for _ in range(5):
        a.step()
    state = a.save_state()
    sizes = [t[0].numel() for t in a.params]
    assert state["flat"].shape == (3, sum(sizes))
    np.testing.assert_array_equal(state["flat"][:, :66].reshape(3, 11, 6),
                                  a.params[0].numpy())
    assert all(o % SEGMENT_ALIGN == 0 for o in a.offsets)
    b = Trainer(configs)
    b.load_state(state)
    for _ in range(5):
        a.step()
        b.step()
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[name], value)
    assert largest_in_gaps(a) == 0


def largest_in_gaps(trainer):
    """Largest |value| in the gaps between the aligned parameter blocks."""
    mask = torch.ones(trainer.storage.shape[0], dtype=torch.bool)
    for o, t in zip(trainer.offsets, trainer.params, strict=True):
        mask[o:o + t.numel()] = False
    return float(trainer.storage[mask].abs().max()) if mask.any() else 0.0


@pytest.mark.slow
def test_compiled_step_equals_eager_step(one_thread):
    """torch.compile of the forward and backward pass: equal to the eager step to 1e-12
    relative over 100 steps (compilation takes tens of seconds), also with the chunks on two
    threads (their first steps, with and without metrics, compile serially)."""
    configs = [RunConfig(p=13, d=8, hidden=(12, 12), steps=100, embedding_seed=e)
               for e in range(2)]
    eager = Trainer(configs)
    compiled = Trainer(configs, compile_step=True)
    threaded = Trainer(configs, compile_step=True, chunk_size=1, chunk_threads=2)
    met = torch.empty(2, 2, dtype=torch.float64)
    with threaded.threads:
        for s in range(100):
            out = met if s % 10 == 0 else None
            for t in (eager, compiled, threaded):
                t.step(None, out)
    for name, value in eager.state_dict().items():
        assert rel_err(compiled.state_dict()[name], value) < 1e-12, name
        assert rel_err(threaded.state_dict()[name], value) < 1e-12, name


def test_chunks_on_threads_equal_chunks_in_order():
    """A step whose chunks run on two threads (one intra-op thread each) equals the serial
    step to rounding over a whole recorded run, and leaves the thread count as it was."""
    configs = [RunConfig(steps=30, embedding_seed=e, mlp_seed=e, split_seed=e)
               for e in range(3)]
    before = torch.get_num_threads()
    serial = Trainer(configs, chunk_size=1, chunk_threads=1)
    threaded = Trainer(configs, chunk_size=1, chunk_threads=2)
    assert threaded.threads.n == 2 and serial.threads.n == 1
    assert Trainer(configs[:1], chunk_size=1).threads.n == 1  # one chunk: intra-op threads
    a, b = MemorySink(configs), MemorySink(configs)
    serial.run(a)
    threaded.run(b)
    assert torch.get_num_threads() == before
    for name in ("signals", "metrics", "embedding_final"):
        assert rel_err(b[name], a[name]) < 1e-12, name
    for name, value in serial.state_dict().items():
        assert rel_err(threaded.state_dict()[name], value) < 1e-12, name
    with pytest.raises(ConfigError, match="chunk_threads"):
        Trainer(configs, chunk_threads=0)


def test_a_failing_sink_write_is_raised_by_run():
    """Records are written on the writer thread; its error reaches the caller of run()."""
    cfg = RunConfig(p=7, d=4, hidden=(6,), steps=12)

    class Broken(MemorySink):
        def __setitem__(self, name, value):
            raise OSError("disk full")

    sink = MemorySink([cfg])
    broken = Broken([cfg])
    for name, value in sink.items():
        dict.__setitem__(broken, name, value)

    class FailingArray(np.ndarray):
        def __setitem__(self, index, value):
            raise OSError("disk full")

    dict.__setitem__(broken, "signals", sink["signals"].view(FailingArray))
    with pytest.raises(OSError, match="disk full"):
        Trainer([cfg]).run(broken, block=4)


def test_checkpoints_see_every_earlier_record():
    """checkpoint() runs after the writes handed over before it: the records of every step
    before the checkpointed one are already in the sink."""
    cfg = RunConfig(p=7, d=4, hidden=(6,), steps=30)
    sink = MemorySink([cfg])
    seen = []

    def checkpoint(state):
        step = int(state["step"][0])
        seen.append((step, bool(np.all(sink["signals"][0, :step] != 0))))

    Trainer([cfg]).run(sink, block=4, checkpoint=checkpoint, checkpoint_seconds=0.0)
    assert seen and all(ok for _, ok in seen)
    assert [s for s, _ in seen] == list(range(1, cfg.steps))
