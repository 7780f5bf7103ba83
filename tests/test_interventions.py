"""Tests for interventions.py: each kind does what it says and records it; bad requests fail
with a ConfigError naming the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from circle_survival import fourier
from circle_survival.config import RunConfig
from circle_survival.errors import ConfigError
from circle_survival.interventions import apply_intervention, validate_intervention
from circle_survival.training.initial_state import draw_embedding, initial_state


def run(p: int = 23, d: int = 16, seed: int = 3, **iv):
    cfg = RunConfig(p=p, d=d, steps=1, embedding_seed=seed, intervention=iv)
    e0 = draw_embedding(cfg)
    e1, resolved = apply_intervention(e0, cfg.intervention, cfg.embedding_seed)
    assert isinstance(e1, torch.Tensor) and e1.dtype == torch.float64 and e1.shape == (p, d)
    assert json.loads(json.dumps(resolved)) == resolved  # plain JSON types
    return e0.numpy(), e1.numpy(), resolved


def sig(e: np.ndarray) -> np.ndarray:
    return fourier.signal(e, half=True)


def test_no_intervention_is_identity():
    cfg = RunConfig(p=13, d=4, steps=1)
    e0 = draw_embedding(cfg)
    e1, resolved = apply_intervention(e0, cfg.intervention, cfg.embedding_seed)
    assert e1 is e0 and resolved == {}


@pytest.mark.parametrize("p,k,alpha", [(23, 5, 1.15), (24, 11, 0.85), (13, 1, 3.0)])
def test_scale(p, k, alpha):
    e0, e1, resolved = run(p=p, kind="scale", k=k, alpha=alpha)
    want = sig(e0)
    want[k] *= alpha
    np.testing.assert_allclose(sig(e1), want, rtol=1e-10)
    assert resolved["k"] == k and resolved["alpha"] == alpha
    assert resolved["signal_after"] == pytest.approx(sig(e1)[k], rel=1e-10)


@pytest.mark.parametrize("keep_constant", [False, True])
def test_restrict_keep(keep_constant):
    e0, e1, resolved = run(kind="restrict", keep=[2, 7, 11], keep_constant=keep_constant)
    s0, s1 = sig(e0), sig(e1)
    kept = {2, 7, 11} | ({0} if keep_constant else set())
    for k in range(len(s1)):
        if k in kept:
            assert s1[k] == pytest.approx(s0[k], rel=1e-10)
        else:
            assert s1[k] < 1e-10
    assert resolved["keep"] == [2, 7, 11] and resolved["keep_constant"] is keep_constant


@pytest.mark.parametrize("p,n", [(23, 1), (23, 2), (16, 3)])
def test_restrict_strongest(p, n):
    e0, e1, resolved = run(p=p, kind="restrict", strongest=n)
    s0 = sig(e0)
    circ = np.arange(1, (p - 1) // 2 + 1)
    top = set(circ[np.argsort(-s0[circ])[:n]].tolist())
    assert set(resolved["keep"]) == top
    assert min(s0[k] for k in top) > max(s0[k] for k in set(circ.tolist()) - top)
    assert set(np.flatnonzero(sig(e1) > 1e-10).tolist()) == top
    assert resolved["strongest"] == n


def test_restrict_random_is_recorded_and_seeded():
    _, e1, r1 = run(kind="restrict", random=2, seed=5)
    _, _, r2 = run(kind="restrict", random=2, seed=5)
    _, _, r3 = run(seed=9, kind="restrict", random=2)  # default seed: the embedding seed
    assert r1["keep"] == r2["keep"] and len(set(r1["keep"])) == 2 and r1["seed"] == 5
    assert r3["seed"] == 9
    assert set(np.flatnonzero(sig(e1) > 1e-10).tolist()) == set(r1["keep"])
    assert all(1 <= k <= 11 for k in r1["keep"])
    # the draw is numpy's choice over k = 1 .. 11 with that seed
    expected = np.random.default_rng(5).choice(11, size=2, replace=False) + 1
    assert r1["keep"] == expected.tolist()


@pytest.mark.parametrize("seed", range(8))
def test_restrict_random_outside_the_strongest(seed):
    e0, e1, resolved = run(seed=seed, kind="restrict", random=2, exclude_strongest=3)
    s0 = sig(e0)[1:]
    strongest = sorted(np.argsort(-s0)[:3] + 1)
    assert sorted(resolved["excluded"]) == [int(k) for k in strongest]
    assert not set(resolved["keep"]) & set(resolved["excluded"]) and len(resolved["keep"]) == 2
    assert set(np.flatnonzero(sig(e1) > 1e-10).tolist()) == set(resolved["keep"])


def test_construct_circles():
    e0, e1, resolved = run(p=31, d=8, kind="construct", circles={3: 60.0, 10: 45.0})
    s = sig(e1)
    assert s[3] == pytest.approx(60.0, rel=1e-9) and s[10] == pytest.approx(45.0, rel=1e-9)
    others = np.delete(s, [3, 10])
    np.testing.assert_allclose(others, 1e-6, rtol=1e-6)
    assert sorted(fourier.circles(s, 31)) == [3, 10]
    assert resolved["circles"] == {"3": 60.0, "10": 45.0}
    assert resolved["floor"] == 1e-6 and resolved["direction_seed"] == 3
    assert not np.allclose(e0, e1)


def test_construct_ratio_pair():
    r = float(np.exp(-0.5))
    _, e1, resolved = run(kind="construct", ratio=r, pair=[4, 9], floor=1e-5, direction_seed=7)
    s = sig(e1)
    assert s[4] == pytest.approx(80.0, rel=1e-9) and s[9] == pytest.approx(80 * r, rel=1e-9)
    assert fourier.circles(s, 23) == [4, 9]
    assert resolved["pair"] == [4, 9] and resolved["signal"] == 80.0
    assert resolved["direction_seed"] == 7 and resolved["circles"]["9"] == pytest.approx(80 * r)


def test_construct_ratio_drawn_pair():
    _, e1, resolved = run(kind="construct", ratio=0.5, signal=50.0, pair_seed=11)
    k1, k2 = resolved["pair"]
    assert k1 != k2 and 1 <= k1 <= 11 and 1 <= k2 <= 11 and resolved["pair_seed"] == 11
    s = sig(e1)
    assert s[k1] == pytest.approx(50.0, rel=1e-9) and s[k2] == pytest.approx(25.0, rel=1e-9)
    assert run(kind="construct", ratio=0.5, pair_seed=11)[2]["pair"] == [k1, k2]
    # the direction depends on the seed only
    _, e2, _ = run(seed=4, kind="construct", ratio=0.5, signal=50.0, pair_seed=11)
    assert not np.allclose(e1, e2)


def test_initial_state_applies_intervention():
    iv = {"kind": "construct", "circles": {2: 80.0}}
    state = initial_state(RunConfig(p=13, d=8, steps=1, intervention=iv))
    assert fourier.circles(sig(state.embedding.numpy()), 13) == [2]
    assert state.intervention["circles"] == {"2": 80.0}
    plain = initial_state(RunConfig(p=13, d=8, steps=1))
    assert state.embedding.shape == plain.embedding.shape
    assert not torch.allclose(state.embedding, plain.embedding)


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"kind": "rotate"}, "unknown kind"),
        ({"k": 3}, "unknown kind"),
        ({"kind": "scale", "k": 3, "alpha": 1.0, "beta": 2}, "unknown key 'beta'"),
        ({"kind": "scale", "k": 12, "alpha": 1.0}, "outside 1 .. 11"),
        ({"kind": "scale", "k": 0, "alpha": 1.0}, "outside 1 .. 11"),
        ({"kind": "scale", "k": 3, "alpha": 0.0}, "'alpha' must be > 0"),
        ({"kind": "scale", "k": 3, "alpha": -1.0}, "'alpha' must be > 0"),
        ({"kind": "scale", "k": 3, "alpha": "big"}, "'alpha' must be a finite number"),
        ({"kind": "scale", "k": 3.0, "alpha": 1.0}, "'k' must be an integer"),
        ({"kind": "scale", "k": True, "alpha": 1.0}, "'k' must be an integer"),
        ({"kind": "scale", "alpha": 1.0}, "needs 'k'"),
        ({"kind": "restrict"}, "exactly one of"),
        ({"kind": "restrict", "keep": [1], "strongest": 1}, "exactly one of"),
        ({"kind": "restrict", "keep": [1, 12]}, "outside 1 .. 11"),
        ({"kind": "restrict", "keep": [1, 1]}, "twice"),
        ({"kind": "restrict", "keep": 3}, "must be a list"),
        ({"kind": "restrict", "strongest": 12}, "only 11"),
        ({"kind": "restrict", "random": 12, "seed": 1}, "only 11"),
        ({"kind": "restrict", "strongest": 0}, "positive integer"),
        ({"kind": "restrict", "strongest": 2, "seed": 1}, "'seed' only applies"),
        ({"kind": "restrict", "random": 2, "seed": -1}, "non-negative integer"),
        ({"kind": "restrict", "strongest": 1, "exclude_strongest": 1}, "only applies to"),
        ({"kind": "restrict", "random": 1, "exclude_strongest": -1}, "integer >= 0"),
        ({"kind": "restrict", "random": 2, "exclude_strongest": 10}, "outside the 10 strongest"),
        ({"kind": "restrict", "keep": [1], "keep_constant": 1}, "true or false"),
        ({"kind": "construct"}, "exactly one of"),
        ({"kind": "construct", "circles": {}}, "non-empty"),
        ({"kind": "construct", "circles": {"12": 1.0}}, "outside 1 .. 11"),
        ({"kind": "construct", "circles": {3: -1.0}}, "must be a finite number > 0"),
        ({"kind": "construct", "circles": {3: 1.0}, "ratio": 0.5}, "exactly one of"),
        ({"kind": "construct", "circles": {3: 1.0}, "pair": [1, 2]}, "only applies with"),
        ({"kind": "construct", "ratio": 0.0, "pair": [1, 2]}, "'ratio' must be > 0"),
        ({"kind": "construct", "ratio": 0.5}, "'pair', 'pair_seed'"),
        ({"kind": "construct", "ratio": 0.5, "pair": [2, 2]}, "two different"),
        ({"kind": "construct", "ratio": 0.5, "pair": [2]}, "list of two"),
        ({"kind": "construct", "ratio": 0.5, "pair": [2, 30]}, "outside 1 .. 11"),
        ({"kind": "construct", "ratio": 0.5, "pair_seed": 1.5}, "non-negative integer"),
        ({"kind": "construct", "ratio": 0.5, "pair_seed": 1, "floor": -1}, "'floor' must be"),
        ({"kind": "construct", "ratio": 0.5, "pair_seed": 1, "signal": 0}, "'signal' must be"),
        ({"kind": "construct", "circles": {3: 1.0}, "direction_seed": "x"}, "direction_seed"),
    ],
)
def test_bad_requests(spec, match):
    with pytest.raises(ConfigError, match=match) as info:
        validate_intervention(spec, 23)
    assert "\n" not in str(info.value)
    if spec.get("kind") == "construct":  # the config route raises the same
        with pytest.raises(ConfigError, match=match):
            initial_state(RunConfig(p=23, d=4, steps=1, intervention=spec))


def test_too_few_circles_for_a_pair():
    with pytest.raises(ConfigError, match="needs two circles"):
        validate_intervention({"kind": "construct", "ratio": 0.5, "pair_seed": 0}, 4)


@pytest.mark.parametrize("p, spec", [
    (5, {}),
    (59, {"kind": "scale", "k": 25, "alpha": 0.85}),
    (59, {"kind": "restrict", "keep": [], "keep_constant": True}),
    (59, {"kind": "construct", "circles": {"1": 2, "29": 3.5}}),
])
def test_valid_requests_are_accepted_and_applied(p, spec):
    """The edge values pass validation, a config takes them, and they do what they say."""
    assert validate_intervention(spec, p) is None
    cfg = RunConfig(p=p, d=6, steps=1, intervention=spec)
    e0 = draw_embedding(cfg)
    e1, resolved = apply_intervention(e0, cfg.intervention, cfg.embedding_seed)
    s0, s1 = sig(e0.numpy()), sig(e1.numpy())
    assert resolved.get("kind") == spec.get("kind")
    if not spec:
        assert e1 is e0
    elif spec["kind"] == "scale":  # the last circle of p = 59, scaled
        assert s1[25] == pytest.approx(0.85 * s0[25])
        np.testing.assert_allclose(np.delete(s1, 25), np.delete(s0, 25), rtol=1e-12)
    elif spec["kind"] == "restrict":  # nothing but the constant term is left
        assert s1[0] == pytest.approx(s0[0]) and np.all(s1[1:] < 1e-9)
    else:
        assert s1[1] == pytest.approx(2.0) and s1[29] == pytest.approx(3.5)
