"""The presets of experiments 8 (initial-gradient), 10 (collaboration) and 11 (ode): paper-scale
specs checked without training, reduced presets run end to end on a tiny model."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from circle_survival import load
from circle_survival.analysis.survival import frequency_table
from circle_survival.errors import ConfigError
from circle_survival.experiments import (
    MODULES,
    collaboration,
    get,
    initial_gradient,
    train,
    write_result,
)
from circle_survival.experiments import ode as linear_ode
from circle_survival.experiments.collaboration import Collaboration
from circle_survival.experiments.initial_gradient import InitialGradient
from circle_survival.experiments.ode import PAPER_D_GRID, LinearODE, r2_claim
from circle_survival.experiments.result import scale_note
from circle_survival.figures.base import figure_text
from circle_survival.store import init_store

EXPERIMENTS = [InitialGradient(), Collaboration(), LinearODE()]
TINY = {"p": 11, "d": 12, "hidden": (16, 16), "lr": 0.05, "device": "cpu"}
SMOKE_BUDGET = 40_000  # model-steps at the default shape


def reduced() -> dict:
    return {
        "initial-gradient": InitialGradient(smoke=replace(initial_gradient.SMOKE, runs=4,
                                                          steps=30, base=TINY)),
        "collaboration": Collaboration(smoke=replace(collaboration.SMOKE, steps=300, base=TINY)),
        "ode": LinearODE(smoke=replace(linear_ode.SMOKE, steps=40, ds=(4, 8), runs=2, base=TINY),
                         window=30),
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One store with the smoke sweeps of the three reduced presets (one torch thread: the
    tiny models gain nothing from more, and a busy machine slows every op of a second)."""
    store = tmp_path_factory.mktemp("dynamics") / "store"
    exps = reduced()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for exp in exps.values():
            train(exp, "smoke", store, progress=False)
    finally:
        torch.set_num_threads(threads)
    return exps, load(store)


def test_registered():
    assert {"initial_gradient", "collaboration", "ode"} <= {m.__name__.rsplit(".", 1)[-1]
                                                           for m in MODULES}
    for name, number in (("initial-gradient", 8), ("collaboration", 10), ("ode", 11)):
        assert get(name).number == number


def test_spec_names_unique():
    names = [s.name for e in EXPERIMENTS for sc in ("smoke", "paper") for s in e.specs(sc)]
    assert len(names) == len(set(names))


def test_paper_scale_recording():
    """What the analyses need is recorded (the designs themselves: test_experiments_designs)."""
    for spec in InitialGradient().specs("paper"):
        assert all(c.signal_every == 100 and c.signal_dense_until == 10 for c in spec.configs())
    assert Collaboration().deviations("paper") == []
    trajectory, r2 = LinearODE().specs("paper")
    (cfg,) = trajectory.configs()
    assert (cfg.steps, cfg.d, cfg.signal_every) == (30_000, 128, 1)
    assert PAPER_D_GRID == tuple(range(4, 96))
    assert all(c.steps == 1000 and c.signal_every == 1 for c in r2.configs())


def test_smoke_budget_and_deviations():
    assert InitialGradient().model_steps("smoke") <= SMOKE_BUDGET
    assert InitialGradient().deviations("smoke")
    assert Collaboration().model_steps("smoke") == 30_000  # the single run at full length
    assert Collaboration().deviations("smoke") == []
    ode = LinearODE()
    assert ode.model_steps("smoke") <= 30_000 + 12 * 1000 and ode.deviations("smoke")
    with pytest.raises(ConfigError):
        InitialGradient().specs("huge")
    with pytest.raises(ConfigError, match="fit window"):
        LinearODE(smoke=replace(linear_ode.SMOKE, steps=10), window=50)


def test_analyze_needs_runs(tmp_path):
    init_store(tmp_path / "empty")
    store = load(tmp_path / "empty")
    for exp in reduced().values():
        with pytest.raises(ConfigError, match="not in"):
            exp.analyze(store, "smoke")


def _check_common(result, tmp_path):
    note = scale_note(result)
    for fig in result.figures.values():
        assert note[:40] in figure_text(fig)
    assert result.claims and all(c.paper and c.observed for c in result.claims)
    path = write_result(result, tmp_path / result.name)
    doc = json.loads(path.read_text())
    assert doc["claims"] and doc["deviations"] == result.deviations
    for files in doc["figures"].values():
        assert all((path.parent / f).stat().st_size > 1000 for f in files)
    return doc


def test_initial_gradient_end_to_end(trained, tmp_path):
    exps, store = trained
    exp = exps["initial-gradient"]
    # a threshold that splits the tiny runs' final signals, so both groups are populated
    ids = [r for spec in exp.specs("smoke") for r in spec.run_ids()]
    final = np.stack([store.signals(r)[1][-1, 1:6] for r in ids])
    threshold = float(np.median(final))
    exp = InitialGradient(smoke=replace(exp.sized("smoke"), threshold=threshold))
    label = f"S_k > {threshold:g}"
    assert list(exp.rules(exp.sized("smoke"))) == [label, "S_k > 10", "2x-mean"]
    assert list(exp.rules(exp.sized("paper"))) == ["S_k > 10", "2x-mean"]
    result = exp.analyze(store, "smoke")
    assert result.n_runs == 7  # two sets of 4, the all-zero run in both
    n = result.numbers
    assert n["runs_per_set"] == {"mlp": 4, "split": 4}
    assert set(n["by_set"]) == set(n["sets"]) == {"mlp", "split", "pooled"}
    assert n["paper_set"] == "mlp" and n["frequencies"] == 4 * 5
    assert [n["sets"][v]["frequencies"] for v in ("mlp", "split", "pooled")] == [20, 20, 35]
    assert n["survival_rule"] == f"final {label}"
    assert {"ttest_p_grad_4", "ttest_t_grad_4", "svm_accuracy", "svm_baseline_accuracy",
            "survived", "dead", "other_rules", "survival_rate_curves"} <= set(n)
    assert set(n["other_rules"]) == {"S_k > 10", "2x-mean"}
    assert all(set(v) == {"mlp", "split"} for v in n["other_rules"].values())
    assert set(n["sets"]["mlp"]["ttest"]) == {"s=1", "s=2", "s=3", "s=4"}
    # each set's numbers are those of its own runs: the t-test recomputed from its rows
    table = frequency_table(store, list(dict.fromkeys(ids)), rule=f"absolute:{threshold!r}",
                            s_max=4)
    for name, spec in zip(("mlp", "split"), exp.specs("smoke"), strict=True):
        part = table[table["run_id"].isin(spec.run_ids())]
        alive = part["survived"].to_numpy(bool)
        want = stats.ttest_ind(part["grad_4"][alive], part["grad_4"][~alive])
        got = n["sets"][name]["ttest"]["s=4"]
        assert got["statistic"] == pytest.approx(want.statistic)
        assert got["p_value"] == pytest.approx(want.pvalue)
        assert n["by_set"][name]["ttest_t"] == pytest.approx(want.statistic)
    assert n["ttest_t_grad_4"] == n["sets"]["mlp"]["ttest"]["s=4"]["statistic"]
    assert any("instead of > 10" in d for d in result.deviations)
    assert any("analysed on its own" in d for d in result.deviations)
    assert len(result.claims) == 4  # t-test and SVM, for each set
    assert ["MLP-varied" in c.paper for c in result.claims] == [True, True, False, False]
    assert all("split-varied" in c.paper for c in result.claims[2:])
    assert all("pooled" in c.observed for c in result.claims)
    assert "Student" in result.claims[0].criterion and "binomial" in result.claims[1].criterion
    assert "rounded to 5 decimals" in result.claims[1].criterion
    for suffix, name in (("", "mlp"), ("_split", "split")):
        hist = result.figures[f"gradient_histograms{suffix}"]
        assert len(hist.axes) == 4 and all(len(ax.patches) > 0 for ax in hist.axes)
        assert "Student p" in hist.axes[0].get_title()
        curves = result.figures[f"survival_rate_curves{suffix}"]
        assert len(curves.axes) == 4
        for ax, s in zip(curves.axes, (1, 2, 3, 4), strict=True):
            rows = [r for r in n["survival_rate_curves"][name] if r["s"] == s]
            assert len(ax.lines[0].get_xdata()) == len(rows)
            assert "n = " in ax.get_title()
        plane = result.figures[f"svm_plane{suffix}"].axes[0]
        assert sum(len(c.get_offsets()) for c in plane.collections) == 20
    assert "split-varied" in figure_text(result.figures["svm_plane_split"])
    doc = _check_common(result, tmp_path)
    assert set(doc["figures"]) == {f"{f}{x}" for f in ("gradient_histograms",
                                                        "survival_rate_curves", "svm_plane")
                                   for x in ("", "_split")}


def test_collaboration_end_to_end(trained, tmp_path):
    exps, store = trained
    result = exps["collaboration"].analyze(store, "smoke")
    n = result.numbers
    (rid,) = exps["collaboration"].specs("smoke")[0].run_ids()
    assert n["snapshots"] == len(store.snapshot_steps(rid)) >= 3  # every 100 steps
    assert {"best_single_loss", "survivors_together_loss", "full_model_loss", "survivors",
            "base_circles", "survivor_advantage"} <= set(n)
    assert set(n["survivor_advantage"]) == {"strongest+k", "pair+k"}
    assert "sign test" in result.claims[0].criterion
    assert set(n["last_snapshot_losses"]) == {"single", "strongest+k", "pair+k"}
    assert len(n["last_snapshot_losses"]["single"]) == 5
    fig = result.figures["collaboration"]
    assert len(fig.axes) == 3
    # one line per k (5, 4, 3 of them) plus the full model and the all-survivors line
    assert [len(ax.lines) for ax in fig.axes] == [7, 6, 5]
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    _check_common(result, tmp_path)


def test_ode_end_to_end(trained, tmp_path):
    exps, store = trained
    result = exps["ode"].analyze(store, "smoke")
    assert result.n_runs == 1 + 4
    n = result.numbers
    assert {"r2", "rollout_errors", "r2_by_d", "median_relative_rmse",
            "r2_per_frequency", "converged", "n_iter"} <= set(n)
    assert set(n["r2"]) == {"lasso", "lasso0", "ols"}
    assert n["converged"]["ols"] is None and isinstance(n["converged"]["lasso0"], bool)
    assert n["window"] == 30 and n["embedding_seed"] == 1
    assert len(n["rollout_errors"]) == 9 * 5  # nine predictions x five frequencies
    assert {(r["d"], r["method"]) for r in n["r2_by_d"]} == {
        (d, m) for d in (4, 8) for m in ("lasso", "lasso0", "ols", "ols_cv", "ols_cv_blocks")}
    assert all(r["runs"] == 2 for r in n["r2_by_d"])
    assert all(r["low"] <= r["mean"] <= r["high"] for r in n["r2_by_d"]
               if np.isfinite(r["low"]))
    assert len(result.claims) == 3 and all(c.criterion for c in result.claims)
    assert "Lasso(α = 0)" in result.claims[0].criterion
    r2_claim = result.claims[2]
    assert "nicely characterized" in r2_claim.paper and "held-out" in r2_claim.criterion
    assert "contiguous blocks" in r2_claim.observed
    assert "0.9" not in r2_claim.criterion  # no R^2 bound of ours
    assert "the authors' linear regression" in r2_claim.observed
    traj = result.figures["ode_trajectories"]
    panels = [ax for ax in traj.axes if ax.lines]
    assert len(panels) == 5 and all(len(ax.lines) == 4 for ax in panels)
    coef = result.figures["ode_coefficients"].axes[0]
    assert coef.images[0].get_array().shape == (5, 5)
    r2 = result.figures["ode_r2_vs_d"].axes[0]
    assert len(r2.containers) == 4  # the three fits and the held-out R^2 of the claim
    assert "2 runs per d" in r2.get_title() and "95% t interval" in r2.get_title()
    _check_common(result, tmp_path)


def _by_d(cv_means, cv_p_above, cv_p_below):
    """A per-d summary with the held-out rows as given and in-sample rows of the fits."""
    rows = []
    for d, (m, pa, pb) in enumerate(zip(cv_means, cv_p_above, cv_p_below, strict=True)):
        for method in ("lasso", "lasso0", "ols", "ols_cv"):
            cv = method == "ols_cv"
            rows.append({"d": 4 + d, "method": method, "runs": 3,
                         "mean": m if cv else 0.9, "low": 0.8, "high": 0.95, "sd": 0.01,
                         "t": 1.0, "p_above_0": pa if cv else 1e-4,
                         "p_below_0": pb if cv else 1.0,
                         "not_converged": 3 if method == "lasso0" else 0,
                         "max_n_iter": 1000 if method.startswith("lasso") else None})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("cv, paper, smoke", [
    (([0.9, 0.8], [1e-4, 1e-3], [1.0, 1.0]), True, True),
    (([0.9, 0.1], [1e-4, 0.2], [1.0, 0.3]), False, None),    # a miss: undecided at smoke
    (([0.9, -0.5], [1e-4, 0.99], [1.0, 0.01]), False, False),  # significantly below 0
    (([0.9, 0.8], [1e-4, np.nan], [1.0, np.nan]), None, None),  # undefined at one d
])
def test_ode_r2_claim_verdicts(cv, paper, smoke):
    by_d = _by_d(*cv)
    assert r2_claim(by_d, refutes=True).holds is paper
    assert r2_claim(by_d, refutes=False).holds is smoke
    claim = r2_claim(by_d)
    assert ("linear regression (did not converge in 6 of 6 runs: scikit-learn's "
            "ConvergenceWarning, 1,000 iterations used)") in claim.observed
    assert "d = 4" in claim.observed and "d = 5" in claim.observed


def _gradient_sets(p_value, higher, svm_acc, svm_p):
    t = {"p_value": p_value, "statistic": 3.0 if higher else -3.0,
         "mean_survived": 2.0 if higher else -2.0, "mean_dead": 0.0,
         "n_survived": 10, "n_dead": 40}
    svm = {"accuracy": svm_acc, "baseline_accuracy": 0.8, "n_test": 50, "p_value": svm_p}
    one = {"ttest": {"s=4": t}, "svm": svm, "svm_standardised": None, "survived": 10,
           "dead": 40, "runs": 5}
    return {"mlp": one, "split": one, "pooled": one}


@pytest.mark.parametrize("p_value, higher, svm_acc, svm_p, paper, smoke", [
    (1e-6, True, 0.95, 1e-4, (True, True), (True, True)),
    (0.3, True, 0.8, 0.6, (False, False), (None, None)),     # a miss: undecided at smoke
    (1e-6, False, 0.7, 0.99, (False, False), (False, None)),  # significant the other way
])
def test_initial_gradient_verdicts_at_each_scale(p_value, higher, svm_acc, svm_p, paper, smoke):
    exp = InitialGradient()
    sets = _gradient_sets(p_value, higher, svm_acc, svm_p)
    for refutes, want in ((True, paper), (False, smoke)):
        claims = exp._claims("S_k > 10", sets, {}, refutes)
        assert len(claims) == 4
        assert tuple(c.holds for c in claims[:2]) == want  # the MLP-varied set
        assert tuple(c.holds for c in claims[2:]) == want  # the split-varied set
