"""Figures of figures/landscape.py: each renders, its axes carry the data, and the small
statistics (Wilson and t intervals) match values computed a second way."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from circle_survival.figures.base import caption, figure_text
from circle_survival.figures.landscape import (
    circles_vs,
    circularity_histogram,
    circularity_vs_d,
    frozen_embedding,
    runs_label,
    signal_vs_survival,
    summarize,
    titled,
)

NOTE = "smoke scale, 12 runs; 40 steps instead of 30,000"


def render(fig):
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getbuffer().nbytes > 1000


def n_points(ax):
    """Points drawn by scatter calls (dots of single runs)."""
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def errorbar_points(ax):
    """The lines with point markers (errorbar means; caps and plain lines excluded)."""
    return [ln for ln in ax.lines if ln.get_marker() not in (None, "None", "", "_", "|")]


def test_summarize_and_runs_label():
    df = pd.DataFrame({"d": [16, 16, 32, 32, 32], "n_circles": [1, 3, 4, 4, 4]})
    s = summarize(df, "d", "n_circles")
    assert s["n"].tolist() == [2, 3] and s["mean"].tolist() == [2, 4]
    assert s.loc[1, "low"] == s.loc[1, "high"] == 4
    assert runs_label([5, 5]) == "5 runs per point"
    assert runs_label([1]) == "1 run per point"
    assert runs_label([2, 5]) == "2–5 runs per point"


def test_titled_wraps_note():
    fig = Figure(figsize=(4, 3))
    titled(fig, "Title", "word " * 60)
    assert fig.get_suptitle() == "Title"  # a short title; the note is the caption
    assert caption(fig).startswith("word") and caption(fig).count("\n") >= 3


# -- figures --------------------------------------------------------------------------------
@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    ds = np.repeat([16, 48, 128], 4)
    return pd.DataFrame({"d": ds, "n_circles": rng.integers(1, 6, len(ds))})


def test_circles_vs_one_axes(counts):
    other = counts.assign(d=counts["d"] + 4)
    fig = circles_vs({"a": counts, "b": other}, "d", xlabel="embedding dimension d",
                     note=NOTE, marks={"d = p": 59})
    render(fig)
    (ax,) = fig.axes
    assert n_points(ax) == 2 * len(counts)
    means = errorbar_points(ax)
    assert len(means) == 2 and all(len(ln.get_xdata()) == 3 for ln in means)
    assert np.allclose(means[0].get_ydata(), counts.groupby("d")["n_circles"].mean())
    assert ax.get_xlabel() == "embedding dimension d"
    assert ax.get_ylabel() == "number of circles"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "a (4 runs per point)" in labels and "d = p" in labels
    assert NOTE in figure_text(fig)


def test_circles_vs_panels_log_axis(counts):
    wd = counts.rename(columns={"d": "weight_decay"})
    wd["weight_decay"] = wd["weight_decay"] / 1e4
    lin = wd.assign(weight_decay=wd["weight_decay"] * 100)
    fig = circles_vs({"log": wd, "linear": lin}, "weight_decay", xlabel="weight decay",
                     panels=True, logx={"log": True, "linear": False}, note=NOTE)
    render(fig)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "linear"
    assert all(n_points(ax) == len(wd) for ax in fig.axes)


def test_circularity_vs_d():
    runs = pd.DataFrame({"d": [16, 16, 64, 64], "mean_circularity": [0.2, 0.22, 0.5, 0.52],
                         "max_circularity": [0.4, 0.45, 0.7, 0.71]})
    fig = circularity_vs_d(runs, p=59, note=NOTE)
    render(fig)
    (ax,) = fig.axes
    means = errorbar_points(ax)
    assert len(means) == 2
    assert np.allclose(means[0].get_ydata(), [0.21, 0.51])
    assert np.allclose(means[1].get_ydata(), [0.425, 0.705])
    ref = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert len(ref) == 1  # the d / (d + p) reference
    xs = ref[0].get_xdata()
    assert np.allclose(ref[0].get_ydata(), xs / (xs + 59))
    assert "2 runs per point" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_xlabel() == "embedding dimension d"


def test_circularity_histogram():
    rng = np.random.default_rng(1)
    alive, dead = rng.normal(0.7, 0.05, 20), rng.normal(0.65, 0.05, 200)
    fig = circularity_histogram(alive, dead, t=3.1, p_value=0.002, d=128, note=NOTE)
    render(fig)
    (ax,) = fig.axes
    assert len(ax.patches) == 60  # 30 bins per group
    assert "t = 3.10" in ax.get_title() and "d = 128" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("20 frequencies" in s for s in labels)
    assert any("200 frequencies" in s for s in labels)
    with pytest.raises(ValueError):
        circularity_histogram([], [], t=0, p_value=1)


def test_frozen_embedding():
    rows = [{"run_id": f"r{d}{s}{i}", "d": d, "step": s, "test_loss": 10.0 / d / s,
             "test_acc": min(1, d / 64)} for d in (16, 32, 64) for s in (500, 1000)
            for i in range(2)]
    fig = frozen_embedding(pd.DataFrame(rows), p=59, note=NOTE)
    render(fig)
    ax_loss, ax_acc = fig.axes
    assert ax_loss.get_yscale() == "log"
    assert len(errorbar_points(ax_loss)) == 2 and len(errorbar_points(ax_acc)) == 2
    assert np.allclose(errorbar_points(ax_loss)[0].get_ydata(), [10 / 16 / 500, 10 / 32 / 500,
                                                                 10 / 64 / 500])
    vlines = [ln for ln in ax_loss.lines if list(ln.get_xdata()) == [59, 59]]
    assert len(vlines) == 1
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert "step 500 (2 runs per point)" in labels and "d = p = 59" in labels
    assert ax_acc.get_ylabel() == "test accuracy"


def test_signal_vs_survival():
    rng = np.random.default_rng(2)
    rows = []
    for e in range(3):
        for k in range(1, 6):
            n_surv = int(rng.integers(0, 6))
            rows.append({"embedding_seed": e, "k": k, "initial_signal": rng.normal(87, 4),
                         "n_runs": 5, "n_survived": n_surv, "rate": n_surv / 5})
    rates = pd.DataFrame(rows)
    fig = signal_vs_survival(rates, r=0.41, p_value=0.03, note=NOTE)
    render(fig)
    (ax,) = fig.axes
    pts = errorbar_points(ax)
    assert len(pts) == 3 and sum(len(ln.get_xdata()) for ln in pts) == 15
    assert "r = 0.410" in ax.get_title() and "15 points" in ax.get_title()
    assert "5 runs per point" in ax.get_title()
    assert ax.get_xlabel() == "initial signal $S_k$" and ax.get_ylabel() == "survival rate"
