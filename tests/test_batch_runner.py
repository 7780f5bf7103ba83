"""Training one batch into a store: what it commits equals training in memory, a committed
batch is skipped, a failure leaves nothing, a killed batch resumes from its checkpoint."""

import sys

import numpy as np
import pytest
from processes import kill_when

from circle_survival import RunConfig, load, train, train_to_store
from circle_survival.store import init_store
from circle_survival.store.layout import StoreLayout, batch_id_for
from circle_survival.sweep.batch_runner import train_batch

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
    from circle_survival.training import trainer

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


def dead_pid() -> int:
    """The id of a process that has just exited (so no longer runs)."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leave_checkpoint(store, configs, steps: int, change=None):
    """A checkpointed partial batch of ``configs`` after ``steps`` steps, as a process that
    died would leave it (``change`` edits the saved state first)."""
    import os

    from circle_survival.store import BatchWriter
    from circle_survival.training.trainer import Trainer

    init_store(store)
    writer = BatchWriter(store, configs)
    trainer = Trainer(configs)
    for _ in range(steps):
        trainer.step()
    state = trainer.state_dict()
    writer.save_checkpoint(change(state) if change else state)
    bid, host, _, rand = writer.tmp.name.split(".")
    dead = writer.tmp.with_name(f"{bid}.{host}.{dead_pid()}.{rand}")
    os.rename(writer.tmp, dead)
    return dead


@pytest.mark.parametrize("damage", ["missing key", "unreadable"])
def test_a_malformed_checkpoint_is_set_aside_and_the_batch_trains_afresh(tmp_path, damage):
    cfgs = batch()
    if damage == "missing key":
        partial = leave_checkpoint(tmp_path, cfgs, 3, lambda s: {k: v for k, v in s.items()
                                                                 if k != "exp_avg_sq"})
    else:
        partial = leave_checkpoint(tmp_path, cfgs, 3)
        (partial / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="checkpoint of batch .* was set aside as .*"
                                         "unloadable.safetensors.*trains from the start"):
        assert train_batch(cfgs, tmp_path) == [c.run_id for c in cfgs]
    train_to_store(cfgs, tmp_path / "straight")
    a, b = load(tmp_path), load(tmp_path / "straight")
    for c in cfgs:
        np.testing.assert_array_equal(a.signals(c.run_id)[1], b.signals(c.run_id)[1])
    aside = list((tmp_path / "tmp").glob("*.unloadable.safetensors"))
    assert len(aside) == 1 and StoreLayout(tmp_path).partials() == []


def test_a_partial_batch_that_is_a_link_is_never_adopted_or_removed(tmp_path):
    import os

    cfgs = batch()
    outside = tmp_path / "outside"
    partial = leave_checkpoint(tmp_path / "s", cfgs, 3)
    os.rename(partial, outside)
    os.symlink(outside, partial)
    train_to_store(cfgs, tmp_path / "s")
    assert (outside / "checkpoint.safetensors").is_file()  # untouched
    assert partial.is_symlink() and len(load(tmp_path / "s")) == 2


def test_a_link_for_tmp_is_refused(tmp_path):
    import os

    from circle_survival import StoreError

    init_store(tmp_path / "s")
    (tmp_path / "s" / "tmp").rmdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "s" / "tmp")
    with pytest.raises(StoreError, match="tmp/ is not a plain directory"):
        train_to_store(batch(), tmp_path / "s")
    with pytest.raises(StoreError, match="must be plain directories"):
        train_batch(batch(), tmp_path / "s")
    assert not any((tmp_path / "elsewhere").iterdir())


def test_a_checkpoint_of_runs_now_batched_otherwise_is_removed_and_said(tmp_path):
    cfgs = batch()
    partial = leave_checkpoint(tmp_path, cfgs, 3)  # one batch of both runs
    with pytest.warns(UserWarning, match="removed the checkpoint of batch .* batched "
                                         "differently"):
        trained = train_to_store(cfgs, tmp_path, max_batch=1)
    assert sorted(trained) == sorted(c.run_id for c in cfgs)
    assert not partial.exists() and StoreLayout(tmp_path).partials() == []


def test_a_batch_another_live_worker_holds_is_left_to_it(tmp_path):
    from circle_survival.sweep.claims import claimed

    cfgs = batch()
    init_store(tmp_path)
    bid = batch_id_for([c.run_id for c in cfgs])
    with claimed(tmp_path, bid, "another") as other:
        assert other is None
        assert train_batch(cfgs, tmp_path) is None  # held: nothing trained here
        assert not (tmp_path / "batches" / bid).exists()
    assert train_batch(cfgs, tmp_path) == [c.run_id for c in cfgs]  # released: trained
