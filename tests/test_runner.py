"""Training one batch into a store: what it commits equals training in memory, a committed
batch is skipped, a failure leaves nothing, a killed batch resumes from its checkpoint."""

import sys

import numpy as np
import pytest
from processes import kill_when

from circle_survival import RunConfig, load, train, train_to_store
from circle_survival.layout import StoreLayout, batch_id_for
from circle_survival.runner import train_batch
from circle_survival.store import init_store

SMALL = dict(p=13, d=8, hidden=(16,), steps=25, metrics_every=5, embedding_steps=(10,),
             snapshot_steps=(20,))


def batch(n=2):
    return [RunConfig(**SMALL, embedding_seed=e, mlp_seed=e + 3, split_seed=2 * e)
            for e in range(n)]


def test_committed_batch_equals_training_in_memory(tmp_path, one_thread):
    cfgs = batch()
    init_store(tmp_path)
    assert train_batch(cfgs, tmp_path) == [c.run_id for c in cfgs]
    assert StoreLayout(tmp_path).is_complete(batch_id_for([c.run_id for c in cfgs]))
    records, summary = train(cfgs)  # the same batch, kept in memory
    store = load(tmp_path)
    for i, cfg in enumerate(cfgs):
        rid = cfg.run_id
        steps, sig = store.signals(rid)
        np.testing.assert_array_equal(sig, records["signals"][i])
        np.testing.assert_array_equal(steps, records["signal_steps"])
        np.testing.assert_array_equal(store.metrics(rid).drop(columns="step").to_numpy(),
                                      records["metrics"][i])
        np.testing.assert_array_equal(store.embeddings(rid)[10], records["embeddings"][i, 0])
        np.testing.assert_array_equal(store.train_indices(rid), records["train_idx"][i])
        assert store.snapshot_steps(rid) == [20]
        np.testing.assert_array_equal(store.snapshot(rid, 20)["embedding"],
                                      records.snapshots[20]["embedding"][i])
        assert store.runs.loc[rid, "test_loss"] == summary.rows[i]["test_loss"]


def test_committed_batch_is_skipped(tmp_path):
    cfgs = batch(1)
    init_store(tmp_path)
    train_batch(cfgs, tmp_path)
    calls = []
    assert train_batch(cfgs, tmp_path, progress=calls.append) == []
    assert calls == [] and len(load(tmp_path)) == 1


def test_failure_leaves_no_partial_batch(tmp_path, monkeypatch):
    from circle_survival import trainer

    def boom(self, *a, **k):
        raise RuntimeError("crash")

    init_store(tmp_path)
    monkeypatch.setattr(trainer.Trainer, "run", boom)
    with pytest.raises(RuntimeError, match="crash"):
        train_batch(batch(), tmp_path)
    assert len(load(tmp_path)) == 0
    assert StoreLayout(tmp_path).partials() == []


def test_killed_mid_batch_resumes_from_checkpoint_bit_for_bit(tmp_path, one_thread):
    """A batch killed after a checkpoint continues from it and ends identical to one run
    straight through."""
    store = tmp_path / "s"
    code = (
        "import sys, torch, circle_survival as cs\n"
        "torch.set_num_threads(1)\n"
        "cfgs = [cs.RunConfig(p=13, d=8, hidden=(16, 16), steps=2500, metrics_every=7,"
        " embedding_seed=e) for e in range(2)]\n"
        f"cs.train_to_store(cfgs, {str(store)!r}, checkpoint_seconds=0.2)\n"
    )
    layout = StoreLayout(store)
    kill_when([sys.executable, "-c", code],
              lambda: any((d / "checkpoint.safetensors").is_file() for d in layout.partials()),
              "a checkpoint")
    assert len(load(store)) == 0
    cfgs = [RunConfig(p=13, d=8, hidden=(16, 16), steps=2500, metrics_every=7,
                      embedding_seed=e) for e in range(2)]
    reports = []
    assert train_batch(cfgs, store, progress=reports.append) == [c.run_id for c in cfgs]
    assert 0 < reports[0] < 2500  # the first report is the step it resumed from
    assert reports[0] + sum(reports[1:]) == 2500
    train_to_store(cfgs, tmp_path / "straight")
    a, b = load(store), load(tmp_path / "straight")
    for cfg in cfgs:
        rid = cfg.run_id
        np.testing.assert_array_equal(a.signals(rid)[1], b.signals(rid)[1])
        np.testing.assert_array_equal(a.metrics(rid).to_numpy(), b.metrics(rid).to_numpy())
        np.testing.assert_array_equal(a.weights(rid)["layers.1.weight"],
                                      b.weights(rid)["layers.1.weight"])
    assert layout.partials() == []
