"""The intervention presets (experiments 6, 7 and 9): paper-scale grids and counts, tiny
versions trained end to end (specs -> run_sweep -> analyze -> write_result), the effect of
each intervention on the initial embeddings in the store, and the analysis helpers."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from circle_survival import RunConfig, fourier, load
from circle_survival.errors import ConfigError
from circle_survival.experiments import (
    ablation,
    get,
    perturbation,
    train,
    two_circles,
    write_result,
)
from circle_survival.experiments.ablation import (
    ABLATIONS,
    REAL_PART_NOTE,
    Ablation,
    _ablation_claims,
    converge_step,
    count_spikes,
    track_ratio,
)
from circle_survival.experiments.perturbation import (
    AXIS_CORRECTION,
    WITHIN_NOTE,
    Perturbation,
    perturbation_claims,
    pooled_numbers,
    within_numbers,
)
from circle_survival.experiments.two_circles import DRAW_NOTE, TwoCircles, ratio_rates
from circle_survival.figures.base import figure_text
from circle_survival.store import init_store
from circle_survival.sweep import model_step_flops
from circle_survival.training.initial_state import draw_embedding

EXPERIMENTS = perturbation.EXPERIMENTS + two_circles.EXPERIMENTS + ablation.EXPERIMENTS
TINY = dict(p=11, d=8, hidden=(16, 16), lr=0.05, device="cpu")
STEPS = 40


def tiny_presets():
    return {
        "ablation": Ablation(seed=3, smoke=replace(ablation.SMOKE, steps=STEPS, base=TINY)),
        "perturbation": Perturbation(smoke=replace(
            perturbation.SMOKE, k=3, embeddings=2, alphas=(0.5, 1.5), runs=2, steps=STEPS,
            base=TINY)),
        "two-circles": TwoCircles(smoke=replace(two_circles.SMOKE, ratios=(0.05, 1.0), runs=2,
                                                steps=STEPS, base=TINY)),
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The three tiny presets trained into one store, analysed and written."""
    root = tmp_path_factory.mktemp("interventions")
    store, presets, results = root / "store", tiny_presets(), {}
    for exp in presets.values():
        train(exp, "smoke", store, progress=False)
    opened = load(store)
    for name, exp in presets.items():
        res = exp.analyze(opened, "smoke")
        write_result(res, root / "results" / name)
        results[name] = res
    return {"store": opened, "presets": presets, "results": results, "root": root}


def p_half(store, rid):
    return fourier.n_freq(store.config(rid).p)


def initial(store, rid):
    return store.embeddings(rid)[0]


def unedited(store, rid):
    """The embedding the run would have drawn without its intervention."""
    return draw_embedding(store.config(rid).replace(intervention={})).numpy()


# -- registry and paper scale ---------------------------------------------------------------
def test_registered_in_paper_order():
    assert [get(n).number for n in ("perturbation", "two-circles", "ablation")] == [6, 7, 9]
    names = [e.spec_name(e.sized(sc)) for e in EXPERIMENTS for sc in ("smoke", "paper")]
    assert len(names) == len(set(names)) == 6
    assert [s.name for s in EXPERIMENTS[0].specs("smoke")] == ["perturbation-smoke"]


def test_ablation_paper_spec():
    exp = Ablation(seed=7)
    (spec,) = exp.specs("paper")  # run O first; A-D follow from its final circles
    (o,) = spec.configs()
    assert spec.name == "ablation-paper-O" and o.intervention == {}
    assert (o.embedding_seed, o.mlp_seed, o.split_seed) == (7, 7, 7)
    assert (o.steps, o.dtype, o.metrics_every, o.p, o.d) == (30_000, "float64", 10, 59, 128)
    assert exp.deviations("paper") == [REAL_PART_NOTE]
    assert exp.specs_after("paper", None) == exp.specs("paper")
    drawn = Ablation(seed=7, choice="drawn")
    (spec,) = drawn.specs("paper")
    assert [c.intervention for c in spec.configs()] == [v for _, v in ABLATIONS.values()]
    assert "drawn at random" in " ".join(drawn.deviations("paper"))
    with pytest.raises(ConfigError, match="choice"):
        Ablation(choice="random")


def test_two_circles_paper_spec():
    exp = TwoCircles()
    (spec,) = exp.specs("paper")
    configs = spec.configs()
    assert len(spec) == 16 * 100 and spec.name == "two-circles-paper"
    ratios = sorted({c.intervention["ratio"] for c in configs})
    assert np.allclose(ratios, np.exp(np.linspace(-4, 0, 16)))
    assert {c.intervention["signal"] for c in configs} == {80.0}
    assert {(c.mlp_seed, c.split_seed) for c in configs} == {(0, 0)}
    assert {c.intervention["pair_seed"] for c in configs} == set(range(100))
    assert all(c.steps == 30_000 and c.dtype == "float64" for c in configs)
    assert all(c.intervention["real"] is True for c in configs)
    assert exp.deviations("paper") == [DRAW_NOTE]
    assert "complex" in " ".join(TwoCircles(real=False).deviations("paper"))
    assert "real" not in TwoCircles(real=False).specs("paper")[0].configs()[0].intervention


def test_perturbation_paper_grid():
    exp = Perturbation()
    paper = exp.sized("paper")
    assert paper.k == 25 and paper.embeddings == 8 and paper.runs == 50
    assert np.allclose(paper.alphas, np.linspace(0.85, 1.15, 50))
    assert exp.deviations("paper") == [AXIS_CORRECTION, WITHIN_NOTE]

    # the paper's grid with fewer embeddings and runs
    small = Perturbation(paper=replace(perturbation.PAPER, embeddings=2, runs=3))
    (spec,) = small.specs("paper")
    configs = spec.configs()
    assert len(spec) == 2 * 50 * 3 and spec.name == "perturbation-paper"
    assert {c.intervention["k"] for c in configs} == {25}
    assert {(c.embedding_seed, c.mlp_seed, c.split_seed) for c in configs} == {
        (e, i, i) for e in range(2) for i in range(3)}
    assert all(c.steps == 30_000 and c.dtype == "float64" for c in configs)


@pytest.mark.slow
def test_perturbation_paper_count():
    assert len(Perturbation().specs("paper")[0]) == 8 * 50 * 50


def test_default_smoke_budget():
    """Each default smoke preset fits about 40,000 model-steps at the paper's shape."""
    ref = model_step_flops(RunConfig())
    for exp in EXPERIMENTS:
        work = sum(model_step_flops(c) * c.steps for c in exp.planned_configs("smoke"))
        if exp.name == "ablation":  # five single runs at the paper's length
            assert work / ref == 5 * 30_000 and exp.deviations("smoke") == [REAL_PART_NOTE]
            continue
        assert work / ref <= 40_000, exp.name
        devs = exp.deviations("smoke")
        assert devs and any("steps instead of 30,000" in d and "die" in d for d in devs)


def test_smoke_deviations_name_every_departure():
    devs = " ".join(tiny_presets()["perturbation"].deviations("smoke"))
    for text in ("k = 3 instead of 25", "2 fixed embeddings instead of 8", "2 runs per α",
                 "p = 11 instead of 59", "40 steps instead of 30,000"):
        assert text in devs
    devs = " ".join(tiny_presets()["two-circles"].deviations("smoke"))
    assert "2 runs per r instead of 100" in devs and "larger signal s =" in devs


# -- interventions as the presets apply them ------------------------------------------------
def test_perturbation_scales_one_frequency(trained):
    store, exp = trained["store"], trained["presets"]["perturbation"]
    (spec,) = exp.specs("smoke")
    p = TINY["p"]
    for rid, cfg in zip(spec.run_ids(), spec.configs(), strict=True):
        alpha = cfg.intervention["alpha"]
        before = fourier.signal(unedited(store, rid), half=True)
        after = fourier.signal(initial(store, rid), half=True)
        others = np.arange(p // 2 + 1) != 3
        assert after[3] == pytest.approx(alpha * before[3], rel=1e-10)
        assert np.allclose(after[others], before[others], rtol=1e-10)
        res = json.loads(store.runs.loc[rid, "intervention_resolved"])
        assert res["k"] == 3 and res["signal_before"] == pytest.approx(before[3])


def test_ablation_keeps_only_the_chosen_circles(trained):
    store, exp = trained["store"], trained["presets"]["ablation"]
    ids = exp.variant_ids(store, exp.sized("smoke"))
    drawn = unedited(store, ids["O"])
    s0 = fourier.signal(drawn, half=True)
    final = store.signals(ids["O"])[1][-1]
    order = [int(k) for k in 1 + np.argsort(-final[1:p_half(store, ids["O"]) + 1])]
    np.testing.assert_allclose(initial(store, ids["O"]), drawn)
    expect = {"A": order[:1], "B": order[:2], "C": [1], "D": [1, 2]}
    for name, size in (("A", 1), ("B", 2), ("C", 1), ("D", 2)):
        rid = ids[name]
        kept = json.loads(store.runs.loc[rid, "intervention_resolved"])["keep"]
        assert len(kept) == size
        if name in expect:
            assert kept == expect[name]
        s = fourier.signal(initial(store, rid), half=True)
        mask = np.zeros_like(s, dtype=bool)
        mask[kept] = True
        np.testing.assert_allclose(s[mask], s0[mask], rtol=1e-10)
        assert np.all(s[~mask] < 1e-9)  # everything else, the constant term too, removed


def test_constructed_embeddings_have_the_requested_circles(trained):
    store, exp = trained["store"], trained["presets"]["two-circles"]
    (spec,) = exp.specs("smoke")
    s_big = exp.sized("smoke").larger_signal
    for rid, cfg in zip(spec.run_ids(), spec.configs(), strict=True):
        res = json.loads(store.runs.loc[rid, "intervention_resolved"])
        big, small = res["pair"]
        assert big != small and res["ratio"] == cfg.intervention["ratio"]
        s = fourier.signal(initial(store, rid), half=True)
        assert s[big] == pytest.approx(s_big, rel=1e-9)
        assert s[small] == pytest.approx(cfg.intervention["ratio"] * s_big, rel=1e-9)
        rest = np.ones_like(s, dtype=bool)
        rest[[0, big, small]] = False
        assert np.allclose(s[rest], 1e-6, rtol=1e-3) and s[0] < 1e-9
        f = np.fft.fft(initial(store, rid), axis=0)  # the authors' real coefficients
        assert np.abs(f.imag).max() < 1e-9 * np.abs(f).max()


# -- analysis end to end --------------------------------------------------------------------
def test_results_written(trained):
    for name, res in trained["results"].items():
        doc = json.loads((trained["root"] / "results" / name / "result.json").read_text())
        assert doc["name"] == name and doc["scale"] == "smoke" and doc["claims"]
        assert doc["deviations"] == res.deviations
        for fig in res.figures:
            assert (trained["root"] / "results" / name / f"{fig}.png").stat().st_size > 1000


def test_ablation_result(trained):
    res = trained["results"]["ablation"]
    assert res.n_runs == 5 and len(res.claims) == 2
    v = res.numbers["variants"]
    assert list(v) == ["O", "A", "B", "C", "D"] and v["O"]["kept"] is None
    assert {"final_test_loss", "n_spikes", "converge_step", "final_circles"} <= set(v["A"])
    assert res.numbers["metrics_every"] == 10
    fig = res.figures["ablation_test_loss"]
    left, right = fig.axes[:2]
    assert len(left.lines) == 3 and len(right.lines) == 3
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    steps = left.lines[0].get_xdata()
    assert steps[0] == 10 and steps[-1] == STEPS  # every 10 steps, step 0 left out
    assert "smoke scale, 5 runs" in figure_text(fig)
    assert "40 steps instead of 30,000" in figure_text(fig)


def test_perturbation_result(trained):
    res = trained["results"]["perturbation"]
    assert res.n_runs == 8
    n = res.numbers
    assert {"k", "spearman_r", "spearman_p", "pearson_r", "points", "runs_per_point", "within",
            "per_embedding", "stouffer_z", "stouffer_p", "reference_alpha"} <= set(n)
    assert n["k"] == 3 and n["n_points"] == 4 and n["runs_per_point"] == 2
    assert n["reference_alpha"] == 0.5 and set(n["per_embedding"]) == {0, 1}
    assert len(res.claims) == 2 and all(c.holds in (True, None) for c in res.claims)
    assert "fixed effect" in res.claims[0].criterion and "Stouffer" in res.claims[0].criterion
    assert "not the causal test" in res.claims[1].criterion
    authors, corrected = res.figures["perturbation_survival"].axes[:2]
    assert len(corrected.containers) == len(authors.containers) == 2  # one per embedding
    assert "2 runs per point" in corrected.get_title()
    assert "authors' axis" in authors.get_title() and "α = 0.5" in authors.get_xlabel()
    assert "unperturbed" in corrected.get_xlabel()
    # x = alpha * S_k - mean_k S_k of the unperturbed embedding; the authors' x_authors the
    # same with both measured on the alpha = 0.5 embedding (the grid's first)
    store, exp = trained["store"], trained["presets"]["perturbation"]
    ids, cfgs = exp.specs("smoke")[0].run_ids(), exp.specs("smoke")[0].configs()
    s = fourier.signal(unedited(store, ids[0]))
    assert np.isclose(n["points"]["x"][0], 0.5 * s[3] - s.mean())
    ref = next(r for r, c in zip(ids, cfgs, strict=True)
               if c.embedding_seed == 0 and c.intervention["alpha"] == 0.5)
    s_ref = fourier.signal(initial(store, ref))
    assert np.isclose(s_ref[3], 0.5 * s[3])
    pts = n["points"]
    i = next(j for j in range(4) if pts["embedding_seed"][j] == 0 and pts["alpha"][j] == 1.5)
    assert np.isclose(pts["x_authors"][i], 1.5 * s_ref[3] - s_ref.mean())


def test_two_circles_result(trained):
    res = trained["results"]["two-circles"]
    assert res.n_runs == 4 and len(res.claims) == 2
    n = res.numbers
    assert {"small_r", "largest_r", "rates", "runs_per_ratio"} <= set(n)
    assert n["rates"]["ratio"] == [0.05, 1.0]
    assert n["real_coefficients"] is True and "Spearman" in res.claims[1].criterion
    assert all(c.criterion for c in res.claims)
    ax = res.figures["two_circles_survival"].axes[0]
    assert len(ax.containers) == 2 and ax.get_xscale() == "log"
    assert "smoke scale, 4 runs" in figure_text(res.figures["two_circles_survival"])


def test_analyze_needs_the_runs(tmp_path):
    init_store(tmp_path / "empty")
    for exp in tiny_presets().values():
        with pytest.raises(ConfigError, match="not in"):
            exp.analyze(load(tmp_path / "empty"), "smoke")


# -- helpers ---------------------------------------------------------------------------------
def test_count_spikes_and_converge_step():
    loss = np.array([4.0, 3.0, 0.1, 2.0, 0.05, 0.01, 0.2, 0.001])
    assert count_spikes(loss) == 2
    assert count_spikes(np.array([1.0, 0.5, 0.25])) == 0
    steps = np.arange(0, 80, 10)
    assert converge_step(steps, loss, 0.06) == 70
    assert converge_step(steps, loss, 0.5) == 70 - 30
    assert converge_step(steps, loss, 1e-4) is None
    assert converge_step(steps, loss, 10.0) == 0


def test_ablation_claims_criteria():
    def variant(final, spikes, conv):
        return {"final_test_loss": final, "n_spikes": spikes, "converge_step": conv}

    v = {"O": variant(1e-7, 0, 5000), "A": variant(1e-6, 4, 29000), "B": variant(2e-7, 0, 5000),
         "C": variant(1e-6, 3, None), "D": variant(5e-6, 5, None)}
    claims = _ablation_claims(v, 1.5)
    assert [c.holds for c in claims] == [True, True] and all(c.criterion for c in claims)
    v["C"] = variant(1e-7, 0, 4000)
    assert [c.holds for c in _ablation_claims(v, 3.0)] == [False, False]


def test_track_ratio_is_the_median_factor():
    steps = np.arange(0, 1000, 10)
    o = np.geomspace(4.0, 1e-6, len(steps))
    assert track_ratio(steps, o, 1.5 * o) == pytest.approx(1.5)
    late, early = o.copy(), o.copy()
    late[steps >= 700] *= 10.0  # B departs for a third of the steps from 100
    early[steps >= 300] *= 10.0  # ... for most of them
    assert track_ratio(steps, o, late) == pytest.approx(1.0)
    assert track_ratio(steps, o, early) == pytest.approx(10.0)
    assert math.isnan(track_ratio(steps[:5], o[:5], o[:5]))  # nothing from step 100


def test_ratio_rates():
    import pandas as pd

    runs = pd.DataFrame({"ratio": [0.1, 0.1, 0.1, 1.0, 1.0],
                         "larger_survived": [True, True, False, True, False],
                         "smaller_survived": [False, True, False, False, True]})
    rates = ratio_rates(runs)
    assert rates["n_runs"].tolist() == [3, 2]
    assert rates["n_larger_only"].tolist() == [1, 1] and rates["n_both"].tolist() == [1, 0]
    assert rates["rate_larger"].tolist() == pytest.approx([2 / 3, 0.5])
    assert (rates["ci_low_larger"] <= rates["rate_larger"]).all()


def _synthetic_perturbation(beta, seed=0, embeddings=8, runs=50):
    """Runs and points of experiment 6 drawn from a known model: embedding e has its own
    survival log-odds (rising with its S_k: the between-embedding effect of experiment 5)
    and α acts within it with log-odds slope ``beta``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    alphas = np.linspace(0.85, 1.15, 5)
    s_k = 87 + 20 * np.linspace(-1.5, 1.5, embeddings)  # the embeddings' unperturbed S_k
    rows = []
    for e in range(embeddings):
        for a in alphas:
            logit = (s_k[e] - 87) / 10 + beta * (a - 1)
            for survived in rng.random(runs) < 1 / (1 + np.exp(-logit)):
                rows.append({"run_id": f"{e}-{a}-{len(rows)}", "embedding_seed": e,
                             "alpha": a, "x": a * s_k[e] - 87, "x_authors": a * 0.85 * s_k[e]
                             - 86, "survived": bool(survived)})
    runs_df = pd.DataFrame(rows)
    rates = (runs_df.groupby(["embedding_seed", "alpha"]).agg(
        x=("x", "mean"), x_authors=("x_authors", "mean"), n_runs=("run_id", "size"),
        n_survived=("survived", "sum")).reset_index())
    rates["rate"] = rates["n_survived"] / rates["n_runs"]
    numbers = {"k": 25, "n_points": len(rates), "runs_per_point": runs,
               "reference_alpha": 0.85, **pooled_numbers(rates), **within_numbers(runs_df, rates)}
    return numbers


def test_within_embedding_claim_holds_with_an_alpha_effect_and_fails_without():
    """The causal claim is judged within embeddings: with an effect of α it holds; with none
    (only the embeddings differ) it fails, though the pooled Spearman over the points, the
    authors' view, holds on the between-embedding effect alone."""
    with_effect = _synthetic_perturbation(beta=12.0)
    claims = perturbation_claims(with_effect, refutes=True)
    assert claims[0].holds is True and claims[1].holds is True
    assert with_effect["within"]["p_greater"] < 0.01 and with_effect["stouffer_p"] < 0.01
    assert set(with_effect["per_embedding"]) == set(range(8))
    without = _synthetic_perturbation(beta=0.0, seed=1)  # a draw with no trend either way
    claims = perturbation_claims(without, refutes=True)
    assert claims[0].holds is False and claims[1].holds is True
    assert without["spearman_p"] < 1e-3 and 0.05 < without["within"]["p_greater"] < 0.95
    assert perturbation_claims(without, refutes=False)[0].holds is None  # smoke: undecided
    against = _synthetic_perturbation(beta=-12.0)
    assert perturbation_claims(against, refutes=False)[0].holds is False
    # the combined fixed-effect test agrees with a second computation: Stouffer's method
    # over the embeddings' own tests
    assert np.sign(with_effect["stouffer_z"]) == np.sign(with_effect["within"]["z"]) == 1
