"""Survival statistics (analysis/survival.py, analysis/survival_arrays.py) against a direct,
slow computation."""

import numpy as np
import pandas as pd
import pytest

from circle_survival import ConfigError, RunConfig, StoreError, fourier, load, train_to_store
from circle_survival.analysis.survival import (
    analyze,
    circles_table,
    frequency_table,
    signal_survival_correlation,
    survival_rates,
)
from circle_survival.analysis.survival_arrays import (
    early_gradients,
    frequency_table_from_arrays,
    survived,
)
from circle_survival.store import init_store

TINY = dict(p=11, d=8, hidden=(16,), steps=30, lr=0.1, device="cpu")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("survival") / "store"
    configs = [RunConfig(**TINY, embedding_seed=e % 2, mlp_seed=e, split_seed=e)
               for e in range(6)]
    # another modulus and a coarser recording schedule: read as a separate shape group
    configs += [RunConfig(**{**TINY, "p": 13}, signal_every=2, embedding_seed=e, mlp_seed=e)
                for e in range(2)]
    train_to_store(configs, path)
    return load(path)


# -- the slow reference --------------------------------------------------------------------
def slow_circles(final, p):
    """The paper's 2x-mean rule written out over all p frequencies."""
    full = [final[min(k, p - k)] for k in range(p)]
    thr = 2 * np.mean(full)
    n = sum(s > thr for s in full) // 2
    order = sorted(range(p), key=lambda k: (-full[k], k))[: 2 * n]
    out = []
    for k in order:
        if min(k, p - k) not in out:
            out.append(min(k, p - k))
    return out


def slow_alive(final, start, p, rule):
    """The circles of one run by the rule's text, one k at a time."""
    if rule == "2x-mean":
        return set(slow_circles(final, p))
    kind, _, value = rule.partition(":")
    ks = range(1, (p - 1) // 2 + 1)
    strongest = max(final[k] for k in ks)
    half_mean = sum(final[k] for k in ks) / len(ks)
    above = {"absolute": lambda k: final[k] > float(value),
             "max": lambda k: final[k] > float(value) * strongest,
             "start": lambda k: final[k] > float(value) * start[k],
             "half-2x-mean": lambda k: final[k] > 2 * half_mean}[kind]
    return {k for k in ks if above(k)}


def slow_rows(store, rule, group_by=()):
    rows = []
    for rid in store.runs.index:
        p = int(store.runs.loc[rid, "p"])
        steps, sig = store.signals(rid)  # every record
        at = {int(s): sig[i] for i, s in enumerate(steps)}
        final = sig[-1]
        alive = slow_alive(final, at[0], p, rule)
        for k in range(1, (p - 1) // 2 + 1):
            row = {"run_id": rid, "k": k, "initial_signal": at[0][k],
                   "final_signal": final[k], "survived": k in alive}
            for g in group_by:
                row[g] = store.runs.loc[rid, g]
            for s in range(1, 5):
                row[f"grad_{s}"] = ((at[s][k] - at[s - 1][k]) / at[0][k]
                                    if s in at and s - 1 in at else np.nan)
            rows.append(row)
    return pd.DataFrame(rows)



def test_survived_matches_the_slow_rule():
    half = np.array([[1.0, 1, 1, 50, 1, 1], [1.0, 30, 1, 1, 1, 28]])
    # run 0: mean over all 11 = (9 + 100) / 11 = 9.9 -> only k = 3 passes 2x mean
    np.testing.assert_array_equal(survived(half, 11)[0], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(survived(half, 11)[1], [0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(survived(half, 11, "absolute:29")[1], [0, 1, 0, 0, 0, 0])
    rng = np.random.default_rng(4)
    for p in (11, 12, 23):
        final = rng.gamma(0.5, 10, size=(40, p // 2 + 1))
        alive = survived(final, p)
        for row, a in zip(final, alive, strict=True):
            assert set(np.flatnonzero(a)) == set(slow_circles(row, p))
        full = final[:, np.minimum(np.arange(p), p - np.arange(p))]  # all p frequencies
        np.testing.assert_array_equal(survived(full, p), alive)
        absolute = survived(final, p, "absolute:10")
        ks = np.arange(1, (p - 1) // 2 + 1)
        np.testing.assert_array_equal(absolute[:, ks], final[:, ks] > 10.0)
        assert not absolute[:, 0].any()  # the constant term is no circle
    with pytest.raises(ConfigError, match="unknown circle rule"):
        survived(half, 11, rule="nope")


def median_rule(store):
    """An absolute rule that splits the first runs' final signals about in half."""
    final = store.stack("signals", store.runs.index[:6])[:, -1]
    return f"absolute:{float(np.median(final[:, 1:6]))!r}"


RULE_TEXTS = ["2x-mean", "median", "max:0.5", "start:1", "half-2x-mean"]


@pytest.mark.parametrize("rule", RULE_TEXTS)
def test_frequency_table_matches_slow_computation(store, rule):
    rule = median_rule(store) if rule == "median" else rule
    table = frequency_table(store, group_by=["embedding_seed"], rule=rule)
    slow = slow_rows(store, rule, ["embedding_seed"])
    assert list(table.columns) == ["run_id", "embedding_seed", "p", "k", "initial_signal",
                                   "grad_1", "grad_2", "grad_3", "grad_4", "final_signal",
                                   "survived", "circle_rule"]
    assert set(table["circle_rule"]) == {rule}
    assert len(table) == 6 * 5 + 2 * 6
    assert list(table["run_id"]) == list(slow["run_id"])  # the store's run order, k ascending
    assert list(table["k"]) == list(slow["k"])
    for col in ["initial_signal", "grad_1", "grad_2", "grad_3", "grad_4", "final_signal"]:
        np.testing.assert_allclose(table[col], slow[col], rtol=1e-12, equal_nan=True)
    assert list(table["survived"]) == list(slow["survived"])
    assert list(table["embedding_seed"]) == list(slow["embedding_seed"])
    # signal_every=2 leaves steps 1 and 3 unrecorded: no step-s gradient there
    p13 = table[table["p"] == 13]
    assert p13[["grad_1", "grad_2", "grad_3", "grad_4"]].isna().all().all()
    if rule == "absolute":
        assert 0 < table["survived"].sum() < len(table)

    rates = survival_rates(table, ["embedding_seed"])
    for (e, k), grp in slow.groupby(["embedding_seed", "k"]):
        row = rates[(rates["embedding_seed"] == e) & (rates["k"] == k)].iloc[0]
        assert row["n_runs"] == len(grp)
        assert row["n_survived"] == grp["survived"].sum()
        assert row["rate"] == pytest.approx(grp["survived"].mean())
        assert row["initial_signal"] == pytest.approx(grp["initial_signal"].mean())


def test_reads_only_the_first_and_last_records(store, monkeypatch):
    calls = []
    real = store.stack

    def spy(name, run_ids=None, steps=None):
        calls.append((name, steps))
        return real(name, run_ids, steps)

    monkeypatch.setattr(store, "stack", spy)
    monkeypatch.setattr(store, "signals", lambda *a: pytest.fail("read a whole signal array"))
    frequency_table(store)
    assert calls and all(name == "signals" for name, _ in calls)
    for _, sl in calls:
        assert isinstance(sl, slice) and sl.stop - sl.start <= 5


@pytest.mark.parametrize("rule", ["absolute:9" if r == "median" else r for r in RULE_TEXTS])
def test_circles_table(store, rule):
    circ = circles_table(store, rule=rule)
    assert list(circ.columns[:4]) == ["run_id", "embedding_seed", "mlp_seed", "split_seed"]
    assert {"n_circles", "circles", "circle_rule", "test_loss", "test_acc"} <= set(circ.columns)
    assert set(circ["circle_rule"]) == {rule}
    for _, row in circ.iterrows():
        p = store.config(row["run_id"]).p
        steps, sig = store.signals(row["run_id"])
        final = sig[-1]
        if rule == "2x-mean":
            expected = slow_circles(final, p)
        else:
            expected = sorted(slow_alive(final, sig[0], p, rule), key=lambda k: -final[k])
        assert row["circles"] == expected
        assert row["n_circles"] == len(expected)
        assert row["test_acc"] == store.runs.loc[row["run_id"], "test_acc"]
    # the circles agree whether read from the frequency table or not
    freq = frequency_table(store, rule=rule)
    again = circles_table(store, rule=rule, frequencies=freq)
    assert list(again["circles"]) == list(circ["circles"])


def test_rules_give_different_counts_on_one_store(store):
    counts = {r: circles_table(store, rule=r)["n_circles"].sum()
              for r in ("2x-mean", "absolute:0", "absolute:1e9", "start:1", "max:1")}
    assert counts["absolute:0"] == ((store.runs["p"] - 1) // 2).sum()  # every k
    assert counts["absolute:1e9"] == 0 and counts["max:1"] == 0
    assert counts["2x-mean"] == store.runs["n_circles"].sum()


def test_analyze_groups_and_counts(store):
    ids = list(store.runs.index[:6])
    result = analyze(store, ids, group_by=["embedding_seed"], rule="absolute:9")
    assert set(result.frequencies["run_id"]) == set(ids)
    assert len(result.rates) == 2 * 5
    assert (result.rates["n_runs"] == 3).all()
    assert result.counts["n_runs"].sum() == 6
    per_run = result.frequencies.groupby("run_id")["survived"].sum()
    assert dict(zip(result.circles["run_id"], result.circles["n_circles"], strict=True)) == \
        per_run.to_dict()
    assert result.correlation.n_points == 10


def test_constructed_arrays():
    p = 7  # K = 4 frequencies k = 0 .. 3; circles k = 1 .. 3
    s0 = np.array([[5.0, 10.0, 20.0, 40.0], [5.0, 8.0, 8.0, 8.0]])
    rates = np.array([0.1, -0.2, 0.3, 0.05])
    early = s0[:, None, :] * (1 + rates[None, None, :] * np.arange(5)[None, :, None])
    final = np.array([[1.0, 100.0, 1.0, 1.0], [1.0, 1.0, 1.0, 100.0]])
    table = frequency_table_from_arrays(early, np.arange(5), final, p, run_ids=["a", "b"],
                                        groups=pd.DataFrame({"emb": [3, 4]}))
    assert list(table["run_id"]) == ["a"] * 3 + ["b"] * 3
    assert list(table["emb"]) == [3] * 3 + [4] * 3
    assert list(table["k"]) == [1, 2, 3] * 2
    # 2x-mean: threshold 2 * (1 + 100 + 1 + 1 + 1 + 1 + 100) / 7 = 58.6, one circle per run
    assert list(table["survived"]) == [True, False, False, False, False, True]
    for s in range(1, 5):
        np.testing.assert_allclose(table[f"grad_{s}"], np.tile(rates[1:], 2), rtol=1e-12)
    np.testing.assert_allclose(table["initial_signal"], s0[:, 1:].ravel())
    absolute = frequency_table_from_arrays(early, np.arange(5), final, p, rule="absolute:0.5")
    assert absolute["survived"].all()
    rates_tab = survival_rates(table)
    assert list(rates_tab["rate"]) == [0.5, 0.0, 0.5]
    assert list(rates_tab["n_runs"]) == [2, 2, 2]


def test_gradients_with_missing_steps():
    early = np.array([[[2.0], [3.0], [5.0]]])  # steps 0, 1, 3
    g = early_gradients(early, np.array([0, 1, 3]), s_max=4)
    assert g.shape == (1, 4, 1)
    assert g[0, 0, 0] == pytest.approx(0.5)
    assert np.isnan(g[0, 1:, 0]).all()


def test_correlation():
    rates = pd.DataFrame({"initial_signal": [1.0, 2.0, 3.0, 4.0], "rate": [0.1, 0.2, 0.3, 0.4]})
    c = signal_survival_correlation(rates)
    assert c.r == pytest.approx(1.0) and c.n_points == 4
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    c = signal_survival_correlation(pd.DataFrame({"initial_signal": x, "rate": y}))
    assert c.r == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert np.isnan(signal_survival_correlation(rates.iloc[:2]).r)
    assert np.isnan(signal_survival_correlation(rates.assign(rate=0.5)).r)


def test_bad_requests(store, tmp_path):
    with pytest.raises(ConfigError, match="unknown group column 'nope'"):
        frequency_table(store, group_by=["nope"])
    with pytest.raises(ConfigError, match="unknown circle rule"):
        frequency_table(store, rule="3x")
    for bad, why in [("absolute", "needs a finite value"), ("absolute:x", "needs a number"),
                     ("max:2", "in \\(0, 1\\]"), ("2x-mean:3", "takes no value"),
                     ("start:0", "> 0"), ("absolute:nan", "finite")]:
        with pytest.raises(ConfigError, match=why):
            frequency_table(store, rule=bad)
    with pytest.raises(StoreError, match="no run 'missing'"):
        frequency_table(store, ["missing"])
    init_store(tmp_path / "empty")
    with pytest.raises(StoreError, match="no complete runs"):
        analyze(load(tmp_path / "empty"))


def test_multiplication_is_analysed_in_log_coordinates(tmp_path):
    # p = 11 under multiplication: the signals are of the p - 1 = 10 discrete-log rows, so
    # the circles are k = 1 .. 4 (k = 5 is the Nyquist term of 10 rows)
    configs = [RunConfig(**TINY, task="multiply", embedding_seed=s) for s in range(2)]
    train_to_store(configs, tmp_path / "mul")
    st = load(tmp_path / "mul")
    freq = frequency_table(st, rule="absolute:0")
    assert list(freq["k"]) == [1, 2, 3, 4] * 2 and set(freq["p"]) == {11}
    assert freq["survived"].all()
    circ = circles_table(st, rule="absolute:0")
    assert list(circ["n_circles"]) == [4, 4] and set(circ["p"]) == {11}
    authors = circles_table(st)  # the run table's count, made over the same 10 rows
    for rid, n in zip(authors["run_id"], authors["n_circles"], strict=True):
        sig = st.signals(rid)[1][-1]
        assert n == fourier.n_circles(sig, 10)
