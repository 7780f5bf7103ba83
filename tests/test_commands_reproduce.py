"""``reproduce``: --list and --dry-run from the cached cost, --dtype as a departure."""

import pytest
from cli_runner import run_cli

from circle_survival.commands.reproduce import with_fields
from circle_survival.experiments import get
from circle_survival.sweep import costs


@pytest.fixture
def cached_cost(monkeypatch, tmp_path):
    """A cost cache in tmp_path holding 1e-11 s per unit of work for float64 and float32."""
    monkeypatch.setenv(costs.CACHE_ENV, str(tmp_path / "cache"))
    import json
    import time

    (tmp_path / "cache").mkdir()
    entry = {"seconds_per_flop": 1e-11, "measured_at": time.time(), "load": 0.0, "cores": 2}
    (tmp_path / "cache" / costs.CACHE_FILE).write_text(json.dumps(
        {costs.machine_key(dt, "auto"): entry for dt in ("float64", "float32")}))


def test_list_and_dry_run_read_the_cache(cached_cost, tmp_path, capsys, monkeypatch):
    from circle_survival import sweep

    monkeypatch.setattr(sweep.plan, "calibrate", lambda *a, **k: pytest.fail("recalibrated"))
    code, out, err = run_cli(["reproduce", "--list"], capsys)
    assert code == 0, err
    assert "signal-evolution" in out and "two-circles" in out
    code, out, err = run_cli(["reproduce", "ablation", tmp_path / "st", "--dry-run"], capsys)
    assert code == 0, err
    assert "would train 5 runs" in out and "150,000 model-steps" in out  # 30,000 steps each
    assert not (tmp_path / "st").exists()


def test_dtype_changes_the_runs_and_is_a_departure():
    exp = get("ablation")
    f32 = with_fields(exp, "float32", "auto")
    assert all(c.dtype == "float32" for c in f32.planned_configs("smoke"))
    assert {c.run_id for c in f32.planned_configs("smoke")}.isdisjoint(exp.run_ids("smoke"))
    assert any("dtype = float32" in d for d in f32.deviations("smoke"))
    assert with_fields(exp, None, "auto").planned_configs("smoke") == exp.planned_configs(
        "smoke")


@pytest.mark.parametrize("argv, message", [
    (["ablation", "--dtype", "float16"], "--dtype"),
    (["ablation"], "name a store"),
    (["ablation", "st", "--device", "tpu"], "device"),
])
def test_bad_requests(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["reproduce", *argv], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_with_fields_leaves_the_preset_alone():
    exp = get("dimension")
    before = [c.run_id for c in exp.planned_configs("smoke")]
    f32 = with_fields(exp, "float32", "cpu")
    assert all(c.dtype == "float32" and c.device == "cpu" for c in f32.planned_configs("smoke"))
    assert [c.run_id for c in exp.planned_configs("smoke")] == before
    assert not any("float32" in d for d in exp.deviations("smoke"))
    assert with_fields(exp, None, "auto") is exp
