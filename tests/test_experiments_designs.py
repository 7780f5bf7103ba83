"""The paper-scale design of every preset, pinned: grid values, run counts, seeds (which are
fixed, which vary), steps, dtype and init scheme, as the authors ran them (PAPER.md,
"Experiments"); and that the single-run experiments keep 30,000 steps at the smoke scale.

Nothing is trained here: the specs are expanded into their run configs and compared with the
design written out a second time by hand.
"""

import numpy as np
import pytest

from circle_survival.experiments import all_experiments, get

AUTHORS_PRIMES = [13, 19, 23, 29, 31, 37, 43, 47, 53, 59, 61, 67, 73, 79, 83, 89, 97, 101, 103,
                  107, 109, 113, 127]


def configs(name, scale="paper"):
    return [c for spec in get(name).specs(scale) for c in spec.configs()]


def seeds(cfgs):
    return {(c.embedding_seed, c.mlp_seed, c.split_seed) for c in cfgs}


def paper_defaults(c, steps=30_000):
    return (c.p, c.d, c.hidden, c.lr, c.weight_decay, c.dtype, c.steps) == (
        59 if c.p == 59 else c.p, c.d, (100, 100), 0.01, 0.5, "float64", steps)


def test_signal_evolution_is_the_seed_10_run():
    for scale in ("paper", "smoke"):
        (c,) = configs("signal-evolution", scale)
        assert (c.p, c.d, c.steps, c.dtype) == (59, 128, 30_000, "float64")
        assert (c.init_scheme, c.embedding_seed, c.mlp_seed, c.split_seed) == (
            "reference_fresh_embedding", 10, 0, 0)
        assert c.embedding_steps == (15_000,) and c.signal_every == 1
    assert get("signal-evolution").plane_ks == (1, 2)
    assert get("signal-evolution").deviations("paper") == []


def test_dimension_every_d_from_16_to_128():
    cfgs = configs("dimension")
    assert len(cfgs) == 5650 and get("dimension").n_runs("paper") == 5650
    assert sorted({c.d for c in cfgs}) == list(range(16, 129))
    for d in (16, 77, 128):
        group = [c for c in cfgs if c.d == d]
        assert seeds(group) == {(i, i, i) for i in range(50)}  # everything redrawn
    assert all(paper_defaults(c) and c.init_scheme == "reference" for c in cfgs)
    assert get("dimension").deviations("paper") == []


def test_frozen_embedding_every_d_five_runs():
    cfgs = configs("frozen-embedding")
    assert len(cfgs) == 565 and sorted({c.d for c in cfgs}) == list(range(16, 129))
    assert all(c.freeze_embedding and c.steps == 10_000 and c.dtype == "float64" for c in cfgs)
    assert seeds([c for c in cfgs if c.d == 59]) == {(i, i, i) for i in range(5)}
    assert get("frozen-embedding").sized("paper").read_steps == [500, 1000, 5000, 10_000]


def test_circles_vs_p_authors_primes_and_integers():
    exp = get("circles-vs-p")
    primes, integers = exp.specs("paper")
    assert list(primes.axes["p"]) == AUTHORS_PRIMES and 17 not in primes.axes["p"]
    assert list(integers.axes["p"]) == list(range(16, 102))
    assert len(primes) == 23 * 100 and len(integers) == 86 * 20
    assert seeds([c for c in primes.configs() if c.p == 13]) == {(i, i, i) for i in range(100)}
    assert seeds([c for c in integers.configs() if c.p == 16]) == {(i, i, i) for i in range(20)}
    shared = sum(1 for p in AUTHORS_PRIMES if 16 <= p <= 101) * 20
    assert exp.n_runs("paper") == 2300 + 1720 - shared
    assert all(paper_defaults(c) for c in primes.configs() + integers.configs())
    assert "mixes in the prime runs" in " ".join(exp.deviations("paper"))
    assert "no run count" not in " ".join(exp.deviations("paper"))


def test_circles_vs_weight_decay_grids_and_counts():
    log, linear = get("circles-vs-weight-decay").specs("paper")
    assert np.allclose(log.axes["weight_decay"], 10 ** np.linspace(-4, -2, 16))
    rounded = [round(v, 1) for v in np.linspace(0.1, 1.5, 16)]
    assert list(linear.axes["weight_decay"]) == list(dict.fromkeys(rounded))
    assert list(linear.axes["weight_decay"][:3]) == [0.1, 0.2, 0.3]
    assert len(log) == 16 * 50 and len(linear) == 15 * 50
    assert seeds(log.configs()[:50]) == {(i, i, i) for i in range(50)}
    assert all(c.steps == 30_000 and c.dtype == "float64" for c in log.configs())


def test_initial_signal_ten_embeddings_fifty_runs():
    cfgs = configs("initial-signal")
    assert len(cfgs) == 500
    assert seeds(cfgs) == {(e, i, i) for e in range(10) for i in range(50)}
    assert all(c.init_scheme == "reference" and paper_defaults(c) for c in cfgs)


def test_perturbation_eight_embeddings_fifty_alphas():
    cfgs = configs("perturbation")
    assert len(cfgs) == 8 * 50 * 50
    alphas = sorted({c.intervention["alpha"] for c in cfgs})
    assert np.allclose(alphas, np.linspace(0.85, 1.15, 50))
    assert {c.intervention["k"] for c in cfgs} == {25}
    assert seeds(cfgs) == {(e, i, i) for e in range(8) for i in range(50)}
    assert "α = 0.85 embedding" in " ".join(get("perturbation").deviations("paper"))


def test_two_circles_real_construction():
    cfgs = configs("two-circles")
    assert len(cfgs) == 16 * 100
    assert seeds(cfgs) == {(0, 0, 0)}  # MLP and split fixed (seed 0)
    ivs = [c.intervention for c in cfgs]
    assert all(iv["kind"] == "construct" and iv["real"] is True and iv["signal"] == 80.0
               for iv in ivs)
    assert np.allclose(sorted({iv["ratio"] for iv in ivs}), np.exp(np.linspace(-4, 0, 16)))
    assert {iv["pair_seed"] for iv in ivs} == set(range(100))  # a pair drawn per run
    dev = " ".join(get("two-circles").deviations("paper"))
    assert "complex" not in dev


def test_initial_gradient_two_sets():
    exp = get("initial-gradient")
    mlp, split = exp.specs("paper")
    assert seeds(mlp.configs()) == {(0, i, 0) for i in range(500)}
    assert seeds(split.configs()) == {(0, 0, i) for i in range(500)}
    assert exp.n_runs("paper") == 999  # the all-zero run is in both sets
    assert all(c.steps == 30_000 and c.dtype == "float64" for c in mlp.configs())
    assert exp.bins == 20 and exp.threshold == 10.0


def test_ablation_all_seeds_zero_from_run_o():
    exp = get("ablation")
    (o,) = exp.specs("paper")
    (c,) = o.configs()
    assert seeds([c]) == {(0, 0, 0)} and c.intervention == {} and c.steps == 30_000
    assert exp.n_runs("paper") == 5 and exp.model_steps("smoke") == 5 * 30_000
    from circle_survival.experiments.ablation import authors_ablations

    ivs = authors_ablations([11, 8])
    assert [ivs[k]["keep"] for k in "ABCD"] == [[11], [11, 8], [1], [1, 2]]
    assert all(iv["keep_constant"] is False for iv in ivs.values())


def test_collaboration_is_the_seed_10_run_of_experiment_1():
    (c,) = configs("collaboration")
    (one,) = configs("signal-evolution")
    assert c.run_id == one.run_id  # the same run, trained once
    assert c.snapshot_every == 100 and c.steps == 30_000
    assert configs("collaboration", "smoke")[0].run_id == c.run_id


def test_ode_seed_1_run_and_r2_grid():
    traj, r2 = get("ode").specs("paper")
    (c,) = traj.configs()
    assert (c.init_scheme, c.embedding_seed, c.mlp_seed, c.split_seed, c.steps) == (
        "reference_fresh_embedding", 1, 0, 0, 30_000)
    assert list(r2.axes["d"]) == list(range(4, 96)) and len(r2) == 92 * 10
    assert seeds([x for x in r2.configs() if x.d == 4]) == {(i, i, i) for i in range(10)}
    (smoke,) = get("ode").specs("smoke")[0].configs()
    assert smoke.run_id == c.run_id


@pytest.mark.parametrize("name", ["signal-evolution", "ablation", "collaboration"])
def test_single_runs_keep_full_length_at_smoke_scale(name):
    assert all(c.steps == 30_000 for c in get(name).planned_configs("smoke"))


def test_no_false_claim_of_a_missing_run_count():
    for e in all_experiments():
        text = " ".join(e.deviations("paper"))
        assert "gives no run count" not in text or e.name == "initial-gradient"


def test_cpu_hours_follow_the_measured_rate():
    from circle_survival.experiments import SECONDS_PER_MODEL_STEP

    one = get("signal-evolution")
    assert one.cpu_hours("paper") == pytest.approx(30_000 * SECONDS_PER_MODEL_STEP / 3600)


def test_reproduce_list_shows_the_authors_counts_and_costs(capsys):
    from circle_survival.cli import main

    main(["reproduce", "--list"])
    out = capsys.readouterr().out
    rows = {line.split()[1]: line.split() for line in out.splitlines()[1:]
            if line[:2].strip().isdigit()}
    assert len(rows) == len(all_experiments())
    assert rows["dimension"][6] == "5,650" and rows["perturbation"][6] == "20,000"
    assert rows["circles-vs-p"][6] == "3,680" and rows["ode"][6] == "921"
    assert rows["signal-evolution"][3:5] == ["30,000", "0.09"]  # full length at smoke scale
    assert "11 ms per float64 model-step" in out


def test_departures_follow_the_sizes():
    """A smoke scale given the paper's sizes departs from the paper exactly as the paper scale
    does (what the preset always departs in); a scale named wrongly, or unknown, is refused."""
    from dataclasses import replace

    from circle_survival.errors import ConfigError

    for e in all_experiments():
        paper = e.sized("paper")
        same = type(e)(smoke=replace(paper, scale="smoke"))
        assert same.deviations("smoke") == e.deviations("paper"), e.name
        assert e.deviations("smoke") != e.deviations("paper") or e.name in (
            "signal-evolution", "ablation", "collaboration"), e.name
        with pytest.raises(ConfigError, match="named"):
            type(e)(smoke=paper)
    with pytest.raises(ConfigError, match="unknown scale"):
        get("dimension").sized("huge")
