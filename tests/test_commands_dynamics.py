"""The ``gradient``, ``collaboration``, ``ode`` and ``ode-r2`` commands: printed numbers,
written files, and every bad request (one line, exit status 2)."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli

from circle_survival import RunConfig, load, train_to_store
from circle_survival.analysis.gradient import gradient_ttest, svm_authors
from circle_survival.analysis.ode import analyse_ode
from circle_survival.analysis.survival import frequency_table
from circle_survival.commands.common import num
from circle_survival.store import init_store

TINY = dict(p=11, hidden=(16,), steps=60, lr=0.1, device="cpu")
WINDOW = "50"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """many: six runs over d = 8, 12; one: a run with snapshots every 20 steps; sparse: a run
    whose signals are recorded every 5 steps; empty: a store without runs."""
    root = tmp_path_factory.mktemp("dyn")
    many = [RunConfig(**TINY, d=d, mlp_seed=m) for d in (8, 12) for m in range(3)]
    train_to_store(many, root / "many")
    train_to_store(RunConfig(**TINY, d=8, snapshot_every=20), root / "one")
    train_to_store(RunConfig(**TINY, d=8, signal_every=5), root / "sparse")
    init_store(root / "empty")
    return {name: root / name for name in ("many", "one", "sparse", "empty")}


def median_threshold(path) -> float:
    """An absolute threshold that splits the final signals of a store about in half."""
    table = frequency_table(load(path))
    return float(np.median(table["final_signal"]))


def assert_figure(path) -> None:
    assert path.with_suffix(".png").stat().st_size > 1000
    assert path.with_suffix(".svg").stat().st_size > 1000


# -- gradient ------------------------------------------------------------------------------
def test_gradient_prints_and_writes(stores, tmp_path, capsys):
    thr = median_threshold(stores["many"])
    out_dir = tmp_path / "gradient"
    code, out, err = run_cli(["gradient", stores["many"], "--circle-rule",
                              f"absolute:{thr!r}", "--group-by", "d", "--out", out_dir], capsys)
    assert code == 0, err
    table = frequency_table(load(stores["many"]), rule=f"absolute:{thr!r}")
    test, svm = gradient_ttest(table, 4, equal_var=True), svm_authors(table, 4)
    assert f"frequencies: 30 (6 runs); survived: {test.n_survived}, dead: {test.n_dead}" in out
    assert f"t = {num(test.statistic)}, p = {num(test.p_value)}" in out
    assert (f"held-out accuracy {svm.accuracy:.3f} vs majority baseline "
            f"{svm.baseline_accuracy:.3f}") in out
    assert "d=8:" in out and "d=12:" in out
    written = pd.read_csv(out_dir / "gradient_table.csv")
    assert len(written) == 30
    assert {"run_id", "d", "k", "initial_signal", "grad_1", "grad_4", "survived"} <= set(
        written.columns)
    rates = pd.read_csv(out_dir / "survival_by_gradient.csv")
    assert sorted(rates["s"].unique()) == [1, 2, 3, 4]
    assert_figure(out_dir / "gradient_histograms")
    assert_figure(out_dir / "survival_rate_curves")
    numbers = json.loads((out_dir / "gradient.json").read_text())
    assert numbers["survived"] == test.n_survived and len(numbers["groups"]) == 2
    assert numbers["svm"]["accuracy"] == pytest.approx(svm.accuracy)


def test_gradient_where_and_s(stores, capsys):
    code, out, err = run_cli(["gradient", stores["many"], "--where", "d=12", "--where",
                              "embedding_seed=0", "--s", "2"], capsys)
    assert code == 0, err
    assert "(3 runs)" in out and "step s = 2" in out and "grad_2" in out


# -- collaboration ------------------------------------------------------------------------
def test_collaboration_prints_and_writes(stores, tmp_path, capsys):
    out_dir = tmp_path / "collab"
    code, out, err = run_cli(["collaboration", stores["one"], "--out", out_dir], capsys)
    assert code == 0, err
    assert "4 snapshots (steps 0 .. 60)" in out
    assert "survivors (circles of the final signal, 2x-mean):" in out
    code, every, err = run_cli(["collaboration", stores["one"], "--circle-rule", "absolute:0"],
                               capsys)  # every frequency is above 0: all survive
    p = load(stores["one"]).runs["p"].iloc[0]
    line = next(x for x in every.splitlines() if x.startswith("survivors"))
    assert code == 0 and line.startswith("survivors (circles of the final signal, absolute:0)")
    assert sorted(int(k) for k in line.split(": ")[1].split(", ")) == list(range(1, (p + 1) // 2))
    losses = pd.read_csv(out_dir / "collaboration_losses.csv")
    assert list(losses.columns) == ["mode", "k", "step", "loss", "accuracy", "survived"]
    assert len(losses) == (5 + 4 + 3) * 4
    strongest = losses.query("mode == 'strongest+k'")
    k1 = ({1, 2, 3, 4, 5} - set(strongest["k"])).pop()
    assert f"strongest (final signal): {k1}," in out
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("loss on all")) + 2
    rows = lines[start:start + 5]
    assert [int(r.split()[0].rstrip("*")) for r in rows] == [1, 2, 3, 4, 5]
    last = losses.query("mode == 'single' and k == 1 and step == 60")["loss"].iloc[0]
    assert rows[0].split()[1] == num(last)
    full = pd.read_csv(out_dir / "full_loss.csv")
    assert list(full["step"]) == [0, 20, 40, 60]
    assert f"full model {num(full['loss'].iloc[-1])}" in out
    assert_figure(out_dir / "collaboration")
    assert (out_dir / "collaboration_losses.parquet").is_file()


# -- ode -----------------------------------------------------------------------------------
def test_ode_model_lv_prints_the_library_comparison(stores, tmp_path, capsys):
    from circle_survival.analysis.lotka_volterra import compare_linear_lv

    out_dir = tmp_path / "lv"
    code, out, err = run_cli(["ode", stores["one"], "--window", WINDOW, "--model", "lv",
                              "--out", out_dir], capsys)
    assert code == 0, err
    s = load(stores["one"])
    steps, sig = s.signals(s.runs.index[0])
    cmp = compare_linear_lv(sig, steps, 11, fit_until=25, heldout_until=50)
    scores = pd.read_csv(out_dir / "ode_lv_scores.csv")
    assert list(scores["model"]) == list(cmp.scores["model"]) == ["linear", "lv"]
    np.testing.assert_allclose(scores["r2_fit"], cmp.scores["r2_fit"], rtol=1e-9)
    assert "fitted on steps 0 .. 25" in out and f"{cmp.scores['r2_fit'].iloc[1]:.4g}" in out
    code, _, err = run_cli(["ode", stores["one"], "--model", "quadratic"], capsys)
    assert code == 2 and "--model" in err


def test_ode_prints_and_writes(stores, tmp_path, capsys):
    out_dir = tmp_path / "ode"
    code, out, err = run_cli(["ode", stores["one"], "--window", WINDOW, "--out", out_dir],
                             capsys)
    assert code == 0, err
    s = load(stores["one"])
    steps, sig = s.signals(s.runs.index[0])
    res = analyse_ode(sig, steps, 11, window=50, alpha=0.01)
    assert (f"Lasso (alpha = 0.01) {res.lasso.r2_mean:.4f}, Lasso(alpha = 0) "
            f"{res.fits['lasso0'].r2_mean:.4f}, OLS {res.ols.r2_mean:.4f}") in out
    assert "identifiable: yes" in out
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if "Lasso rollout" in x) + 2
    rows = [x.split() for x in lines[start:start + 5]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    lasso = res.errors.query("prediction == 'lasso_rollout' and k == 1").iloc[0]
    assert rows[0][2:4] == [num(lasso.rmse), num(lasso.final_rel_error)]
    errors = pd.read_csv(out_dir / "ode_errors.csv")
    assert list(errors.columns) == ["prediction", "k", "rmse", "final_abs_error",
                                    "final_rel_error", "survived", "circle_rule"]
    assert set(errors["circle_rule"]) == {"2x-mean"}
    assert len(errors) == 9 * 5
    for name in ("ode_trajectories", "ode_coefficients", "ode_coefficients_ols"):
        assert_figure(out_dir / name)
    numbers = json.loads((out_dir / "ode.json").read_text())
    assert numbers["lasso"]["r2_mean"] == pytest.approx(res.lasso.r2_mean)
    assert numbers["circle_rule"] == "2x-mean"
    assert numbers["ols"]["identifiable"] is True and numbers["n_transitions"] == 50


def test_ode_r2_by_d(stores, tmp_path, capsys):
    out_dir = tmp_path / "r2"
    code, out, err = run_cli(["ode-r2", stores["many"], "--window", WINDOW, "--out", out_dir],
                             capsys)
    assert code == 0, err
    per_run = pd.read_csv(out_dir / "ode_r2.csv")
    assert len(per_run) == 6 * 3 and set(per_run["method"]) == {"lasso", "lasso0", "ols"}
    by_d = pd.read_csv(out_dir / "ode_r2_by_d.csv")
    assert list(by_d.columns) == ["d", "method", "mean", "sd", "runs"]
    assert list(by_d["d"]) == [8, 8, 8, 12, 12, 12] and (by_d["runs"] == 3).all()
    for d in (8, 12):
        row = by_d.query("d == @d and method == 'lasso'").iloc[0]
        line = next(x for x in out.splitlines() if x.split()[:1] == [str(d)])
        assert f"{row['mean']:.4f} ± {row['sd']:.4f}" in line and line.split()[1] == "3"
    assert_figure(out_dir / "ode_r2_vs_d")
    assert json.loads((out_dir / "ode_r2.json").read_text())["runs"] == 6


# -- bad requests ----------------------------------------------------------------------------
BAD = [
    (["gradient", "empty"], "no complete runs"),
    (["gradient", "many", "--s", "100"], "only 60 steps"),
    (["gradient", "sparse"], "--signal-every 1"),
    (["gradient", "many", "--where", "colour=red"], "unknown column 'colour'"),
    (["gradient", "many", "--where", "d=7"], "matches d=7"),
    (["gradient", "many", "--group-by", "colour"], "unknown group column"),
    (["collaboration", "many"], "choose one with --run"),
    (["collaboration", "one", "--run", "nope"], "no run 'nope'"),
    (["collaboration", "sparse"], "--snapshot-every 100"),
    (["collaboration", "one", "--device", "tpu"], "--device"),
    (["ode", "one"], "fewer than the window 1000"),
    (["ode", "many", "--window", WINDOW], "choose one with --run"),
    (["ode", "one", "--window", WINDOW, "--run", "nope"], "no run 'nope'"),
    (["ode", "one", "--window", WINDOW, "--alpha", "-1"], "--alpha"),
    (["ode-r2", "many"], "fewer than the window 1000"),
    (["ode-r2", "empty"], "no complete runs"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_requests_end_with_one_line(stores, tmp_path, capsys, argv, message):
    out_dir = tmp_path / "never"
    code, out, err = run_cli([argv[0], stores[argv[1]], *argv[2:], "--out", out_dir], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not out_dir.exists()
