"""Figures of the interventions (experiments 6, 7, 9): synthetic data in, the axes carry it."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from circle_survival.figures import interventions as figs
from circle_survival.figures.base import figure_text
from circle_survival.figures.io import save_figure


def test_ablation_test_loss(tmp_path):
    steps = np.arange(0, 1010, 10)
    curves = {name: (steps, np.exp(-steps / (100 + 50 * i)) + 1e-6)
              for i, name in enumerate("OABCD")}
    labels = {"A": figs.variant_label("A", "strongest circle", [7])}
    fig = figs.ablation_test_loss(curves, labels, note="smoke scale, 5 runs; 1,000 steps")
    assert isinstance(fig, Figure)
    left, right = fig.axes[:2]
    assert [ln.get_label() for ln in left.lines] == ["O", "A: strongest circle {7}", "B"]
    assert [ln.get_label() for ln in right.lines] == ["O", "C", "D"]
    assert len(left.lines[0].get_xdata()) == len(steps) - 1  # step 0 is not drawn
    for ax in (left, right):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "step" in ax.get_xlabel()
    assert "test loss" in left.get_ylabel()
    assert "smoke scale, 5 runs" in figure_text(fig)
    paths = save_figure(fig, tmp_path / "ablation")
    assert all(p.stat().st_size > 1000 for p in paths)


def test_ablation_missing_variants_are_skipped():
    steps = np.arange(0, 50, 10)
    fig = figs.ablation_test_loss({"O": (steps, np.ones(5)), "B": (steps, np.ones(5))})
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1


def test_perturbation_survival():
    rows = [{"embedding_seed": e, "alpha": a, "x": 10 * (a - 1) + e,
             "x_authors": 0.85 * 10 * a - 9 + e, "n_runs": 50,
             "n_survived": int(50 * a / 1.2)} for e in range(3) for a in (0.85, 1.0, 1.15)]
    rates = pd.DataFrame(rows)
    fig = figs.perturbation_survival(rates, 25, note="paper scale, 450 runs",
                                     statistic="Spearman r = +0.9")
    (ax,) = fig.axes  # without a reference α: the corrected axis alone
    assert len(ax.containers) == 3  # one error-bar curve per embedding
    xs = ax.containers[0].lines[0].get_xdata()
    assert np.allclose(xs, [-1.5, 0.0, 1.5])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "embedding 0", "embedding 1", "embedding 2"]
    assert "50 runs per point" in ax.get_title() and "Wilson" in ax.get_title()
    assert "S_25" in ax.get_xlabel() and "k = 25" in ax.get_ylabel()
    assert "paper scale, 450 runs" in figure_text(fig)
    assert any("Spearman" in t.get_text() for t in ax.texts)


def test_perturbation_survival_both_axes():
    """The authors' axis (measured on the α = 0.85 embedding) beside the corrected one, each
    labelled, the same survival rates on both."""
    rows = [{"embedding_seed": e, "alpha": a, "x": 10 * (a - 1) + e,
             "x_authors": 0.85 * 10 * a - 9 + e, "n_runs": 50,
             "n_survived": int(50 * a / 1.2)} for e in range(2) for a in (0.85, 1.0, 1.15)]
    fig = figs.perturbation_survival(pd.DataFrame(rows), 25, statistic="within: p = 0.01",
                                     reference_alpha=0.85)
    authors, corrected = fig.axes
    assert "authors' axis" in authors.get_title() and "α = 0.85" in authors.get_xlabel()
    assert "corrected axis" in corrected.get_title()
    assert "unperturbed" in corrected.get_xlabel()
    assert np.allclose(authors.containers[0].lines[0].get_xdata(),
                       [0.85 * 10 * a - 9 for a in (0.85, 1.0, 1.15)])
    assert np.allclose(corrected.containers[0].lines[0].get_xdata(), [-1.5, 0.0, 1.5])
    for a, c in zip(authors.containers, corrected.containers, strict=True):
        assert np.allclose(a.lines[0].get_ydata(), c.lines[0].get_ydata())
    assert any("within" in t.get_text() for t in corrected.texts)


def test_two_circles_survival():
    ratios = np.exp(np.linspace(-4, 0, 4))
    rates = pd.DataFrame({"ratio": ratios, "n_runs": [10, 10, 10, 8],
                          "n_larger": [9, 8, 6, 4], "n_smaller": [0, 2, 4, 4]})
    fig = figs.two_circles_survival(rates, note="smoke scale, 38 runs")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.containers) == 2
    big, small = ax.containers
    assert np.allclose(big.lines[0].get_ydata(), [0.9, 0.8, 0.6, 0.5])
    assert np.allclose(small.lines[0].get_ydata(), [0.0, 0.2, 0.4, 0.5])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("larger") and labels[1].startswith("smaller")
    assert "8–10 runs per point" in ax.get_title()
    assert "smoke scale, 38 runs" in figure_text(fig)
