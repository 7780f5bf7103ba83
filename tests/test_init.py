"""Initial states: the reference-compatible streams and the three independent seeds."""

import numpy as np
import torch
from oracle import authors_init

from circle_survival.config import RunConfig
from circle_survival.training.initial_state import draw_embedding, draw_mlp, initial_state


def test_reference_streams_match_the_authors_procedure():
    for seed in (0, 7):
        cfg = RunConfig(embedding_seed=seed, mlp_seed=seed, split_seed=seed)
        st = initial_state(cfg)
        layers, emb, train = authors_init(seed, seed, seed, 59, 128, (100, 100))
        np.testing.assert_array_equal(st.embedding.numpy(), emb.numpy())
        for lin, w, b in zip(layers, st.weights, st.biases, strict=True):
            np.testing.assert_array_equal(w.numpy(), lin.weight.detach().numpy())
            np.testing.assert_array_equal(b.numpy(), lin.bias.detach().numpy())
        np.testing.assert_array_equal(st.train_idx, train)
        assert len(st.train_idx) == 2784 and len(st.test_idx) == 697
        assert sorted(np.concatenate([st.train_idx, st.test_idx])) == list(range(59 * 59))


def test_one_seed_means_the_authors_single_seed_run():
    """torch.manual_seed(s); three Linears; torch.normal: one stream, in that order."""
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(3)
        lins = [torch.nn.Linear(256, 100), torch.nn.Linear(100, 100), torch.nn.Linear(100, 59)]
        emb = torch.normal(0, 1, size=(59, 128))
    finally:
        torch.set_default_dtype(torch.float32)
    st = initial_state(RunConfig(embedding_seed=3, mlp_seed=3, split_seed=3))
    np.testing.assert_array_equal(st.embedding.numpy(), emb.numpy())
    np.testing.assert_array_equal(st.weights[2].numpy(), lins[2].weight.detach().numpy())


def test_fixed_mlp_design_fresh_embedding():
    cfg = RunConfig(init_scheme="reference_fresh_embedding", embedding_seed=11, mlp_seed=2)
    torch.manual_seed(11)
    expected = torch.normal(0, 1, size=(59, 128), dtype=torch.float64)
    np.testing.assert_array_equal(draw_embedding(cfg).numpy(), expected.numpy())


def test_three_seeds_are_independent_sources():
    base = RunConfig(p=13, d=8, hidden=(6,))
    for scheme in ("reference", "independent"):
        a = initial_state(base.replace(init_scheme=scheme))
        b = initial_state(base.replace(init_scheme=scheme, mlp_seed=1))
        c = initial_state(base.replace(init_scheme=scheme, split_seed=1))
        e = initial_state(base.replace(init_scheme=scheme, embedding_seed=1))
        assert torch.equal(a.embedding, b.embedding) and torch.equal(a.embedding, c.embedding)
        assert not torch.equal(a.embedding, e.embedding)
        assert not torch.equal(a.weights[0], b.weights[0])
        assert torch.equal(a.weights[0], c.weights[0]) and torch.equal(a.weights[0],
                                                                        e.weights[0])
        assert not np.array_equal(a.train_idx, c.train_idx)
        assert np.array_equal(a.train_idx, b.train_idx)


def test_draws_leave_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    draw_mlp(RunConfig(p=11, d=4, hidden=(5,)))
    draw_embedding(RunConfig(p=11, d=4, hidden=(5,)))
    assert torch.equal(torch.rand(3), expected)


def test_independent_scheme_distributions():
    cfg = RunConfig(init_scheme="independent", embedding_seed=4, mlp_seed=4)
    e = draw_embedding(cfg)
    assert abs(float(e.mean())) < 0.05 and abs(float(e.std()) - 1) < 0.05
    ws, bs = draw_mlp(cfg)
    assert float(ws[0].abs().max()) <= 1 / np.sqrt(256)
    assert ws[1].shape == (100, 100) and bs[2].shape == (59,)
