"""Tests of analysis/gradient.py: initial gradients, t-test, binning, SVM."""

import numpy as np
import pandas as pd
import pytest

from circle_survival.analysis.gradient import (
    gradient_ttest,
    initial_gradients,
    survival_rate_by_gradient,
    svm_authors,
    svm_separation,
)
from circle_survival.fourier import signal

P, D = 11, 8


def _direct_signal(emb):
    """S_k = ||F[k, :]|| for k = 0 .. p//2, straight from numpy's FFT."""
    f = np.fft.fft(emb, axis=-2)
    return np.linalg.norm(f, axis=-1)[..., : P // 2 + 1]


def test_initial_gradients_equal_signal_differences():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((3, 7, P, D)).cumsum(axis=1)  # (R, T, p, d) random walks
    steps = np.arange(7)
    sig = signal(emb, half=True)
    grads = initial_gradients(sig, steps, s_max=4)
    direct = _direct_signal(emb)
    assert grads.shape == (3, 4, P // 2 + 1)
    for s in range(1, 5):
        expected = (direct[:, s] - direct[:, s - 1]) / direct[:, 0]
        np.testing.assert_allclose(grads[:, s - 1], expected, rtol=1e-12)


def test_initial_gradients_pick_steps_by_value():
    rng = np.random.default_rng(1)
    sig = rng.uniform(1, 2, size=(2, 7, 4))
    steps = np.array([0, 1, 2, 3, 4, 10, 20])
    order = rng.permutation(7)  # records need not be in step order
    grads = initial_gradients(sig[:, order], steps[order], s_max=4)
    np.testing.assert_allclose(grads, np.diff(sig[:, :5], axis=1) / sig[:, :1])
    one = initial_gradients(sig[0], steps, s_max=2)  # a single run (T, K)
    assert one.shape == (2, 4)


def test_initial_gradients_need_early_steps():
    sig = np.ones((1, 4, 3))
    with pytest.raises(ValueError, match=r"missing steps \[3, 4\]"):
        initial_gradients(sig, np.array([0, 1, 2, 10]), s_max=4)


def test_gradients_of_a_trained_batch():
    from circle_survival.config import RunConfig
    from circle_survival.training.trainer import train

    cfgs = [RunConfig(p=P, d=D, hidden=(16, 16), steps=5, embedding_every=1, device="cpu",
                      mlp_seed=s, metrics_every=5) for s in range(2)]
    sink, _ = train(cfgs)
    grads = initial_gradients(sink["signals"], sink["signal_steps"])
    direct = _direct_signal(sink["embeddings"])  # (M, 6, K) from the stored embeddings
    expected = np.diff(direct[:, :5], axis=1) / direct[:, :1]
    np.testing.assert_allclose(grads, expected, rtol=1e-9, atol=1e-12)


def _synthetic(shift, n=600, seed=0):
    rng = np.random.default_rng(seed)
    alive = rng.random(n) < 0.3
    grad = rng.standard_normal(n) + shift * np.where(alive, 1.0, -1.0)
    return pd.DataFrame({"grad_4": grad, "initial_signal": 80 + 4 * rng.standard_normal(n),
                         "survived": alive})


def test_separable_data_are_separated():
    table = _synthetic(shift=4.0)
    test = gradient_ttest(table)
    assert test.p_value < 1e-50 and test.mean_survived > test.mean_dead
    assert test.n_survived + test.n_dead == len(table)
    svm = svm_separation(table, seed=0)
    assert svm.accuracy > 0.97
    assert svm.baseline_accuracy == pytest.approx(0.7, abs=0.05)
    assert svm.n_train + svm.n_test == len(table)
    assert svm.features == ("grad_4", "initial_signal")


def test_identical_distributions_are_not_separated():
    table = _synthetic(shift=0.0)
    assert gradient_ttest(table).p_value > 0.05
    svm = svm_separation(table, seed=0)
    assert abs(svm.accuracy - svm.baseline_accuracy) < 0.06


def test_svm_needs_both_classes():
    table = _synthetic(shift=1.0)
    table["survived"] = False
    with pytest.raises(ValueError, match="at least two survivors"):
        svm_separation(table)


def test_survival_rate_rises_with_the_gradient():
    table = _synthetic(shift=1.0)
    table["grad_1"] = table["grad_4"]
    rates = survival_rate_by_gradient(table, s_values=(1, 4), bins=5)
    assert set(rates["s"]) == {1, 4}
    for _, grp in rates.groupby("s"):
        assert grp["n"].sum() == len(table)
        assert grp["rate"].iloc[-1] > grp["rate"].iloc[0]
        assert np.all(np.diff(grp["center"]) > 0)
    width = survival_rate_by_gradient(table, s_values=(4,), bins=4, binning="width")
    assert width["n"].sum() == len(table)


def test_svm_authors_rounds_as_the_authors_script():
    """The authors' SVM on features rounded to 5 decimals (their ``round(float(x), 5)``)
    equals scikit-learn's SVC fitted by hand on the rounded columns."""
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    rng = np.random.default_rng(2)
    n = 400
    alive = rng.random(n) < 0.3
    table = pd.DataFrame({"grad_4": 1e-4 * rng.standard_normal(n) + 4e-5 * alive,
                          "initial_signal": 87 + 4 * rng.standard_normal(n) + 2 * alive,
                          "survived": alive})
    svm = svm_authors(table, 4)
    x = np.array([[round(float(g), 5), round(float(s), 5)]
                  for g, s in zip(table["grad_4"], table["initial_signal"], strict=True)])
    x_tr, x_te, y_tr, y_te = train_test_split(x, alive, test_size=0.2, random_state=42)
    ref = SVC(kernel="linear").fit(x_tr, y_tr)
    assert svm.accuracy == pytest.approx((ref.predict(x_te) == y_te).mean())
    np.testing.assert_allclose(svm.coef, ref.coef_.ravel(), rtol=1e-9)
    assert np.unique(np.round(x[:, 0], 5)).size < n  # the rounding merges gradients
    raw = svm_authors(table, 4, decimals=None)
    assert raw.n_test == svm.n_test == 80
