"""Tests of figures/dynamics.py: every figure renders and its axes carry the data."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from circle_survival.analysis.gradient import survival_rate_by_gradient
from circle_survival.figures.base import DEAD_COLOR
from circle_survival.figures.dynamics import (
    collaboration_figure,
    gradient_signal_plane,
    initial_gradient_histograms,
    ode_coefficients,
    ode_trajectories,
    r2_vs_d,
    survival_rate_curves,
    survival_rate_panels,
)


def _render(fig):
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getbuffer().nbytes > 1000


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


@pytest.fixture
def gradient_table():
    rng = np.random.default_rng(0)
    n = 300
    alive = rng.random(n) < 0.3
    table = pd.DataFrame({"run": np.arange(n) // 10, "k": np.arange(n) % 10 + 1,
                          "initial_signal": 80 + rng.standard_normal(n), "survived": alive})
    for s in range(1, 5):
        table[f"grad_{s}"] = rng.standard_normal(n) * 0.01 + 0.01 * alive
    return table


def test_initial_gradient_histograms(gradient_table):
    fig = initial_gradient_histograms(gradient_table, bins=12)
    _render(fig)
    axes = fig.axes
    assert len(axes) == 4
    for s, ax in enumerate(axes, start=1):
        assert len(ax.patches) == 2 * 12  # survivors and dead, 12 bars each
        assert ax.get_xlabel() == f"initial gradient at step {s}"
        assert ax.get_ylabel() == "density"
        assert ax.get_title().startswith(f"step s = {s}") and "Welch p" in ax.get_title()
        assert ax.get_legend() is None
    (legend,) = fig.legends  # one legend shared by the panels
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0].startswith("dead") and labels[1].startswith("survived")


def test_survival_rate_curves(gradient_table):
    rates = survival_rate_by_gradient(gradient_table, bins=5)
    fig = survival_rate_curves(rates)
    _render(fig)
    (ax,) = fig.axes
    assert len(ax.containers) == 4  # one errorbar curve per s
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"s = {s}" for s in range(1, 5)]
    first = ax.containers[0].lines[0]
    np.testing.assert_allclose(first.get_ydata(), rates.loc[rates["s"] == 1, "rate"])
    assert ax.get_xlabel() and ax.get_ylabel() == "survival rate" and ax.get_title()


def _collab_table(steps=(0, 100, 200, 300)):
    rows = []
    strongest = (3, 1)
    for mode, base in (("single", ()), ("strongest+k", strongest[:1]),
                       ("pair+k", strongest)):
        for k in range(1, 6):
            if k in base:
                continue
            for s in steps:
                rows.append({"mode": mode, "k": k, "step": s, "loss": np.exp(-s / 100 - k)})
    return pd.DataFrame(rows)


def test_collaboration_figure():
    losses = _collab_table()
    full = pd.DataFrame({"step": [0, 100, 200, 300], "loss": [2.0, 1.0, 0.1, 0.01]})
    fig = collaboration_figure(losses, survivors=[3, 1], strongest=[3, 1], full=full)
    _render(fig)
    axes = fig.axes
    assert len(axes) == 3
    for ax, n_k in zip(axes, (5, 4, 3), strict=True):
        assert len(ax.lines) == n_k + 1  # one per frequency, plus the full model
        assert ax.get_yscale() == "log" and ax.get_xlabel() == "step"
        greys = [ln for ln in ax.lines if ln.get_color() == DEAD_COLOR]
        coloured = [ln for ln in ax.lines if ln.get_label().startswith("k = ")]
        assert len(greys) + len(coloured) == n_k
    assert len([ln for ln in axes[0].lines if ln.get_label().startswith("k = ")]) == 2
    assert axes[0].get_ylabel()
    assert "3" in axes[1].get_title() and "3, 1" in axes[2].get_title()
    logx = collaboration_figure(losses, survivors=[3], logx=True)
    _render(logx)
    assert logx.axes[0].get_xscale() == "log"
    assert all(len(ln.get_xdata()) == 3 for ln in logx.axes[0].lines)  # step 0 dropped


def test_ode_trajectories():
    steps = np.arange(50)
    k = 5
    true = 80 * np.exp(-steps[:, None] / np.arange(10, 10 + 10 * k, 10))
    preds = {name: true * f for name, f in (("lasso_rollout", 1.01), ("lasso0_rollout", 0.99),
                                            ("lasso_analytic_authors", 1.0))}
    survived = [True, False, False, True, False]
    fig = ode_trajectories(steps, true, preds, ks=[1, 2, 3, 4, 5], survived=survived, ncols=3)
    _render(fig)
    axes = fig.axes
    assert len(axes) == 6  # legend cell + 5 frequencies
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == ["Original (recorded)", "Lasso (α = 0.01) rollout",
                      "Lasso(α = 0) rollout (the authors' linear regression)",
                      "Lasso analytic solution, A + 1e-8 I (the authors')"]
    for i, ax in enumerate(axes[1:]):
        assert len(ax.lines) == 4
        status = "survived" if survived[i] else "dead"
        assert ax.get_title() == f"k = {i + 1}: {status}"
        true_line = [ln for ln in ax.lines if ln.get_label() == "Original (recorded)"][0]
        np.testing.assert_allclose(true_line.get_ydata(), true[:, i])
    assert axes[3].get_ylabel() == "signal $S_k$"  # first column of the second row
    assert all(axes[j].get_xlabel() == "step" for j in (3, 4, 5))
    assert axes[1].get_xlabel() == ""  # a panel sits below it


def test_ode_coefficients():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    fig = ode_coefficients(a, ks=range(1, 7))
    _render(fig)
    ax = _data_axes(fig)[0]
    (image,) = ax.images
    np.testing.assert_allclose(image.get_array(), a)
    lo, hi = image.get_clim()
    assert lo == -hi == -np.abs(a).max()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(1, 7)]
    assert "source" in ax.get_xlabel() and "target" in ax.get_ylabel() and ax.get_title()
    assert len(fig.axes) == 2  # with its colour bar


def test_r2_vs_d():
    rows = [{"d": d, "seed": s, "r2": 0.9 + 0.001 * d + 0.01 * s, "method": m}
            for d in (4, 16, 64) for s in range(3) for m in ("lasso", "ols")]
    df = pd.DataFrame(rows)
    fig = r2_vs_d(df)
    _render(fig)
    (ax,) = fig.axes
    assert len(ax.containers) == 2
    line = ax.containers[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [4, 16, 64])
    np.testing.assert_allclose(line.get_ydata(), [0.914, 0.926, 0.974])
    assert ax.get_xlabel() == "embedding dimension d" and "R^2" in ax.get_ylabel()
    single = r2_vs_d(df.drop(columns="method"))
    assert len(single.axes[0].containers) == 1
    t95 = r2_vs_d(df, interval="t95")
    _render(t95)
    bars = t95.axes[0].containers[0]
    x = df.query("d == 4 and method == 'lasso'")["r2"].to_numpy()
    half = stats.t.ppf(0.975, 2) * stats.sem(x)
    seg = bars.lines[2][0].get_segments()[0]  # the d = 4 error bar: mean ± the t half-width
    np.testing.assert_allclose([seg[0][1], seg[1][1]], [x.mean() - half, x.mean() + half])
    assert "95% t interval" in t95.axes[0].get_legend().get_title().get_text()
    assert [t.get_text() for t in t95.axes[0].get_legend().get_texts()] == ["lasso", "ols"]
    with pytest.raises(ValueError, match="interval"):
        r2_vs_d(df, interval="iqr")


def test_survival_rate_panels_and_plane(gradient_table):
    from circle_survival.analysis.stats import wilson_interval

    rates = survival_rate_by_gradient(gradient_table, (1, 4), bins=5, binning="width")
    lo, hi = wilson_interval(rates["n_survived"], rates["n"])
    fig = survival_rate_panels(rates.assign(wilson_lo=lo, wilson_hi=hi))
    _render(fig)
    assert len(fig.axes) == 2 and "s = 4" in fig.axes[1].get_title()
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               rates.query("s == 1")["rate"].to_numpy())
    svm = {"accuracy": 0.8, "baseline_accuracy": 0.7}
    plane = gradient_signal_plane(gradient_table, 4, svm)
    _render(plane)
    (ax,) = plane.axes
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(gradient_table)
    assert "0.800" in ax.get_title() and "0.700" in ax.get_title()
    assert "skipped" in gradient_signal_plane(gradient_table, 4, None).axes[0].get_title()
