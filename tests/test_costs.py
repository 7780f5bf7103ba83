"""The per-machine cost cache: one calibration per key, reused; estimates scale with work."""

import json

import pytest

from circle_survival.config import RunConfig
from circle_survival.sweep import costs, model_step_flops


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Calibrations counted, each measuring 2 ms per model-step; the cache in tmp_path."""
    from circle_survival import sweep
    from circle_survival.sweep.plan import Calibration

    monkeypatch.setenv(costs.CACHE_ENV, str(tmp_path))
    calls = []

    def fake(batch, **kw):
        calls.append((len(batch), batch[0].dtype))
        return Calibration(batch[0], len(batch), 3, 0.002)

    monkeypatch.setattr(sweep.plan, "calibrate", fake)
    return calls


def test_calibrates_once_per_key_and_caches_on_disk(counted, tmp_path):
    per = costs.seconds_per_flop("float64", "cpu")
    assert per == pytest.approx(0.002 / model_step_flops(RunConfig()))
    assert costs.seconds_per_flop("float64", "cpu") == per
    assert len(counted) == 1 and counted[0] == (costs.CALIBRATION_MODELS["cpu"], "float64")
    costs.seconds_per_flop("float32", "cpu")
    assert len(counted) == 2
    cache = json.loads((tmp_path / costs.CACHE_FILE).read_text())
    assert set(cache) == {costs.machine_key("float64", "cpu"), costs.machine_key("float32", "cpu")}
    assert all("|torch " in key for key in cache)
    costs.seconds_per_flop("float64", "cpu", refresh=True)
    assert len(counted) == 3


def test_estimate_is_cost_per_work_times_work(counted):
    a = RunConfig(steps=100, device="cpu")
    b = RunConfig(p=31, d=32, steps=50, device="cpu")
    per = costs.seconds_per_flop("float64", "cpu")
    expected = per * (100 * model_step_flops(a) + 2 * 50 * model_step_flops(b))
    assert costs.estimate_seconds([a, b, b.replace(embedding_seed=1)]) == pytest.approx(expected)
    assert len(counted) == 1


def test_a_damaged_cache_is_measured_again(counted, tmp_path):
    (tmp_path / costs.CACHE_FILE).write_text("{not json")
    assert costs.seconds_per_flop("float64", "cpu") > 0 and len(counted) == 1


def test_the_calibration_records_when_load_and_cores(counted, tmp_path, monkeypatch):
    monkeypatch.setattr(costs.os, "getloadavg", lambda: (0.25, 0.0, 0.0))
    cost = costs.calibration("float64", "cpu")
    entry = json.loads((tmp_path / costs.CACHE_FILE).read_text())[
        costs.machine_key("float64", "cpu")]
    assert entry["load"] == 0.25 and entry["cores"] >= 1 and entry["measured_at"] > 0
    assert cost.ms_per_default_step() == pytest.approx(2.0)  # the fake measures 2 ms
    assert "calibrated" in cost.describe() and "load 0.2" in cost.describe()


def test_a_stale_calibration_is_taken_again(counted, tmp_path, monkeypatch):
    import time

    key = costs.machine_key("float64", "cpu")
    old = {"seconds_per_flop": 1e-9, "measured_at": time.time() - 8 * 86400, "load": 0.0,
           "cores": 2}
    (tmp_path / costs.CACHE_FILE).write_text(json.dumps({key: old}))
    costs.calibration("float64", "cpu")  # a week old and more: measured again
    assert len(counted) == 1
    busy = {**old, "measured_at": time.time(), "load": 3.0}
    (tmp_path / costs.CACHE_FILE).write_text(json.dumps({key: busy}))
    monkeypatch.setattr(costs.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert costs.calibration("float64", "cpu").load == 3.0  # still as busy: kept
    monkeypatch.setattr(costs.os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    assert costs.calibration("float64", "cpu").load == 0.4  # quieter now: measured again
    assert len(counted) == 2
    (tmp_path / costs.CACHE_FILE).write_text(json.dumps({key: 5e-10}))  # an older format
    costs.calibration("float64", "cpu")
    assert len(counted) == 3


def test_a_store_s_own_run_times_give_the_cost(counted, tmp_path):
    import pandas as pd

    from circle_survival.store import config_row

    a = RunConfig(p=11, d=8, hidden=(16,), steps=40, device="cpu")
    rows = []
    for bid, seconds, m in (("b1", 2.0, 4), ("b2", 3.0, 4), ("b3", 30.0, 4)):
        for i in range(m):
            rows.append({**config_row(a.replace(embedding_seed=i)), "batch_id": bid,
                         "batch_size": m, "train_seconds": seconds, "resolved_device": "cpu"})
    runs = pd.DataFrame(rows)
    cost = costs.store_cost(runs, "float64", "cpu")
    assert cost.source == "store" and cost.batches == 3
    assert cost.seconds_per_flop == pytest.approx(3.0 / (4 * 40 * model_step_flops(a)))
    assert "3 batch(es) of the store" in cost.describe()
    assert costs.store_cost(runs, "float32", "cpu") is None
    b = RunConfig(steps=100, device="cpu")  # another shape: scaled by its work
    assert costs.estimate_seconds([b], runs=runs) == pytest.approx(
        cost.seconds_per_flop * 100 * model_step_flops(b))
    assert not counted  # no calibration was needed
