"""Tests of analysis/lotka_volterra.py: recovery of a known Lotka-Volterra system, the rollout
against a plain loop, and the linear-versus-LV comparison on data of either kind."""

import numpy as np
import pytest

from circle_survival.analysis.lotka_volterra import compare_linear_lv, fit_lv, lv_rollout, summarize
from circle_survival.analysis.ode import rollout

# Competition: every frequency grows on its own and suppresses the others; the two with the
# highest growth rate win.
R_TRUE = np.array([0.030, 0.028, 0.020, 0.015, 0.010])
A_TRUE = -0.0004 * (np.full((5, 5), 0.8) + 0.2 * np.eye(5))
A_TRUE[0, 1] = A_TRUE[1, 0] = -0.0001  # the two winners barely compete
S0 = np.array([20.0, 15.0, 30.0, 25.0, 18.0])
P = 11  # five circle frequencies


def signals_of(traj: np.ndarray) -> np.ndarray:
    """Half-spectrum signals (T, p//2 + 1): a constant S_0 = 1 and S_1 .. S_5."""
    return np.hstack([np.ones((len(traj), 1)), traj])


def test_rollout_matches_a_plain_loop():
    traj = lv_rollout(R_TRUE, A_TRUE, S0, 5)
    s = S0.copy()
    for t in range(1, 6):
        s = s + np.array([s[i] * (R_TRUE[i] + sum(A_TRUE[i, j] * s[j] for j in range(5)))
                          for i in range(5)])
        np.testing.assert_allclose(traj[t], s, rtol=1e-12)


def test_fit_recovers_a_known_system():
    traj = lv_rollout(R_TRUE, A_TRUE, S0, 400)
    fit = fit_lv(traj)
    np.testing.assert_allclose(fit.r, R_TRUE, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.A, A_TRUE, rtol=1e-6, atol=1e-9)
    assert fit.r2_mean > 0.999999
    assert fit.n_samples == 400


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lasso_fit_is_close_with_a_small_penalty():
    traj = lv_rollout(R_TRUE, A_TRUE, S0, 400)
    fit = fit_lv(traj, method="lasso", alpha=1e-9, max_iter=20_000)
    assert fit.r2_mean > 0.99 and fit.alpha == 1e-9
    sparse = fit_lv(traj, method="lasso", alpha=1e-3, max_iter=20_000)
    assert (sparse.A == 0).sum() > (fit.A == 0).sum()
    with pytest.raises(ValueError, match="unknown method"):
        fit_lv(traj, method="ridge")


def test_comparison_on_lotka_volterra_data_favours_lv():
    traj = lv_rollout(R_TRUE, A_TRUE, S0, 3000)
    steps = np.arange(3001)
    cmp = compare_linear_lv(signals_of(traj), steps, P, fit_until=500, heldout_until=1000)
    scores = cmp.scores.set_index("model")
    assert scores.loc["lv", "rel_error_heldout"] < 1e-6
    assert scores.loc["lv", "rel_error_beyond"] < 1e-6
    assert scores.loc["lv", "survivors_match"]
    assert sorted(scores.loc["lv", "survivors_true"]) == [1, 2]
    assert scores.loc["lv", "rel_error_beyond"] < scores.loc["linear", "rel_error_beyond"]


def test_comparison_on_linear_data_fits_linear_exactly():
    a = np.diag([-0.004, -0.003, -0.002, -0.001, -0.0005])
    b = np.array([0.2, 0.1, 0.05, 0.05, 0.01])
    traj = rollout(a, b, S0, 1500)
    # records every step to 1000, then every 10th
    steps = np.concatenate([np.arange(1001), np.arange(1010, 1501, 10)])
    cmp = compare_linear_lv(signals_of(traj[steps]), steps, P)
    scores = cmp.scores.set_index("model")
    assert scores.loc["linear", "rel_error_beyond"] < 1e-6
    assert scores.loc["linear", "r2_heldout"] > 0.999999
    assert cmp.predictions["linear"].shape == (len(steps), 5)


def test_comparison_needs_dense_records():
    traj = lv_rollout(R_TRUE, A_TRUE, S0, 2000)
    steps = np.arange(0, 2001, 10)
    with pytest.raises(ValueError, match="every step"):
        compare_linear_lv(signals_of(traj[steps]), steps, P)


def test_summary_counts_wins():
    import pandas as pd

    rows = []
    for i in range(6):
        for model, err in (("linear", 0.2 + i), ("lv", 0.1 + i)):
            rows.append({"run_id": f"r{i}", "model": model, "r2_fit": 0.9, "r2_heldout": 0.5,
                         "rel_error_heldout": err, "rel_error_beyond": err,
                         "survivors_match": model == "lv", "survivor_accuracy": 1.0,
                         "diverged": False})
    out = summarize(pd.DataFrame(rows))
    assert out["rel_error_heldout"]["lv_wins"] == 6
    assert out["rel_error_heldout"]["wilcoxon_p"] < 0.05
    assert out["diverged"] == {"linear": 0, "lv": 0}
    assert out["survivors_match"] == {"linear": 0, "lv": 6, "only_lv": 6, "only_linear": 0,
                                      "mcnemar_p": pytest.approx(2 / 64),
                                      "accuracy_linear": 1.0, "accuracy_lv": 1.0}
