"""Presets of experiments/landscape.py (experiments 1-5).

Tiny versions of every preset (p = 11 .. 17, d = 8 .. 16, hidden (16, 16), a few dozen steps)
train end to end through ``circle-survival reproduce`` into one store, with the registry
patched to hand out the tiny instances; ``circle-survival report`` then builds a page with the
claims table. The paper-scale specs are checked against the paper's grids and counts without
training them.
"""

import dataclasses
import json
from dataclasses import replace
from html import escape as html_escape

import numpy as np
import pytest
import torch

import circle_survival.experiments as registry
from circle_survival import fourier, load
from circle_survival.analysis.survival import circles_table
from circle_survival.cli import main
from circle_survival.errors import ConfigError
from circle_survival.experiments import (
    SCALES,
    all_experiments,
    circle_counts,
    dimension,
    frozen_embedding,
    initial_signal,
    signal_evolution,
    write_result,
)
from circle_survival.experiments.circle_counts import (
    FIGURE_RULE,
    PAPER_WD_LINEAR,
    PAPER_WD_LOG,
    CirclesVsP,
    CirclesVsWeightDecay,
)
from circle_survival.experiments.departures import base_deviations
from circle_survival.experiments.dimension import Dimension
from circle_survival.experiments.frozen_embedding import FrozenEmbedding
from circle_survival.experiments.initial_signal import InitialSignal
from circle_survival.experiments.signal_evolution import SignalEvolution
from circle_survival.experiments.verdicts import trend_holds
from circle_survival.figures.base import figure_text
from circle_survival.report.wording import VERDICTS
from circle_survival.store import init_store
from circle_survival.sweep import run_sweep

EXPERIMENTS = [SignalEvolution(), Dimension(), FrozenEmbedding(), CirclesVsP(),
               CirclesVsWeightDecay(), InitialSignal()]
SMALL = {"hidden": (16, 16), "lr": 0.03}
TINY = {"p": 13, "d": 12, **SMALL}


def tiny_presets():
    return {
        "signal-evolution": SignalEvolution(smoke=replace(signal_evolution.SMOKE, steps=40,
                                                          base=TINY)),
        "dimension": Dimension(smoke=replace(dimension.SMOKE, ds=(8, 16), runs=3, steps=30,
                                             base={"p": 13, **SMALL})),
        "frozen-embedding": FrozenEmbedding(smoke=replace(
            frozen_embedding.SMOKE, ds=(8, 16), runs=2, steps=30, checkpoints=(10, 20),
            base={"p": 13, **SMALL})),
        "circles-vs-p": CirclesVsP(smoke=replace(
            circle_counts.SMOKE_P, grids={"primes": (11, 13), "integers": (12, 14)},
            series_runs={"primes": 2, "integers": 2}, steps=30, base={"d": 8, **SMALL})),
        "circles-vs-weight-decay": CirclesVsWeightDecay(smoke=replace(
            circle_counts.SMOKE_WD,
            grids={"log": PAPER_WD_LOG[::15], "linear": PAPER_WD_LINEAR[::14]},
            series_runs={"log": 2, "linear": 2}, steps=30, base=TINY)),
        "initial-signal": InitialSignal(smoke=replace(initial_signal.SMOKE, embeddings=2,
                                                      runs=3, steps=30, base=TINY)),
    }


#: presets reproduced through the CLI (the others train through run_sweep directly, which
#: skips writing their figures to disk, the slow part of a tiny run)
THROUGH_CLI = ("circles-vs-weight-decay", "initial-signal")


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """Tiny presets reproduced through the CLI into one store, then a report; the other
    tiny presets trained into the same store."""
    root = tmp_path_factory.mktemp("landscape")
    store = root / "store"
    presets = tiny_presets()

    def get(name):
        if name not in presets:
            raise ConfigError(f"no experiment {name!r}")
        return presets[name]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(registry, "get", get)
            for name in THROUGH_CLI:
                pdf = ["--pdf"] if name == THROUGH_CLI[0] else []
                main(["reproduce", name, "--scale", "smoke", str(store), "--quiet", *pdf])
            main(["reproduce", "initial-signal", str(store), "--quiet",  # trains nothing more
                  "--circle-rule", "absolute:10"])
        for name, exp in presets.items():
            if name not in THROUGH_CLI:
                for spec in exp.specs("smoke"):
                    run_sweep(spec, store, progress=False)
    finally:
        torch.set_num_threads(threads)
    report = root / "report.html"
    main(["report", str(store), "--out", str(root)])
    return presets, store, report


@pytest.fixture(scope="module")
def results(reproduced):
    """Each tiny preset analysed from the store."""
    presets, store, _ = reproduced
    st = load(store)
    return {name: exp.analyze(st, "smoke") for name, exp in presets.items()}


def result_doc(store, name):
    return json.loads((store / "results" / f"{name}-smoke" / "result.json").read_text())


def suptitle(fig):
    return figure_text(fig)


def marked_lines(ax):
    return [ln for ln in ax.lines if ln.get_marker() not in (None, "None", "", "_", "|")]


# -- registry and paper scale ---------------------------------------------------------------
def test_registered_with_unique_sweep_names():
    names = {e.name for e in all_experiments()}
    assert {e.name for e in EXPERIMENTS} <= names
    assert [e.number for e in EXPERIMENTS] == [1, 2, 3, 4, 4, 5]
    assert len(names) == len(all_experiments())  # preset names are unique ...
    for e in EXPERIMENTS:  # ... and every sweep name starts with its preset's and scale
        for scale in SCALES:
            specs = [s.name for s in e.specs(scale)]
            assert len(specs) == len(set(specs))
            assert all(n.startswith(f"{e.name}-{scale}") for n in specs)


def test_smoke_deviations_name_the_shortcuts():
    dev = " ".join(Dimension().deviations("smoke"))
    assert "steps instead of 30,000" in dev and "die later" in dev
    assert "runs per d instead of 50" in dev and "d ∈" in dev
    assert "test loss can still fall" in " ".join(FrozenEmbedding().deviations("smoke"))
    assert base_deviations({"p": 13, "hidden": [16, 16], "signal_every": 100}) == [
        "p = 13 instead of 59", "hidden = (16, 16) instead of (100, 100)"]
    for e in EXPERIMENTS:  # the single run keeps the paper's length and shape
        assert bool(e.deviations("smoke")) == (e.name != "signal-evolution")


def test_smoke_budget():
    """Each default smoke preset fits about 40,000 model-steps at the paper's shape."""
    from circle_survival.config import RunConfig
    from circle_survival.sweep import model_step_flops

    ref = model_step_flops(RunConfig())
    for e in EXPERIMENTS:
        work = sum(model_step_flops(c) * c.steps for s in e.specs("smoke") for c in s.configs())
        assert work / ref <= 42_000, e.name


def test_analyze_needs_the_runs(tmp_path):
    store = load(init_store(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="reproduce"):
        tiny_presets()["dimension"].analyze(store, "smoke")


# -- end to end -----------------------------------------------------------------------------
def test_cli_writes_results_and_report(reproduced):
    _, store, report = reproduced
    for name in THROUGH_CLI:
        doc = result_doc(store, name)
        assert doc["claims"] and doc["figures"] and doc["scale"] == "smoke"
        out = store / "results" / f"{name}-smoke"
        formats = {"png", "svg", "pdf"} if name == THROUGH_CLI[0] else {"png", "svg"}
        for files in doc["figures"].values():
            assert {f.rsplit(".", 1)[1] for f in files} == formats
            assert all((out / f).is_file() for f in files)
    html = report.read_text()
    assert "<table" in html and "Initial signal against survival rate" in html
    assert "Number of circles against weight decay" in html
    assert "Frequencies with a larger initial signal survive more often" in html
    claims_table = html.split('id="claims"', 1)[1].split("</table>", 1)[0]
    rows = claims_table.split("<tr>")[2:]  # after the header row
    for name in THROUGH_CLI:  # each claim's row shows its own verdict
        for c in result_doc(store, name)["claims"]:
            row = next(r for r in rows if html_escape(c["paper"]) in r)
            assert f">{VERDICTS[c['holds']]}</td>" in row


@pytest.fixture(scope="module")
def docs(results, tmp_path_factory):
    """Each tiny result written by write_result (figures left out: writing them is slow) and
    read back: strict JSON, NaN included."""
    root = tmp_path_factory.mktemp("docs")
    out = {}
    for name, res in results.items():
        path = write_result(dataclasses.replace(res, figures={}), root / name)
        out[name] = json.loads(path.read_text())
    return out


def test_result_documents(docs):
    for name, doc in docs.items():
        assert doc["claims"] and doc["numbers"] and doc["name"] == name
        assert doc["deviations"] and doc["scale"] == "smoke"


def test_signal_evolution(results, reproduced, docs):
    res = results["signal-evolution"]
    num = docs["signal-evolution"]["numbers"]
    assert {"n_circles", "circles", "plane_frequencies", "survivor_to_dead_ratio",
            "test_loss"} <= set(num)
    assert set(res.figures) == {"signal_evolution", "circles_fft", "circles_pca",
                                "planes_over_time"}
    ax = res.figures["signal_evolution"].axes[0]
    assert len(ax.lines) == fourier.n_freq(13) and ax.get_xscale() == "log"
    planes = res.figures["planes_over_time"]
    assert len([a for a in planes.axes if a.get_visible()]) == 3 * len(num["plane_frequencies"])
    titles = " ".join(a.get_title() for a in planes.axes)
    assert "step 0" in titles and "step 20" in titles and "step 40" in titles
    for fig in res.figures.values():
        assert "smoke scale, 1 run" in suptitle(fig)
    assert len(res.claims) == 3 and all(c.criterion for c in res.claims)
    assert num["plane_frequencies"] == [1, 2]


def test_dimension(results, reproduced, docs):
    res = results["dimension"]
    num = docs["dimension"]["numbers"]
    assert num["ds"] == [8, 16] and num["runs_per_d"] == [3, 3]
    assert {"spearman_r_circles_d", "mean_initial_circularity", "ttest_p",
            "mean_circularity_survivors"} <= set(num)
    ax = res.figures["circles_vs_d"].axes[0]
    (means,) = marked_lines(ax)
    assert list(means.get_xdata()) == [8, 16]
    assert "3 runs per point" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert len(marked_lines(res.figures["circularity_vs_d"].axes[0])) == 2
    hist = res.figures["circularity_histogram"].axes[0]
    assert "d = 16" in hist.get_title() and hist.patches
    assert all("smoke scale, 6 runs" in suptitle(f) for f in res.figures.values())
    assert len(res.claims) == 3


def test_dimension_circularity_matches_fourier(results, reproduced, docs):
    store = load(reproduced[1])
    exp = reproduced[0]["dimension"]
    ids = exp.specs("smoke")[0].run_ids()
    runs = store.runs.loc[ids, ["p", "d", "circles"]]
    per_run, freq = Dimension.circularities(store, runs)
    e0 = store.embeddings(ids[0])[0]
    c = fourier.circularity(e0)[1:7]
    assert per_run.loc[ids[0], "mean_circularity"] == pytest.approx(c.mean())
    assert np.allclose(freq[freq["run_id"] == ids[0]]["circularity"], c)
    assert len(freq) == len(ids) * 6


def test_frozen_embedding(results, reproduced, docs):
    res = results["frozen-embedding"]
    num = docs["frozen-embedding"]["numbers"]
    assert num["checkpoints"] == [10, 20, 30]
    assert set(num["mean_test_loss"]) == {"10", "20", "30"}
    ax_loss, ax_acc = res.figures["frozen_embedding"].axes
    assert len(marked_lines(ax_loss)) == 3 and len(marked_lines(ax_acc)) == 3
    assert any(list(ln.get_xdata()) == [13, 13] for ln in ax_loss.lines)
    store = load(reproduced[1])
    rid = reproduced[0]["frozen-embedding"].specs("smoke")[0].run_ids()[0]
    emb = store.embeddings(rid)
    assert np.array_equal(emb[0], emb[30])  # frozen
    assert len(res.claims) == 2 and all(c.criterion for c in res.claims)


def test_circles_vs_p(results, reproduced, docs):
    res = results["circles-vs-p"]
    num = docs["circles-vs-p"]["numbers"]
    assert num["primes"]["values"] == [11, 13] and num["integers"]["values"] == [12, 14]
    assert num["n_runs"] == 8 and num["primes"]["runs_per_point"] == [2, 2]
    assert set(res.figures) == {"circles_vs_p_primes", "circles_vs_p_integers"}
    (ax,) = res.figures["circles_vs_p_primes"].axes
    assert len(marked_lines(ax)) == 1 and ax.get_xlabel() == "modulus p"
    assert "smoke scale, 8 runs" in suptitle(res.figures["circles_vs_p_integers"])
    assert len(res.claims) == 1 and "Spearman" in res.claims[0].criterion


def test_circles_vs_weight_decay(results, reproduced, docs):
    res = results["circles-vs-weight-decay"]
    num = docs["circles-vs-weight-decay"]["numbers"]
    assert np.allclose(num["log"]["values"], [1e-4, 1e-2])
    assert np.allclose(num["linear"]["values"], [0.1, 1.5])
    (ax_log,) = res.figures["circles_vs_weight_decay_log"].axes
    (ax_lin,) = res.figures["circles_vs_weight_decay_linear"].axes
    assert ax_log.get_xscale() == "log" and ax_lin.get_xscale() == "linear"
    assert all(len(marked_lines(a)) == 1 for a in (ax_log, ax_lin))
    # judged under the authors' rule, then under the rule closest to the figure
    assert len(res.claims) == 6 and num["circle_rule"] == "2x-mean"
    for claims, rule in ((res.claims[:3], "2x-mean"), (res.claims[3:], FIGURE_RULE)):
        level, fall, plateau = claims
        assert all(c.criterion.startswith(f"circle rule {rule}, ") for c in claims)
        assert level.paper.startswith("About 29 circles") and level.holds is None
        assert "no weight decay near 0.002" in level.observed  # the tiny grid: 1e-4, 1e-2
        assert fall.paper.startswith("Many circles") and "Welch" in fall.criterion
        assert plateau.paper.startswith("From wd") and "within" in plateau.criterion
    assert set(num["by_rule"]) == {"2x-mean", FIGURE_RULE}
    store = load(reproduced[1])
    ids = reproduced[0]["circles-vs-weight-decay"].specs("smoke")[0].run_ids()
    counted = circles_table(store, ids, rule=FIGURE_RULE).groupby(
        store.runs.loc[ids, "weight_decay"].to_numpy())["n_circles"].mean()
    assert num["by_rule"][FIGURE_RULE]["log"]["mean_n_circles"] == pytest.approx(
        counted.tolist())


def test_reproduce_under_another_circle_rule(reproduced, docs):
    _, store, report = reproduced
    doc = json.loads((store / "results" / "initial-signal-smoke-rule-absolute-10" /
                      "result.json").read_text())
    assert doc["numbers"]["circle_rule"] == "absolute:10"
    assert docs["initial-signal"]["numbers"]["circle_rule"] == "2x-mean"
    assert any("circle rule absolute:10 (S_k > 10) instead of the authors' 2x-mean" in d
               for d in doc["deviations"])
    assert not any("circle rule" in d for d in docs["initial-signal"]["deviations"])
    st = load(store)
    ids = reproduced[0]["initial-signal"].specs("smoke")[0].run_ids()
    counted = circles_table(st, ids, rule="absolute:10")["n_circles"].mean()
    assert doc["numbers"]["mean_n_circles"] == pytest.approx(counted)
    assert "instead of the authors&#39; 2x-mean" in report.read_text() or \
        "instead of the authors' 2x-mean" in report.read_text()


def test_initial_signal(results, reproduced, docs):
    res = results["initial-signal"]
    num = docs["initial-signal"]["numbers"]
    assert num["n_embeddings"] == 2 and num["runs_per_embedding"] == 3
    assert num["n_points"] == 2 * 6
    assert "pearson_r" in num and "pearson_p" in num
    (ax,) = res.figures["signal_vs_survival"].axes
    assert sum(len(ln.get_xdata()) for ln in marked_lines(ax)) == 12
    assert "Pearson r" in ax.get_title()
    assert "smoke scale, 6 runs" in suptitle(res.figures["signal_vs_survival"])
    store = load(reproduced[1])
    ids = reproduced[0]["initial-signal"].specs("smoke")[0].run_ids()
    seeds = store.runs.loc[ids, ["embedding_seed", "mlp_seed", "split_seed"]]
    assert (seeds["mlp_seed"] == seeds["split_seed"]).all()
    assert sorted(seeds["embedding_seed"].unique()) == [0, 1]


@pytest.mark.parametrize("r,p_value,sign,scale,expected", [
    (0.5, 0.01, +1, "paper", True), (0.5, 0.01, +1, "smoke", True),
    (0.5, 0.2, +1, "paper", False), (0.5, 0.2, +1, "smoke", None),
    (-0.5, 0.2, +1, "smoke", None), (-0.5, 0.01, +1, "smoke", False),
    (-0.5, 0.01, -1, "smoke", True), (0.5, 0.01, -1, "paper", False),
    (float("nan"), float("nan"), +1, "paper", None),
])
def test_trend_holds(r, p_value, sign, scale, expected):
    assert trend_holds(r, p_value, sign, refutes=scale == "paper") is expected
