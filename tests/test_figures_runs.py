"""Figures of figures/runs.py: each renders, and its axes carry the data."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from circle_survival import RunConfig, fourier, load, train_to_store
from circle_survival.analysis.survival import circles_table, frequency_table, survival_rates
from circle_survival.figures.base import figure_text
from circle_survival.figures.io import save_figure
from circle_survival.figures.runs import (
    circles_fft,
    circles_pca,
    n_circles_histogram,
    planes_over_time,
    signal_evolution,
    survival_rate_bars,
)

P = 11


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("figs") / "store"
    configs = [RunConfig(p=P, d=8, hidden=(16,), steps=30, lr=0.1, device="cpu",
                         embedding_steps=(15,), embedding_seed=e % 2, mlp_seed=e)
               for e in range(4)]
    train_to_store(configs, path)
    return load(path)


@pytest.fixture(scope="module")
def constructed():
    """p = 13, d = 8 with two clear circles: k = 2 (signal 100) and k = 5 (60)."""
    return fourier.construct(13, 8, {2: 100.0, 5: 60.0}, floor_signal=1.0, rng=0)


def render(fig):
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getbuffer().nbytes > 1000


def is_grey(color):
    r, g, b = to_rgb(color)
    return r == g == b


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_signal_evolution(store):
    rid = store.runs.index[0]
    steps, sig = store.signals(rid)
    survivors = [2, 4]
    fig = signal_evolution(steps, sig, P, survivors)
    render(fig)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == (P - 1) // 2
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "step + 1"
    assert "signal" in ax.get_ylabel() and ax.get_title()
    assert min(line.get_xdata().min() for line in lines) == 1  # step 0 drawn at 1
    coloured = [line for line in lines if not is_grey(line.get_color())]
    assert len(coloured) == 2
    assert {line.get_label() for line in coloured} == {"k = 2 (Δ = 5)", "k = 4 (Δ = 3)"}
    np.testing.assert_allclose(coloured[0].get_ydata(), sig[:, 2])
    assert sum(is_grey(line.get_color()) for line in lines) == 3
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "dead (3 frequencies)" and len(legend) == 3


def test_signal_evolution_default_survivors(constructed):
    sig = np.stack([fourier.signal(constructed, half=True)] * 3)
    fig = signal_evolution(np.arange(3), sig, 13)
    coloured = [ln for ln in fig.axes[0].get_lines() if not is_grey(ln.get_color())]
    assert sorted(ln.get_label().split(" (")[0] for ln in coloured) == ["k = 2", "k = 5"]


def test_circles_fft(constructed):
    fig = circles_fft(constructed)
    render(fig)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["k = 2, Δ = 6", "k = 5, Δ = 5"]
    for ax, k in zip(axes, (2, 5), strict=True):
        (points,) = ax.collections
        np.testing.assert_allclose(points.get_offsets(), fourier.fft_plane(constructed, k))
        assert sorted(int(t.get_text()) for t in ax.texts) == list(range(13))
        assert ax.get_xlabel() and ax.get_ylabel()
    assert figure_text(fig)
    assert [ax.get_title() for ax in visible_axes(circles_fft(constructed, [3]))] == [
        "k = 3, Δ = 4"]


def test_circles_pca(constructed):
    fig = circles_pca(constructed)
    render(fig)
    axes = visible_axes(fig)
    assert len(axes) == 2  # two circles -> two planes
    assert axes[0].get_title() == "PC1–PC2: k = 2, Δ = 6"
    assert axes[1].get_title() == "PC3–PC4: k = 5, Δ = 5"
    assert (axes[0].get_xlabel(), axes[0].get_ylabel()) == ("PC1", "PC2")
    for ax in axes:
        assert len(ax.collections[0].get_offsets()) == 13 and len(ax.texts) == 13


def test_planes_over_time(store):
    rid = store.runs.index[0]
    emb = store.embeddings(rid)
    assert sorted(emb) == [0, 15, 30]
    fig = planes_over_time(emb, [1, 3], [0, 15, 30], survivors=[3])
    render(fig)
    axes = fig.axes
    assert len(axes) == 6
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "k = 1 dies (Δ = 1), step 0"
    assert titles[5] == "k = 3 survives (Δ = 4), step 30"
    for i, ax in enumerate(axes):
        k, step = (1, 3)[i // 3], (0, 15, 30)[i % 3]
        np.testing.assert_allclose(ax.collections[0].get_offsets(),
                                   fourier.fft_plane(emb[step], k))
        assert ax.get_xlabel() and ax.get_ylabel()
    assert axes[0].get_xlim() == axes[2].get_xlim()  # a row shares its limits
    with pytest.raises(KeyError, match="no embedding at step"):
        planes_over_time(emb, [1], [0, 7, 30])


def test_n_circles_histogram(store):
    fig = n_circles_histogram([0, 2, 2, 3])
    render(fig)
    (ax,) = fig.axes
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [1, 0, 2, 1]  # integer bins 0, 1, 2, 3
    assert [patch.get_x() + patch.get_width() / 2 for patch in ax.patches] == \
        pytest.approx([0, 1, 2, 3])
    assert ax.get_xlabel() == "number of circles" and ax.get_ylabel() == "runs"
    assert "4 runs" in ax.get_title()
    circ = circles_table(store, rule="absolute", threshold=9.0)
    fig = n_circles_histogram(circ["n_circles"])
    n = circ["n_circles"]
    assert len(fig.axes[0].patches) == n.max() - n.min() + 1


def test_survival_rate_bars(store):
    freq = frequency_table(store, group_by=["embedding_seed"], rule="absolute", threshold=9.0)
    rates = survival_rates(freq)
    fig = survival_rate_bars(rates)
    render(fig)
    (ax,) = fig.axes
    assert len(ax.patches) == (P - 1) // 2
    assert [patch.get_height() for patch in ax.patches] == pytest.approx(list(rates["rate"]))
    assert ax.get_xlabel() == "frequency k" and ax.get_ylabel() == "survival rate"
    assert "4 runs" in ax.get_title()
    grouped = survival_rates(freq, ["embedding_seed"])
    fig = survival_rate_bars(grouped, ["embedding_seed"])
    (ax,) = fig.axes
    assert len(ax.patches) == 2 * (P - 1) // 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "embedding_seed=0 (2 runs)", "embedding_seed=1 (2 runs)"]
    assert "4 runs" in ax.get_title()
    with pytest.raises(ValueError, match="several rows per k"):
        survival_rate_bars(grouped)


def test_save_figure(tmp_path):
    fig = n_circles_histogram([1, 2])
    paths = save_figure(fig, tmp_path / "sub" / "hist.png")
    assert [p.name for p in paths] == ["hist.png", "hist.svg"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in paths[1].read_bytes()[:500]
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure(fig, tmp_path / "x", formats=("bmp",))


def test_rates_frame_round_trip():
    rates = pd.DataFrame({"k": [1, 2, 3], "n_runs": 5, "rate": [0.2, 0.0, 1.0]})
    ax = survival_rate_bars(rates).axes[0]
    assert [p.get_height() for p in ax.patches] == [0.2, 0.0, 1.0]
