"""The presets beyond the paper: tiny versions trained into a store and analysed."""

from dataclasses import replace

import pytest

from circle_survival import load
from circle_survival.experiments import beyond_setups, get
from circle_survival.sweep import run_sweep


@pytest.mark.parametrize("name", ["transformer-survival", "multiply-log", "adamw-sgd"])
def test_a_tiny_preset_trains_and_is_judged(tmp_path, name, one_thread):
    exp = get(name)
    assert isinstance(exp, beyond_setups.ArmsPreset)
    sizes = replace(exp.sized("smoke"), runs=2, steps=40,
                    base={"p": 7, "d": 8, "hidden": (8,), "n_heads": 2, "d_mlp": 16})
    for spec in exp.specs_at(sizes):
        run_sweep(spec, tmp_path / "s")
    result = exp.analyze_at(load(tmp_path / "s"), sizes)
    arms = list(sizes.arms)
    assert result.n_runs == 4 and set(result.numbers["arms"]) == set(arms)
    assert len(result.claims) == 4 and all(c.criterion for c in result.claims)
    assert set(result.figures) == {"survival_rate", *(f"n_circles_{a}" for a in arms)}
    rows = {a: s["fourier_rows"] for a, s in result.numbers["arms"].items()}
    assert rows.get("multiply", 6) == 6 and rows.get("add", 7) == 7
    assert any("arms" in d for d in result.deviations)


def test_the_paper_scale_is_the_papers_setup():
    exp = get("transformer-survival")
    mlp, transformer = (spec.configs()[0] for spec in exp.specs("paper"))
    assert (mlp.p, mlp.d, mlp.steps, mlp.model) == (59, 128, 30_000, "mlp")
    assert transformer.model == "transformer" and transformer.d_mlp == 512
    assert len(exp.specs("paper")[0].configs()) == 50
    sgd = get("adamw-sgd").specs("smoke")[1].configs()[0]
    decay = sgd.lr * sgd.weight_decay / (1 - sgd.momentum)
    assert sgd.optimizer == "sgd" and decay == pytest.approx(0.01 * 0.5)
