"""Tests of analysis/collaboration.py against a plain one-model forward pass."""

import numpy as np
import pytest
import torch

from circle_survival.analysis.collaboration import (
    collaboration_losses,
    full_loss,
    keep_masks,
    restricted_losses,
    stack_snapshots,
)

P, D, HIDDEN = 11, 8, (16, 16)
STEPS = (0, 100, 200)


def _random_state(rng, model_axis=None):
    """A random state dict in nn.Module layout (optionally with a leading model axis)."""
    lead = () if model_axis is None else (model_axis,)
    widths = [2 * D, *HIDDEN, P]
    state = {"embedding": rng.standard_normal(lead + (P, D))}
    for layer, (i, o) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        state[f"layers.{layer}.weight"] = rng.standard_normal(lead + (o, i)) / np.sqrt(i) * 2
        state[f"layers.{layer}.bias"] = 0.1 * rng.standard_normal(lead + (o,))
    return state


@pytest.fixture
def snapshots():
    rng = np.random.default_rng(0)
    return {s: _random_state(rng) for s in STEPS}


def _reference_loss(state, emb=None):
    """Mean cross-entropy on all p^2 pairs, the plain nn.Linear way."""
    e = torch.as_tensor(state["embedding"] if emb is None else emb)
    i = torch.arange(P * P)
    a, b = i % P, i // P
    x = torch.cat([e[a], e[b]], dim=1)
    n_layers = len(HIDDEN) + 1
    for layer in range(n_layers):
        w = torch.as_tensor(state[f"layers.{layer}.weight"])
        x = torch.nn.functional.linear(x, w, torch.as_tensor(state[f"layers.{layer}.bias"]))
        if layer < n_layers - 1:
            x = torch.nn.functional.silu(x)
    return torch.nn.functional.cross_entropy(x, (a + b) % P).item()


def _restrict(emb, kept, keep_constant=True):
    f = np.fft.fft(emb, axis=0)
    k = np.arange(P)
    mask = np.isin(np.minimum(k, P - k), list(kept))
    mask[0] = keep_constant
    return np.fft.ifft(f * mask[:, None], axis=0).real


def test_full_loss_matches_plain_forward(snapshots):
    table = full_loss(snapshots)
    assert list(table["step"]) == list(STEPS)
    expected = [_reference_loss(snapshots[s]) for s in STEPS]
    np.testing.assert_allclose(table["loss"], expected, rtol=1e-12)


def test_keeping_every_frequency_is_the_model_itself(snapshots):
    everything = range(1, P // 2 + 1)
    grid = restricted_losses(snapshots, [everything, everything])
    own = full_loss(snapshots)
    np.testing.assert_allclose(grid.loss[:, 0], own["loss"], rtol=1e-10)
    np.testing.assert_allclose(grid.loss[:, 1], own["loss"], rtol=1e-10)
    np.testing.assert_allclose(grid.accuracy[:, 0], own["accuracy"])


def test_restrictions_match_direct_restriction(snapshots):
    sets = [[2], [1, 4], [3, 5], []]
    grid = restricted_losses(snapshots, sets, chunk_size=2)  # chunks cut across snapshots
    no_const = restricted_losses(snapshots, sets[:1], keep_constant=False)
    for t, s in enumerate(STEPS):
        emb = snapshots[s]["embedding"]
        for v, kept in enumerate(sets):
            expected = _reference_loss(snapshots[s], _restrict(emb, kept))
            assert grid.loss[t, v] == pytest.approx(expected, rel=1e-10)
        expected = _reference_loss(snapshots[s], _restrict(emb, sets[0], keep_constant=False))
        assert no_const.loss[t, 0] == pytest.approx(expected, rel=1e-10)


def test_keep_masks_fold_frequencies():
    m = keep_masks([[3], [8], []], P, keep_constant=True)
    np.testing.assert_array_equal(np.flatnonzero(m[0]), [0, 3, 8])
    np.testing.assert_array_equal(m[0], m[1])
    np.testing.assert_array_equal(np.flatnonzero(m[2]), [0])


def test_snapshot_forms_agree(snapshots):
    rng = np.random.default_rng(1)
    with_axis = {s: _random_state(rng, model_axis=3) for s in STEPS}
    for s in STEPS:  # model 2 of the batch is the fixture's model
        for name, arr in snapshots[s].items():
            with_axis[s][name][2] = arr
    steps, stacked = stack_snapshots(snapshots)
    assert stacked["embedding"].shape == (3, P, D)
    a = full_loss(snapshots)["loss"]
    b = full_loss(with_axis, run=2)["loss"]
    c = full_loss((steps[::-1], {k: v[::-1] for k, v in stacked.items()}))["loss"]
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, c)


def test_collaboration_table(snapshots):
    half = np.array([1.0, 1, 60, 1, 70, 1])  # k = 4 strongest, then k = 2; both circles
    third = collaboration_losses(snapshots, final_signal=half)  # the authors' c1 and c3
    assert third.strongest == [4, 1]  # k = 1 is third by order among the ties at 1
    res = collaboration_losses(snapshots, final_signal=half, pair_rank=2)
    assert res.strongest == [4, 2]
    assert res.survivors == [4, 2]
    counts = res.losses.groupby("mode").size()
    n_t = len(STEPS)
    assert counts["single"] == 5 * n_t
    assert counts["strongest+k"] == 4 * n_t
    assert counts["pair+k"] == 3 * n_t
    assert list(res.losses["mode"].unique()) == ["single", "strongest+k", "pair+k"]
    assert set(res.losses.loc[res.losses["survived"], "k"]) == {2, 4}
    assert 4 not in set(res.losses.loc[res.losses["mode"] == "strongest+k", "k"])
    row = res.losses.query("mode == 'pair+k' and k == 1 and step == 100").iloc[0]
    emb = snapshots[100]["embedding"]
    assert row["loss"] == pytest.approx(_reference_loss(snapshots[100], _restrict(emb, [4, 2, 1])))


def test_full_loss_of_a_trained_run_matches_its_metrics():
    from circle_survival.config import RunConfig
    from circle_survival.training.trainer import train

    cfgs = [RunConfig(p=P, d=D, hidden=HIDDEN, steps=20, snapshot_every=10, metrics_every=10,
                      device="cpu", mlp_seed=s) for s in range(2)]
    sink, _ = train(cfgs)
    cfg = cfgs[1]
    table = full_loss(sink.snapshots, run=1)
    metrics = sink["metrics"][1]  # rows at steps 0, 10, 20: train loss, acc, test loss, acc
    n_train = cfg.n_train
    expected = (n_train * metrics[:, 0] + (P * P - n_train) * metrics[:, 2]) / (P * P)
    np.testing.assert_allclose(table["loss"], expected, rtol=1e-9)
    res = collaboration_losses(sink.snapshots, run=1)
    assert len(res.losses) == (5 + 4 + 3) * 3
    assert np.isfinite(res.losses["loss"]).all()
