"""Figures from a store and a run id: each draws the store's own data."""

import numpy as np
import pytest
from matplotlib.figure import Figure

import circle_survival as cs
from circle_survival.errors import ConfigError, StoreError
from circle_survival.figures.runs import DEAD_COLOR


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    cfg = cs.RunConfig(p=13, d=8, hidden=(16,), steps=40, embedding_steps=(20,),
                       device="cpu")
    path = tmp_path_factory.mktemp("plot") / "s"
    cs.train_to_store([cfg.replace(embedding_seed=s) for s in range(2)], path)
    return cs.load(path)


def test_signal_evolution_draws_the_runs_signals(store):
    rid = store.runs.index[1]
    fig = cs.plot.signal_evolution(store, rid, rule="absolute:0")
    steps, sig = store.signals(rid)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 6  # k = 1 .. 6, every one alive by S_k > 0
    assert all(line.get_color() != DEAD_COLOR for line in lines)
    drawn = {tuple(np.round(line.get_ydata(), 9)) for line in lines}
    assert drawn == {tuple(np.round(sig[:, k], 9)) for k in range(1, 7)}
    np.testing.assert_array_equal(lines[0].get_xdata(), steps + 1.0)


def test_every_figure_from_a_path_or_a_store(store):
    rid = store.runs.index[0]
    for fig in (cs.plot.circles_fft(store.path, rid, ks=[1, 2]), cs.plot.circles_pca(store, rid),
                cs.plot.planes(store, rid, ks=(1, 2)), cs.plot.n_circles(store),
                cs.plot.survival_rate(store, group_by=["embedding_seed"])):
        assert isinstance(fig, Figure) and fig.axes


def test_bad_requests(store):
    with pytest.raises(ConfigError, match="holds 2 runs"):
        cs.plot.signal_evolution(store)
    with pytest.raises(StoreError, match="no run 'nope'"):
        cs.plot.circles_pca(store, "nope")
    with pytest.raises(ConfigError, match="no stored embedding at step"):
        cs.plot.planes(store, store.runs.index[0], steps=[0, 7])
    with pytest.raises(ConfigError, match="outside 1 .. 6"):
        cs.plot.circles_fft(store, store.runs.index[0], ks=[9])


def test_multiplication_runs_are_drawn_in_log_coordinates(tmp_path):
    from circle_survival import fourier
    from circle_survival.variants import fourier_rows, relabel

    cfg = cs.RunConfig(p=13, d=8, hidden=(16,), steps=20, device="cpu", task="multiply")
    cs.train_to_store([cfg], tmp_path / "mul")
    st = cs.load(tmp_path / "mul")
    rid = st.runs.index[0]
    fig = cs.plot.signal_evolution(st, rid, rule="absolute:0")
    assert len(fig.axes[0].get_lines()) == 5  # k = 1 .. 5 of the 12 log rows (6: Nyquist)
    final = relabel(st.embeddings(rid)[20], fourier_rows("multiply", 13))
    fig = cs.plot.circles_fft(st, rid, rule="absolute:0")
    assert len([ax for ax in fig.axes if ax.get_title().startswith("k = ")]) == 5
    ax = next(a for a in fig.axes if a.get_title().startswith("k = 1,"))
    xy = fourier.fft_plane(final, 1)
    np.testing.assert_allclose(np.sort(ax.collections[0].get_offsets()[:, 0]),
                               np.sort(xy[:, 0]), rtol=1e-9)
    with pytest.raises(ConfigError, match="outside 1 .. 5 for p=12"):
        cs.plot.circles_fft(st, rid, ks=[6])
