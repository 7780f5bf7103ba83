"""Tests of analysis/predictability.py: a planted rule is recovered, a noise feature is not,
the bootstrap interval, and the feature table read from a small store against a direct
computation."""

import numpy as np
import pandas as pd
import pytest

from circle_survival import RunConfig, fourier, load, train_to_store
from circle_survival.analysis.predictability import (
    bootstrap_auc,
    feature_table,
    out_of_fold,
    predict_survival,
)


def planted(n_runs: int = 40, n_freq: int = 20, seed: int = 0) -> pd.DataFrame:
    """Survival decided by the initial signal and the step-4 gradient; circularity is noise."""
    rng = np.random.default_rng(seed)
    n = n_runs * n_freq
    sig = rng.normal(87, 4, n)
    g4 = rng.normal(0, 0.01, n)
    score = (sig - 87) / 4 + (g4 / 0.01) + rng.normal(0, 0.3, n)
    return pd.DataFrame({
        "run_id": np.repeat([f"r{i}" for i in range(n_runs)], n_freq),
        "k": np.tile(np.arange(1, n_freq + 1), n_runs),
        "initial_signal": sig, "grad_4": g4, "circularity": rng.uniform(0.5, 0.8, n),
        "survived": score > 1.5,
    })


def test_recovers_a_planted_rule():
    res = predict_survival(planted(), n_boot=200)
    s = res.scores.set_index("name")
    for name in ("logistic (all features)", "boosting (all features)", "signal+gradient"):
        assert s.loc[name, "auc"] > 0.93, name
        assert s.loc[name, "auc_low"] > 0.88, name
    assert s.loc["signal+gradient", "auc"] > s.loc["initial_signal", "auc"] + 0.1
    assert s.loc["circularity", "auc_low"] < 0.5 < s.loc["circularity", "auc_high"] + 0.05
    assert res.features == ["initial_signal", "grad_4", "circularity"]
    assert set(res.calibration["model"]) == {"logistic", "boosting"}
    assert res.n_runs == 40 and 0 < res.prevalence < 0.5


def test_folds_keep_runs_together():
    t = planted(10, 5)
    # a feature that is the label itself predicts perfectly, fold by fold
    t["initial_signal"] = t["survived"].astype(float)
    prob = out_of_fold(t, ["initial_signal"], "logistic", n_splits=5)
    assert np.all((prob > 0.5) == t["survived"].to_numpy())
    with pytest.raises(ValueError, match="two runs"):
        out_of_fold(t[t.run_id == "r0"], ["initial_signal"])


def test_bootstrap_interval_holds_the_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.3
    score = y + rng.normal(0, 1, 300)
    groups = np.repeat(np.arange(30), 10)
    auc, lo, hi = bootstrap_auc(y, score, groups, n_boot=300)
    assert auc == pytest.approx(roc_auc_score(y, score))
    assert lo < auc < hi and hi - lo < 0.25
    assert np.isnan(bootstrap_auc(np.ones(5, bool), np.arange(5.0), np.arange(5))[0])


def test_nothing_to_predict_is_refused():
    t = planted(4, 5)
    t["survived"] = True
    with pytest.raises(ValueError, match="nothing to predict"):
        predict_survival(t)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("store") / "s"
    base = RunConfig(p=11, d=8, hidden=(16,), steps=40, device="cpu")
    train_to_store([base.replace(embedding_seed=i, mlp_seed=i, split_seed=i) for i in range(3)],
                   path)
    return load(path)


def test_feature_table_from_a_store(small_store):
    t = feature_table(small_store)
    assert len(t) == 3 * 5
    rid = small_store.runs.index[0]
    row = t[t.run_id == rid].set_index("k")
    steps, sig = small_store.signals(rid)
    emb0 = small_store.embeddings(rid)[0]
    s0 = fourier.signal(emb0, half=True)
    np.testing.assert_allclose(row["initial_signal"], s0[1:6], rtol=1e-10)
    np.testing.assert_allclose(row["grad_4"], (sig[4, 1:6] - sig[3, 1:6]) / sig[0, 1:6])
    np.testing.assert_allclose(row["circularity"], fourier.circularity(emb0)[1:6])
    assert list(row["signal_rank"]) == list(pd.Series(-s0[1:6]).rank(method="first").astype(int))
    np.testing.assert_array_equal(row["survived"], fourier.survival(sig[-1], 11)[1:6])
