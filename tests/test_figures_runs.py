"""Figures of figures/runs.py and figures/many_runs.py: each renders, its axes carry the data,
and what it tells the reader (titles, colour bars, legends clear of the bars) matches a second
computation."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_rgb, to_rgba_array
from matplotlib.figure import Figure

from circle_survival import RunConfig, fourier, load, train_to_store
from circle_survival.analysis.survival import circles_table, frequency_table, survival_rates
from circle_survival.figures.base import caption, figure_text, key, runs_text, set_key, titled
from circle_survival.figures.io import figure_formats, save_figure
from circle_survival.figures.runs import (
    CIRCLE_SHARE,
    circles_fft,
    circles_pca,
    n_circles_histogram,
    plane_circle,
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


def colorbar_labels(fig):
    """The labels of the figure's colour bars (insets of its panels)."""
    return [cax.get_ylabel() for ax in fig.axes for cax in ax.child_axes]


def check_token_colours(fig, p):
    """One colour bar naming the token colours 0 .. p-1, and every panel's points coloured
    by token value on that bar's scale: viridis at (t + 0.5) / p, computed a second way."""
    assert colorbar_labels(fig) == [f"colour: token t (0 … {p - 1})"]
    expected = colormaps["viridis"]((np.arange(p) + 0.5) / p)
    fig.canvas.draw()
    for ax in visible_axes(fig):
        np.testing.assert_allclose(to_rgba_array(ax.collections[0].get_facecolors()),
                                   expected, atol=1e-2)


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
    assert figure_text(fig) and "neighbouring tokens differ by Δ" in caption(fig)
    assert len(fig.axes) == 2  # the colour bar is an inset: the figure's axes are its panels
    check_token_colours(fig, 13)
    assert [ax.get_title() for ax in visible_axes(circles_fft(constructed, [3]))] == [
        "k = 3, Δ = 4"]


def test_circles_pca(constructed):
    fig = circles_pca(constructed)
    render(fig)
    axes = visible_axes(fig)
    assert len(axes) == 2  # two circles -> two planes
    assert (axes[0].get_xlabel(), axes[0].get_ylabel()) == ("PC1", "PC2")
    assert (axes[1].get_xlabel(), axes[1].get_ylabel()) == ("PC3", "PC4")
    for ax in axes:
        assert len(ax.collections[0].get_offsets()) == 13 and len(ax.texts) == 13
    check_token_colours(fig, 13)
    # the constructed circles' Re and Im parts differ in length, so PCA mixes k = 2 and 5:
    # about 3/4 of each plane's power at one frequency, a wobbly loop, left untitled
    shares = [plane_circle(xy)[1] for xy in fourier.pca_planes(constructed, 2)]
    assert all(0.7 < s < CIRCLE_SHARE for s in shares)
    assert [ax.get_title() for ax in axes] == ["", ""]
    assert "80%" in caption(fig) and "untitled planes show no single circle" in caption(fig)
    # two round circles of distinct size: each on its own plane, each titled
    rounds = waves(13, [(4, "cos", 2), (4, "sin", 2), (2, "cos", 5), (2, "sin", 5)])
    fig = circles_pca(rounds)
    assert [ax.get_title() for ax in visible_axes(fig)] == ["k = 2, Δ = 6", "k = 5, Δ = 5"]
    assert "untitled" not in caption(fig)


def waves(p, columns):
    """A (p, len(columns)) embedding: column j = scale * cos or sin(2π k t / p)."""
    t = np.arange(p)
    fn = {"cos": np.cos, "sin": np.sin}
    return np.stack([a * fn[f](2 * np.pi * k * t / p) for a, f, k in columns], axis=1)


def test_plane_circle_against_the_ellipse_formula():
    """x = A cos, y = B sin at one frequency: the share at that frequency is
    (A + B)² / (2 (A² + B²)), the rest lies at -k; two frequencies in one plane share <= 1/2."""
    p = 17
    for a, b in ((1.0, 1.0), (2.0, 1.0), (1.0, 0.2), (1.0, 0.0)):
        k, share = plane_circle(waves(p, [(a, "cos", 3), (b, "sin", 3)]))
        assert k == 3 and share == pytest.approx((a + b) ** 2 / (2 * (a * a + b * b)))
    assert plane_circle(waves(p, [(1, "cos", 14), (1, "sin", 14)]))[0] == 3  # 14 = -3 mod 17
    k, share = plane_circle(waves(p, [(1.0, "cos", 2), (1.0, "sin", 5)]))
    assert share <= 0.5


def test_circles_pca_titles_only_the_planes_that_show_a_circle():
    p = 19
    # PC1..PC4 are the columns (variances 16, 9, 4, 1): PC1-PC2 = (cos 2, sin 5), mixed
    mixed = waves(p, [(4, "cos", 2), (3, "sin", 5), (2, "sin", 2), (1, "cos", 5)])
    fig = circles_pca(mixed, n_planes=2)
    assert [ax.get_title() for ax in visible_axes(fig)] == ["", ""]
    assert "untitled planes show no single circle" in caption(fig)
    # PC1-PC2 = (cos 2, sin 2) a circle, PC3-PC4 = (cos 5, cos 7) mixed
    part = waves(p, [(4, "cos", 2), (3.9, "sin", 2), (2, "cos", 5), (1, "cos", 7)])
    shares = [plane_circle(xy)[1] for xy in fourier.pca_planes(part, 2)]
    assert shares[0] >= CIRCLE_SHARE > shares[1]
    fig = circles_pca(part, n_planes=2)
    assert [ax.get_title() for ax in visible_axes(fig)] == ["k = 2, Δ = 9", ""]


def test_planes_over_time(store):
    rid = store.runs.index[0]
    emb = store.embeddings(rid)
    assert sorted(emb) == [0, 15, 30]
    fig = planes_over_time(emb, [1, 3], [0, 15, 30], survivors=[3])
    render(fig)
    axes = fig.axes
    assert len(axes) == 6
    check_token_colours(fig, P)
    assert "share their limits" in caption(fig) and "'dies'" in caption(fig)
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
    assert list(ax.get_xticks()) == [0, 1, 2, 3, 4]  # every count, one empty either side
    (ax,) = n_circles_histogram([3]).axes
    assert "(1 run, mean 3.00)" in ax.get_title()
    assert list(ax.get_xticks()) == [2, 3, 4]  # integers only, however few runs
    circ = circles_table(store, rule="absolute:9")
    fig = n_circles_histogram(circ["n_circles"])
    n = circ["n_circles"]
    assert len(fig.axes[0].patches) == n.max() - n.min() + 1


def test_survival_rate_bars(store):
    freq = frequency_table(store, group_by=["embedding_seed"], rule="absolute:9")
    rates = survival_rates(freq)
    fig = survival_rate_bars(rates)
    render(fig)
    (ax,) = fig.axes
    assert len(ax.patches) == (P - 1) // 2
    assert [patch.get_height() for patch in ax.patches] == pytest.approx(list(rates["rate"]))
    assert ax.get_xlabel() == "frequency k" and ax.get_ylabel().startswith("survival rate")
    assert "4 runs" in ax.get_title()
    assert list(ax.get_xticks()) == list(range(1, (P - 1) // 2 + 1))  # a tick at every k
    grouped = survival_rates(freq, ["embedding_seed"])
    fig = survival_rate_bars(grouped, ["embedding_seed"])
    (ax,) = fig.axes
    assert len(ax.patches) == 2 * (P - 1) // 2
    (legend,) = fig.legends
    assert legend.get_title().get_text() == "embedding_seed"
    assert [t.get_text() for t in legend.get_texts()] == ["0 (2 runs)", "1 (2 runs)"]
    assert "4 runs" in ax.get_title()
    with pytest.raises(ValueError, match="several rows per k"):
        survival_rate_bars(grouped)


def test_survival_rate_legend_clear_of_the_bars():
    """Many groups, every bar at rate 1 (the tallest): on the drawn canvas the legend's box
    meets neither a bar's box nor the axes; one run per group reads '1 run'."""
    rates = pd.DataFrame([{"g": g, "k": k, "n_runs": 1, "rate": 1.0}
                          for g in range(6) for k in range(1, 12)])
    fig = survival_rate_bars(rates, ["g"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert len(ax.patches) == 66
    assert not any(box.overlaps(bar.get_window_extent(renderer)) for bar in ax.patches)
    assert not box.overlaps(ax.get_window_extent(renderer))
    assert fig.bbox.contains(box.x1 - 1, box.y1 - 1)  # inside the figure
    assert [t.get_text() for t in legend.get_texts()][0] == "0 (1 run)"
    assert "(6 runs)" in ax.get_title()
    one = survival_rate_bars(rates[rates["g"] == 0].drop(columns="g"))
    assert "(1 run)" in one.axes[0].get_title() and not one.legends


def test_runs_text_and_the_key_kept_under_a_new_note():
    assert [runs_text(n) for n in (0, 1, 2, 1500)] == ["0 runs", "1 run", "2 runs",
                                                       "1,500 runs"]
    fig = n_circles_histogram([1, 2])
    set_key(fig, "Bars: runs per count.")
    titled(fig, "Circles", "smoke scale, 2 runs")
    titled(fig, "Circles again", "smoke scale, 3 runs")
    assert key(fig) == "Bars: runs per count."
    assert caption(fig) == "Bars: runs per count.\nsmoke scale, 3 runs"
    assert fig.get_suptitle() == "Circles again"


def test_save_figure(tmp_path):
    fig = n_circles_histogram([1, 2])
    paths = save_figure(fig, tmp_path / "sub" / "hist.png")
    assert [p.name for p in paths] == ["hist.png", "hist.svg"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in paths[1].read_bytes()[:500]
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure(fig, tmp_path / "x", formats=("bmp",))
    assert figure_formats() == ("png", "svg")
    # PDF too: a figure with Δ, "…" and a colour bar
    e = fourier.construct(13, 8, {2: 100.0}, floor_signal=1.0, rng=0)
    paths = save_figure(circles_fft(e), tmp_path / "fft", figure_formats(pdf=True))
    assert [p.name for p in paths] == ["fft.png", "fft.svg", "fft.pdf"]
    assert paths[2].read_bytes()[:5] == b"%PDF-" and paths[2].stat().st_size > 5000


def test_rates_frame_round_trip():
    rates = pd.DataFrame({"k": [1, 2, 3], "n_runs": 5, "rate": [0.2, 0.0, 1.0]})
    ax = survival_rate_bars(rates).axes[0]
    assert [p.get_height() for p in ax.patches] == [0.2, 0.0, 1.0]
