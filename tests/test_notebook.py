"""Long-format frames of many runs, against the per-run arrays read one by one."""

import numpy as np
import pytest

from circle_survival import RunConfig, load, train_to_store
from circle_survival.errors import StoreError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    cfg = RunConfig(p=11, d=6, hidden=(8,), steps=20, metrics_every=5, device="cpu")
    path = tmp_path_factory.mktemp("nb") / "s"
    train_to_store([cfg.replace(embedding_seed=s) for s in range(3)], path)
    return load(path)


def test_signals_frame(store):
    df = store.signals_frame()
    assert list(df.columns) == ["run_id", "step", "k", "signal"]
    for rid in store.runs.index:
        steps, sig = store.signals(rid)
        part = df[df.run_id == rid]
        assert len(part) == sig.size
        for t, k in [(0, 0), (7, 3), (20, 5)]:
            row = part[(part.step == t) & (part.k == k)]
            assert row.signal.item() == sig[list(steps).index(t), k]
    few = store.signals_frame(store.runs.index[:2], steps=[0, 20])
    assert set(few.step) == {0, 20} and few.run_id.nunique() == 2 and len(few) == 2 * 2 * 6


def test_metrics_frame(store):
    df = store.metrics_frame()
    assert list(df.columns) == ["run_id", "step", "metric", "value"]
    rid = store.runs.index[1]
    wide = store.metrics(rid)
    part = df[(df.run_id == rid) & (df.metric == "test_loss")]
    np.testing.assert_array_equal(part.step, wide.step)
    np.testing.assert_array_equal(part.value, wide.test_loss)
    assert set(df.metric) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.metrics_frame(["nope"])
