"""analysis/rule_counts.py: circles under several rules and at several steps, checked against
a count made one run and one frequency at a time."""

import numpy as np
import pytest

from circle_survival import RunConfig, load, train_to_store
from circle_survival.analysis.rule_counts import counts_by_rule, mean_counts
from circle_survival.errors import ConfigError

TINY = dict(p=11, d=8, hidden=(16,), steps=40, lr=0.1, device="cpu", signal_every=10)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    configs = [RunConfig(**TINY, weight_decay=wd, embedding_seed=s, mlp_seed=s, split_seed=s)
               for wd in (0.01, 2.0) for s in (0, 1)]
    train_to_store(configs, path := tmp_path_factory.mktemp("rules") / "store")
    return load(path)


def slow_count(sig, start, p, rule):
    ks = range(1, (p - 1) // 2 + 1)
    if rule == "2x-mean":  # the authors': all p entries, pairs above twice their mean
        full = [sig[min(k, p - k)] for k in range(p)]
        return sum(1 for v in full if v > 2 * np.mean(full)) // 2
    kind, _, value = rule.partition(":")
    if kind == "absolute":
        return sum(1 for k in ks if sig[k] > float(value))
    return sum(1 for k in ks if sig[k] > float(value) * start[k])  # start:F


def test_counts_match_a_slow_count(store):
    rules = ["2x-mean", "absolute:5", "start:1"]
    df = counts_by_rule(store, rules=rules, steps=[20, 40], group_by=["weight_decay"])
    assert list(df.columns) == ["run_id", "weight_decay", "step", "circle_rule", "n_circles"]
    assert len(df) == len(store) * 2 * 3
    assert list(df["run_id"].drop_duplicates()) == list(store.runs.index)
    for row in df.itertuples():
        steps, sig = store.signals(row.run_id)
        at = list(steps).index(row.step)
        assert row.n_circles == slow_count(sig[at], sig[0], 11, row.circle_rule), row
        assert row.weight_decay == store.runs.loc[row.run_id, "weight_decay"]
    last = df[(df["step"] == 40) & (df["circle_rule"] == "2x-mean")].set_index("run_id")
    assert (last["n_circles"] == store.runs.loc[last.index, "n_circles"]).all()


def test_default_step_is_the_last_and_means(store):
    df = counts_by_rule(store, rules=["absolute:0"], group_by=["weight_decay"])
    assert set(df["step"]) == {40} and (df["n_circles"] == 5).all()
    m = mean_counts(df, ["circle_rule", "weight_decay"])
    assert list(m.columns) == ["circle_rule", "weight_decay", "n", "mean", "low", "high"]
    assert list(m["n"]) == [2, 2] and list(m["mean"]) == [5.0, 5.0]


def test_bad_requests(store):
    with pytest.raises(ConfigError, match="no signals recorded at step 15"):
        counts_by_rule(store, steps=[15])
    with pytest.raises(ConfigError, match="unknown circle rule"):
        counts_by_rule(store, rules=["most"])
    with pytest.raises(ConfigError, match="no circle rule"):
        counts_by_rule(store, rules=[])
