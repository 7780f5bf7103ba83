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

    monkeypatch.setattr(sweep, "calibrate", fake)
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
