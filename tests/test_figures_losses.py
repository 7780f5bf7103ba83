"""The loss-curve figures of figures/losses.py: the curves drawn are the store's metrics, the
medians are the medians of the runs (computed a second way), both axes logarithmic."""

import numpy as np
import pandas as pd
import pytest

from circle_survival import RunConfig, load, train_to_store
from circle_survival.figures.base import caption
from circle_survival.figures.losses import (
    LOSSES,
    faint_alpha,
    loss_curves,
    loss_curves_runs,
    median_curve,
    store_loss_curves,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("losses") / "store"
    configs = [RunConfig(p=11, d=8, hidden=(16,), steps=40, lr=0.05, device="cpu",
                         metrics_every=5, embedding_seed=s, mlp_seed=s) for s in range(3)]
    train_to_store(configs, path)
    return load(path)


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_one_run_draws_the_stores_metrics(store):
    rid = store.runs.index[0]
    m = store.metrics(rid)
    fig = store_loss_curves(store, [rid], note="smoke scale, 1 run")
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step + 1" and "loss" in ax.get_ylabel()
    assert rid in ax.get_title() and caption(fig) == "smoke scale, 1 run"
    train, test = ax.get_lines()
    assert train.get_color() != test.get_color()
    np.testing.assert_array_equal(train.get_xdata(), m["step"].to_numpy(float) + 1)
    np.testing.assert_allclose(train.get_ydata(), m["train_loss"])
    np.testing.assert_allclose(test.get_ydata(), m["test_loss"])
    assert train.get_label() == f"train loss (final {m['train_loss'].iloc[-1]:.3g})"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        train.get_label(), test.get_label()]
    linear = loss_curves(m, logx=False).axes[0]
    assert linear.get_xscale() == "linear" and linear.get_xlabel() == "step"
    np.testing.assert_array_equal(linear.get_lines()[0].get_xdata(), m["step"])


def test_a_loss_that_is_not_positive_leaves_a_gap():
    m = pd.DataFrame({"step": [0, 10, 20], "train_loss": [2.0, 0.0, 1e-3],
                      "train_acc": 1.0, "test_loss": [2.0, -1.0, 1e-2], "test_acc": 1.0})
    train, test = loss_curves(m).axes[0].get_lines()
    assert np.isnan(train.get_ydata()[1]) and np.isnan(test.get_ydata()[1])
    assert train.get_ydata()[2] == 1e-3


def test_many_runs_faint_runs_and_bold_medians(store):
    ids = list(store.runs.index)
    fig = store_loss_curves(store)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and "3 runs" in ax.get_title()
    frames = {rid: store.metrics(rid) for rid in ids}
    for col, (name, color) in LOSSES.items():
        drawn = [ln for ln in ax.get_lines() if ln.get_color() == color]
        faint = [ln for ln in drawn if ln.get_alpha() is not None and ln.get_alpha() < 1]
        (median,) = [ln for ln in drawn if ln.get_label().startswith(f"{name}: median")]
        assert len(faint) == len(ids) and median.get_linewidth() > faint[0].get_linewidth()
        for ln, rid in zip(faint, ids, strict=True):
            np.testing.assert_allclose(ln.get_ydata(), frames[rid][col])
        # the median a second way: the runs share their steps, so stack and take it
        stacked = np.stack([frames[rid][col].to_numpy() for rid in ids])
        np.testing.assert_allclose(median.get_ydata(), np.median(stacked, axis=0))
        np.testing.assert_array_equal(median.get_xdata(), frames[ids[0]]["step"] + 1)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("train loss: median") and texts[1].startswith("test loss")
    assert texts[2] == "each run (faint)"


def test_median_curve_over_runs_of_different_lengths():
    a = pd.DataFrame({"step": [0, 10, 20], "test_loss": [3.0, 2.0, 1.0]})
    b = pd.DataFrame({"step": [0, 10], "test_loss": [1.0, 4.0]})
    med = median_curve({"a": a, "b": b}, "test_loss")
    assert med["step"].tolist() == [0, 10, 20]
    assert med["median"].tolist() == [2.0, 3.0, 1.0] and med["n_runs"].tolist() == [2, 2, 1]
    with pytest.raises(ValueError, match="no runs"):
        loss_curves_runs({})
    assert faint_alpha(2) == 0.3 and faint_alpha(1000) == 0.04
