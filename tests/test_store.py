"""The run store: round trip, atomic batches, foreign and damaged directories."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from processes import kill_when

from circle_survival import RunConfig, StoreError, load, train, train_to_store
from circle_survival.fourier import circles
from circle_survival.fourier import signal as signal_of
from circle_survival.store.integrity import DamagedBatchWarning, write_checksums

SMALL = dict(p=13, d=8, hidden=(16, 16), steps=30)


def small(**kw):
    return RunConfig(**{**SMALL, **kw})


def test_round_trip(tmp_path):
    configs = [small(embedding_seed=e, mlp_seed=e + 1, split_seed=e + 2, snapshot_steps=(10,),
                     embedding_steps=(5,)) for e in range(3)]
    trained = train_to_store(configs, tmp_path / "s", max_batch=2)
    assert trained == [c.run_id for c in configs]
    store = load(tmp_path / "s")
    assert len(store) == 3 and store.runs["batch_id"].nunique() == 2
    mem, result = train(configs)
    for i, cfg in enumerate(configs):
        rid = cfg.run_id
        assert store.config(rid) == cfg
        row = store.runs.loc[rid]
        steps, sig = store.signals(rid)
        np.testing.assert_allclose(sig, mem["signals"][i], rtol=1e-12)
        assert list(steps) == list(range(31))
        emb = store.embeddings(rid)
        assert sorted(emb) == [0, 5, 30]
        # signals in the store equal those recomputed from stored embeddings
        for s, e in emb.items():
            np.testing.assert_allclose(sig[s], signal_of(e, half=True), rtol=1e-12)
        assert list(row["circles"]) == circles(sig[-1], cfg.p)
        m = store.metrics(rid)
        assert list(m.columns) == ["step", "train_loss", "train_acc", "test_loss", "test_acc"]
        assert row["test_loss"] == pytest.approx(m["test_loss"].iloc[-1])
        w = store.weights(rid)
        np.testing.assert_array_equal(w["embedding"], emb[30])
        assert w["layers.2.weight"].shape == (13, 16)
        assert store.snapshot_steps(rid) == [10]
        assert store.snapshot(rid, 10)["embedding"].shape == (13, 8)
        assert len(store.train_indices(rid)) == cfg.n_train
        assert row["dtype"] == "float64" and row["torch_version"] and row["package_version"]
    assert store.stack("signals").shape == (3, 31, 7)
    # nothing in the store is a pickle
    for root, _, files in os.walk(tmp_path / "s"):
        for f in files:
            assert not f.endswith((".pkl", ".pickle", ".pt", ".npy"))
            with open(os.path.join(root, f), "rb") as fh:
                assert not fh.read(2).startswith(b"\x80")


def test_second_run_trains_only_missing(tmp_path):
    configs = [small(embedding_seed=e) for e in range(3)]
    train_to_store(configs[:2], tmp_path)
    before = load(tmp_path).runs.loc[configs[0].run_id, "created_at"]
    assert train_to_store(configs, tmp_path) == [configs[2].run_id]
    store = load(tmp_path)
    assert len(store) == 3
    assert store.runs.loc[configs[0].run_id, "created_at"] == before


def test_batches_written_before_a_later_field_still_load_and_resume(tmp_path):
    """A batch table without the ``signal_dense_until`` column (written before it existed)
    loads with the default, keeps its run ids, and mixes with batches that have it."""
    import pyarrow.parquet as pq

    old = small(embedding_seed=1)
    train_to_store([old], tmp_path)
    (table_path,) = tmp_path.glob("batches/*/runs.parquet")
    table = pq.read_table(table_path)
    pq.write_table(table.drop(["signal_dense_until"]), table_path)
    write_checksums(table_path.parent)  # as the writer of that time recorded them
    dense = small(embedding_seed=2, signal_dense_until=5, signal_every=10)
    assert train_to_store([old, dense], tmp_path) == [dense.run_id]
    store = load(tmp_path)
    assert sorted(store.runs["signal_dense_until"].tolist()) == [0, 5]
    assert store.config(old.run_id) == old and store.config(dense.run_id) == dense
    assert list(store.signals(dense.run_id)[0]) == [0, 1, 2, 3, 4, 5, 10, 20, 30]


def test_foreign_and_damaged_directories(tmp_path):
    with pytest.raises(StoreError, match="no store"):
        load(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "data.csv").write_text("x")
    with pytest.raises(StoreError, match="not a circle-survival store"):
        load(tmp_path / "foreign")
    with pytest.raises(StoreError, match="non-empty directory"):
        train_to_store(small(), tmp_path / "foreign")
    train_to_store(small(), tmp_path / "s")
    (tmp_path / "s" / "circle-survival-store.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged store marker"):
        load(tmp_path / "s")
    (tmp_path / "s" / "circle-survival-store.json").write_text(
        json.dumps({"format": "circle-survival-store", "version": 1}))
    batch = next((tmp_path / "s" / "batches").iterdir())
    (batch / "runs.parquet").write_bytes(b"garbage")
    with pytest.warns(DamagedBatchWarning, match=f"batch {batch.name} of store .* is "
                      "damaged: runs.parquet does not read"):
        assert len(load(tmp_path / "s")) == 0
    with pytest.raises(StoreError, match=f"batch {batch.name} is damaged"):
        load(tmp_path / "s", verify=True)


def test_exception_mid_batch_leaves_no_run(tmp_path, monkeypatch):
    from circle_survival.training import trainer as train_mod

    def boom(self, *a, **k):
        raise RuntimeError("crash")

    monkeypatch.setattr(train_mod.Trainer, "run", boom)
    with pytest.raises(RuntimeError):
        train_to_store(small(), tmp_path)
    assert len(load(tmp_path)) == 0
    assert not any((tmp_path / "tmp").iterdir())


def test_killed_write_leaves_no_half_run(tmp_path):
    store = tmp_path / "s"
    cmd = [sys.executable, "-m", "circle_survival", "train", str(store), "--quiet",
           "--p", "13", "--d", "8", "--hidden", "16,16", "--steps", "200000", "--seeds", "0:2"]
    kill_when(cmd, lambda: (store / "tmp").is_dir() and any((store / "tmp").iterdir()),
              "writing a batch", timeout=60, grace=0.5)
    assert any((store / "tmp").iterdir())  # the partial batch is still there ...
    assert len(load(store)) == 0  # ... but no run looks complete
    # a new run into the store cleans the dead process's partial batch and completes
    train_to_store([small(embedding_seed=0, mlp_seed=0, split_seed=0)], store)
    assert not any((store / "tmp").iterdir())
    assert len(load(store)) == 1


def test_training_needs_no_zarr_and_a_store_says_it_does(tmp_path):
    """Without zarr (and numcodecs) the package imports and trains in memory; opening or
    writing a store is one clear error naming zarr."""
    store = tmp_path / "s"
    train_to_store(small(steps=3), store)
    code = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('zarr', 'numcodecs'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import circle_survival as cs\n"
        "records, summary = cs.train([cs.RunConfig(p=11, d=4, hidden=(8,), steps=3)])\n"
        "assert records['signals'].shape == (1, 4, 6), records['signals'].shape\n"
        "assert 'zarr' not in sys.modules and 'numcodecs' not in sys.modules\n"
        "for attempt in (lambda: cs.load(sys.argv[1]),\n"
        "                lambda: cs.train_to_store(cs.RunConfig(p=11, d=4, hidden=(8,),"
        " steps=3), sys.argv[2])):\n"
        "    try:\n"
        "        attempt()\n"
        "    except cs.StoreError as exc:\n"
        "        print(exc)\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(store), str(tmp_path / "new")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and all("needs zarr, which is not installed" in x for x in lines)
    assert not (tmp_path / "new").exists()
