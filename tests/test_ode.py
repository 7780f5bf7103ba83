"""Tests of analysis/ode.py and analysis/ode_quality.py: recovery of a known linear system,
identifiability, the analytic solution against numerical integration, the Lasso fits'
convergence, the held-out R^2 against a direct computation, the per-d summary against
scipy."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from sklearn.exceptions import ConvergenceWarning

from circle_survival.analysis.ode import (
    NonIdentifiableWarning,
    analyse_ode,
    analytic_solution,
    fit_linear_ode,
    fit_trajectory,
    ode_window,
    rollout,
)
from circle_survival.analysis.ode_quality import held_out_r2, mean_held_out_r2, r2_summary

# A stable system with rotation and coupling (eigenvalues -0.1 +- 0.05i, -0.2, -0.3).
A_TRUE = np.array([
    [-0.10, 0.05, 0.00, 0.00],
    [-0.05, -0.10, 0.02, 0.00],
    [0.00, 0.03, -0.20, 0.04],
    [0.02, 0.00, 0.00, -0.30],
])
B_TRUE = np.array([2.0, 1.0, 3.0, 5.0])
S0 = np.array([80.0, 20.0, 50.0, 90.0])


@pytest.fixture
def trajectory():
    return rollout(A_TRUE, B_TRUE, S0, 60)


def test_rollout_iterates_the_map():
    traj = rollout(A_TRUE, B_TRUE, S0, 3)
    assert traj.shape == (4, 4)
    np.testing.assert_allclose(traj[0], S0)
    np.testing.assert_allclose(traj[2] - traj[1], A_TRUE @ traj[1] + B_TRUE)


def test_ols_recovers_the_system_exactly(trajectory):
    fit = fit_trajectory(trajectory, "ols")
    np.testing.assert_allclose(fit.A, A_TRUE, atol=1e-10)
    np.testing.assert_allclose(fit.b, B_TRUE, atol=1e-9)
    np.testing.assert_allclose(fit.r2, 1.0, atol=1e-12)
    assert fit.identifiable and fit.rank == 5 and fit.n_samples == 60 and fit.alpha is None
    np.testing.assert_allclose(rollout(fit.A, fit.b, S0, 60), trajectory, rtol=1e-9)


def test_lasso_recovers_the_system_approximately(trajectory):
    fit = fit_trajectory(trajectory, "lasso", alpha=1e-5)
    np.testing.assert_allclose(fit.A, A_TRUE, atol=2e-3)
    np.testing.assert_allclose(fit.b, B_TRUE, atol=2e-2)
    assert fit.r2_mean > 0.9999 and fit.method == "lasso" and fit.alpha == 1e-5
    strong = fit_trajectory(trajectory, "lasso", alpha=10.0)  # a large penalty shrinks A
    assert np.abs(strong.A).sum() < np.abs(fit.A).sum()


def test_constant_trajectory_is_not_identifiable():
    fixed = np.linalg.solve(A_TRUE, -B_TRUE)  # the equilibrium: s stays put
    traj = rollout(A_TRUE, B_TRUE, fixed, 50)
    with pytest.warns(NonIdentifiableWarning, match="rank 1"):
        fit = fit_trajectory(traj, "ols")
    assert not fit.identifiable and fit.rank == 1
    assert np.isnan(fit.r2).all() and np.isnan(fit.r2_mean)


def test_too_few_steps_are_not_identifiable(trajectory):
    with pytest.warns(NonIdentifiableWarning, match="fewer than the unknowns"):
        fit = fit_trajectory(trajectory[:4], "lasso")  # 3 transitions, 5 unknowns
    assert not fit.identifiable and fit.rank == 3
    with pytest.raises(ValueError):
        fit_trajectory(trajectory[:1], "ols")


def _integrate(a, b, s0, t):
    sol = solve_ivp(lambda _, s: a @ s + b, (0, t[-1]), s0, t_eval=t, rtol=1e-11, atol=1e-11,
                    method="DOP853")
    return sol.y.T


def test_analytic_solution_matches_numerical_integration():
    t = np.linspace(0, 40, 41)
    exact = analytic_solution(A_TRUE, B_TRUE, S0, t)
    np.testing.assert_allclose(exact, _integrate(A_TRUE, B_TRUE, S0, t), rtol=1e-8, atol=1e-8)
    # the textbook form for invertible A
    e = expm(A_TRUE * t[-1])
    textbook = e @ S0 + (e - np.eye(4)) @ np.linalg.solve(A_TRUE, B_TRUE)
    np.testing.assert_allclose(exact[-1], textbook, rtol=1e-10)


def test_analytic_solution_with_singular_a():
    a = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -0.5]])  # rank 2, nilpotent part
    b = np.array([0.3, 1.0, 2.0])
    s0 = np.array([1.0, -2.0, 0.5])
    t = np.linspace(0, 10, 21)
    exact = analytic_solution(a, b, s0, t)
    np.testing.assert_allclose(exact, _integrate(a, b, s0, t), rtol=1e-8, atol=1e-8)
    # s2 = s0_2 + t b_2 grows linearly; s1 picks up its integral
    np.testing.assert_allclose(exact[:, 1], s0[1] + t * b[1], atol=1e-12)
    np.testing.assert_allclose(exact[:, 0], s0[0] + t * (b[0] + s0[1]) + t**2 / 2 * b[1],
                               atol=1e-12)
    zero = analytic_solution(np.zeros((2, 2)), np.array([1.0, -1.0]), np.zeros(2), [2.0])
    np.testing.assert_allclose(zero, [[2.0, -2.0]])


def _signals_like_a_run(p=11, steps=80):
    """(T, p//2 + 1) signals: a constant k = 0 column, k = 1 .. 5 from a linear system."""
    k = (p - 1) // 2
    rng = np.random.default_rng(0)
    a = -np.diag(rng.uniform(0.05, 0.2, k)) + 0.01 * rng.standard_normal((k, k))
    traj = rollout(a, rng.uniform(1, 3, k), rng.uniform(60, 100, k), steps)
    return np.hstack([np.full((steps + 1, 1), 7.0), traj]), np.arange(steps + 1), a


def test_fit_linear_ode_uses_the_window_and_frequencies():
    sig, steps, a = _signals_like_a_run()
    st, traj, ks = ode_window(sig, steps, 11, window=50)
    assert len(st) == 51 and traj.shape == (51, 5) and list(ks) == [1, 2, 3, 4, 5]
    fit = fit_linear_ode(sig, steps, 11, window=50, method="ols")
    np.testing.assert_allclose(fit.A, a, atol=1e-8)
    assert list(fit.ks) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="equally spaced"):
        fit_linear_ode(sig[[0, 1, 3, 4]], steps[[0, 1, 3, 4]], 11)


def test_analyse_ode_reports_rollout_errors():
    sig, steps, _ = _signals_like_a_run()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonIdentifiableWarning)
        res = analyse_ode(sig, steps, 11, window=60, alpha=1e-3)
    assert set(res.predictions) == {f"{m}_{kind}" for m in ("lasso", "lasso0", "ols")
                                    for kind in ("rollout", "analytic", "analytic_authors")}
    for pred in res.predictions.values():
        assert pred.shape == res.true.shape == (61, 5)
    err = res.errors
    assert set(err.columns) == {"prediction", "k", "rmse", "final_abs_error", "final_rel_error"}
    assert len(err) == 9 * 5
    ols = err[err["prediction"] == "ols_rollout"]
    assert ols["rmse"].max() < 1e-8 and ols["final_rel_error"].max() < 1e-10
    # the continuous solution of the discrete fit differs, but stays close for slow dynamics
    assert err.loc[err["prediction"] == "lasso_analytic", "final_rel_error"].max() < 0.2
    assert res.lasso.r2_mean > 0.999 and res.ols.r2_mean == pytest.approx(1.0)


def test_authors_closed_form_matches_the_exact_solution_for_an_invertible_A():
    """With A invertible, the authors' closed form (A + 1e-8 I) agrees with the augmented
    exponential to about 1e-8 relative; with ridge 0 it is the same formula."""
    from circle_survival.analysis.ode import analytic_solution, analytic_solution_authors

    rng = np.random.default_rng(0)
    a = -0.05 * np.eye(4) + 0.01 * rng.standard_normal((4, 4))
    b, s0, t = rng.standard_normal(4), rng.standard_normal(4), np.arange(20.0)
    exact = analytic_solution(a, b, s0, t)
    np.testing.assert_allclose(analytic_solution_authors(a, b, s0, t, ridge=0.0), exact,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(analytic_solution_authors(a, b, s0, t), exact, rtol=1e-5)
    np.testing.assert_allclose(analytic_solution_authors(a, b, s0, t, ridge_in_exponent=False),
                               exact, rtol=1e-5)


def test_authors_closed_form_keeps_the_drift_of_a_singular_A():
    """A with a zero column (as a Lasso fit gives): the ridge in the exponential too keeps
    the drift along the null space, to about 1e-5 relative over 1,000 steps; the ridge only
    in the inverse loses it."""
    from circle_survival.analysis.ode import analytic_solution, analytic_solution_authors

    rng = np.random.default_rng(1)
    a = -0.01 * np.eye(3) + 0.002 * rng.standard_normal((3, 3))
    a[:, 0] = 0.0
    b, s0, t = np.array([0.05, 0.01, -0.02]), np.array([80.0, 60.0, 40.0]), np.arange(1001.0)
    exact = analytic_solution(a, b, s0, t)
    assert abs(exact[-1, 0] - exact[0, 0]) > 10  # the drift is there
    scale = np.abs(exact).max()
    np.testing.assert_allclose(analytic_solution_authors(a, b, s0, t), exact, rtol=0,
                               atol=1e-5 * scale)
    other = analytic_solution_authors(a, b, s0, t, ridge_in_exponent=False)
    assert np.abs(other - exact).max() > 0.1 * scale


def test_lasso0_is_the_unpenalised_coordinate_descent():
    """method 'lasso0' is scikit-learn's Lasso(alpha=0) with its default iteration limit."""
    from sklearn.linear_model import Lasso

    sig, steps, _ = _signals_like_a_run()
    fit = fit_linear_ode(sig, steps, 11, window=60, method="lasso0", max_iter=1000, tol=1e-4)
    traj = sig[:61, 1:6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Lasso(alpha=0.0).fit(traj[:-1], np.diff(traj, axis=0))
    np.testing.assert_allclose(fit.A, ref.coef_, rtol=1e-12, atol=1e-14)
    assert fit.alpha == 0.0


# -- convergence of the authors' fits; held-out R^2; the per-d summary --------------------------
def test_lasso_fits_report_convergence():
    sig, steps, _ = _signals_like_a_run()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        short = fit_linear_ode(sig, steps, 11, window=60, method="lasso0", max_iter=3, tol=1e-12)
    assert short.converged is False and short.n_iter == short.max_iter == 3
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)  # passed on
    long = fit_linear_ode(sig, steps, 11, window=60, method="lasso", alpha=1.0,
                          max_iter=100_000, tol=1e-4)
    assert long.converged is True and 0 < long.n_iter < 100_000
    ols = fit_linear_ode(sig, steps, 11, window=60, method="ols")
    assert (ols.converged, ols.n_iter, ols.max_iter) == (None, None, None)


def _cv_by_hand(traj, folds, contiguous):
    """The held-out R^2 the long way: scikit-learn's LinearRegression per held-out fold."""
    from sklearn.linear_model import LinearRegression

    x, y = traj[:-1], np.diff(traj, axis=0)
    t = np.arange(len(x))
    res = np.zeros(y.shape[1])
    base = np.zeros(y.shape[1])
    for j in range(folds):
        held = (t * folds // len(x) == j) if contiguous else (t % folds == j)
        model = LinearRegression().fit(x[~held], y[~held])
        res += ((y[held] - model.predict(x[held])) ** 2).sum(0)
        base += ((y[held] - y[~held].mean(0)) ** 2).sum(0)
    return 1 - res / base


@pytest.mark.parametrize("scheme", ["interleaved", "contiguous"])
def test_held_out_r2_matches_a_direct_computation(trajectory, scheme):
    rng = np.random.default_rng(0)
    noisy = trajectory + rng.normal(0, 0.5, trajectory.shape)
    direct = _cv_by_hand(noisy, 5, scheme == "contiguous")
    np.testing.assert_allclose(held_out_r2(noisy, 5, scheme), direct, rtol=1e-8)
    np.testing.assert_allclose(held_out_r2(trajectory, scheme=scheme), 1.0, atol=1e-8)
    assert mean_held_out_r2(noisy, scheme=scheme) == pytest.approx(np.mean(direct))
    with pytest.raises(ValueError, match="blocks"):
        held_out_r2(trajectory[:8], 5, scheme)
    with pytest.raises(ValueError, match="scheme"):
        held_out_r2(trajectory, 5, "random")


@pytest.mark.parametrize("scheme", ["interleaved", "contiguous"])
def test_held_out_r2_fails_where_the_changes_do_not_follow_the_state(scheme):
    """Changes unrelated to the state (a random walk): in-sample R^2 of least squares is
    still above 0, the held-out R^2 is not."""
    walk = np.random.default_rng(1).normal(0, 1, (201, 4)).cumsum(0)
    assert fit_trajectory(walk, "ols").r2_mean > 0
    assert mean_held_out_r2(walk, scheme=scheme) < 0


def test_r2_summary_intervals_and_tests():
    df = pd.DataFrame({"d": [4] * 6 + [8] * 6, "method": ["ols", "lasso0"] * 6,
                       "r2": [0.9, 0.8, 0.95, 0.82, 0.92, 0.85, 0.5, 0.4, -0.2, 0.3, 0.1, 0.6],
                       "converged": [None, False] * 6, "n_iter": [None, 1000.0] * 6})
    out = r2_summary(df, methods=("lasso0", "ols"))
    assert list(zip(out["d"], out["method"], strict=True)) == [
        (4, "lasso0"), (4, "ols"), (8, "lasso0"), (8, "ols")]
    for row in out.itertuples():
        x = df.query("d == @row.d and method == @row.method")["r2"].to_numpy()
        lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert (row.mean, row.low, row.high) == (pytest.approx(x.mean()), pytest.approx(lo),
                                                 pytest.approx(hi))
        ref = stats.ttest_1samp(x, 0.0, alternative="greater")
        assert row.t == pytest.approx(ref.statistic) and row.p_above_0 == pytest.approx(ref.pvalue)
        assert row.runs == 3
    assert list(out["not_converged"]) == [3, 0, 3, 0]
    assert out["max_n_iter"].iloc[0] == 1000
