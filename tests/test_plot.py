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
