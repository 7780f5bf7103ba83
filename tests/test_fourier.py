"""Tests for fourier.py: each function against a slow, direct implementation of its definition
(explicit loops over t and k with cmath), plus the paper's statistical facts."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from circle_survival import fourier as F

FAST = settings(max_examples=30, deadline=None)


# -- slow reference implementations -----------------------------------------------------------


def slow_dft(e: np.ndarray) -> list[list[complex]]:
    p, d = e.shape
    return [[sum(e[t, j] * cmath.exp(-2j * math.pi * k * t / p) for t in range(p))
             for j in range(d)] for k in range(p)]


def slow_idft_real(f: list[list[complex]]) -> np.ndarray:
    p, d = len(f), len(f[0])
    return np.array([[sum(f[k][j] * cmath.exp(2j * math.pi * k * t / p) for k in range(p)).real / p
                      for j in range(d)] for t in range(p)])


def slow_signal(e: np.ndarray) -> list[float]:
    return [math.sqrt(sum(abs(z) ** 2 for z in row)) for row in slow_dft(e)]


def slow_circles(s: list[float], p: int) -> list[int]:
    thr = 2 * sum(s) / p
    n = sum(1 for x in s if x > thr) // 2
    top = sorted(range(p), key=lambda k: (-s[k], k))[: 2 * n]
    out: list[int] = []
    for k in top:
        if min(k, p - k) not in out:
            out.append(min(k, p - k))
    return out


def slow_delta(k: int, p: int) -> int | None:
    for x in range(1, p):
        if (k * x) % p == 1:
            return min(x, p - x)
    return None


def slow_circularity(e: np.ndarray, k: int) -> float:
    p, d = e.shape
    fk = slow_dft(e)[k]
    dl = slow_delta(k, p)
    if dl is None:
        return math.nan
    cs = []
    for part in ([z.real for z in fk], [z.imag for z in fk]):
        norm = math.sqrt(sum(v * v for v in part))
        u = [v / norm for v in part]
        x = [sum(e[t, j] * u[j] for j in range(d)) for t in range(p)]
        scale = math.sqrt(1 / p / sum(v * v for v in x))
        x = [v * scale for v in x]
        c_both = []
        for dd in (dl, p - dl):
            y = [x[(t * dd) % p] for t in range(p)]
            z = sum(y[t] * cmath.exp(2j * math.pi * t / p) for t in range(p))
            c_both.append(2 * abs(z) ** 2)
        cs.append(sum(c_both) / 2)
    return math.sqrt((cs[0] ** 2 + cs[1] ** 2) / 2)


def slow_edit(e: np.ndarray, factor: dict[int, float]) -> np.ndarray:
    """Multiply F[k] by factor.get(k, 1) for every k = 0 .. p-1 (keyed by min(k, p-k))."""
    p = e.shape[0]
    f = slow_dft(e)
    f = [[z * factor.get(min(k, p - k), 1.0) for z in f[k]] for k in range(p)]
    return slow_idft_real(f)


# -- strategies -------------------------------------------------------------------------------

shapes = st.tuples(st.integers(3, 12), st.integers(1, 5), st.integers(0, 2**31 - 1))


def draw(p: int, d: int, seed: int, lead: tuple[int, ...] = ()) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((*lead, p, d))


def perfect_circle(p: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    a, b = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, 2)))[0].T
    t = np.arange(p)[:, None]
    return 3.0 * (a * np.cos(2 * np.pi * k * t / p) + b * np.sin(2 * np.pi * k * t / p))


# -- spectrum and signals ---------------------------------------------------------------------


@FAST
@given(shapes)
def test_spectrum_and_signal_match_slow(shape):
    p, d, seed = shape
    e = draw(p, d, seed)
    np.testing.assert_allclose(F.spectrum(e), np.array(slow_dft(e)), atol=1e-10)
    slow = np.array(slow_signal(e))
    np.testing.assert_allclose(F.signal(e), slow, rtol=1e-10)
    np.testing.assert_allclose(F.signal(e, half=True), slow[: p // 2 + 1], rtol=1e-10)
    np.testing.assert_allclose(F.signal_torch(torch.from_numpy(e)).numpy(), slow[: p // 2 + 1],
                               rtol=1e-10)
    np.testing.assert_allclose(F.full_signal(slow[: p // 2 + 1], p), slow, rtol=1e-12)
    np.testing.assert_allclose(F.half_signal(slow, p), slow[: p // 2 + 1])


def test_leading_axes():
    e = draw(9, 4, 1, lead=(2, 3))
    for fn in (lambda x: F.signal(x, half=True), F.circularity,
               lambda x: F.fft_plane(x, 2), lambda x: F.pca_planes(x, 2),
               lambda x: F.restrict(x, [1, 3], True), lambda x: F.scale_frequency(x, 2, 1.5)):
        batched = fn(e)
        for i in range(2):
            for j in range(3):
                np.testing.assert_allclose(batched[i, j], fn(e[i, j]), atol=1e-12)


def test_random_embedding_signal_is_sqrt_pd():
    p, d = 59, 128
    s = F.signal(draw(p, d, 0, lead=(4,)), half=True)[:, 1:]
    assert abs(s.mean() / math.sqrt(p * d) - 1) < 0.02
    assert 2.5 < s.std() < 5.5  # paper: SD ≈ 3.8 across k


# -- circles and survival ---------------------------------------------------------------------


@FAST
@given(st.integers(3, 14), st.integers(0, 2**31 - 1), st.booleans())
def test_circles_match_slow(p, seed, as_half):
    half = np.random.default_rng(seed).exponential(size=p // 2 + 1) ** 4  # heavy tail
    full = F.full_signal(half, p)
    sig = half if as_half else full
    expected = slow_circles(list(full), p)
    assert F.circles(sig, p) == expected
    assert int(F.n_circles(sig, p)) == sum(1 for x in full if x > 2 * full.mean()) // 2
    mask = F.survival(sig, p)
    assert mask.shape == (p // 2 + 1,)
    assert sorted(np.flatnonzero(mask).tolist()) == sorted(expected)
    thr = float(np.median(half))
    above = [k for k in range(1, (p - 1) // 2 + 1) if half[k] > thr]
    assert sorted(F.circles_above(sig, p, thr)) == above
    assert np.flatnonzero(F.survival(sig, p, threshold=thr)).tolist() == above


def test_circles_nested_leading_axes():
    p = 11
    sig = np.ones((2, 3, p // 2 + 1))
    sig[..., 2] = 50.0
    sig[1, 2, 4] = 40.0
    out = F.circles(sig, p)
    assert out[0] == [[2], [2], [2]] and out[1][2] == [2, 4]
    assert F.circles_above(sig, p, 10.0)[1][2] == [2, 4]
    assert F.survival(sig, p).shape == (2, 3, p // 2 + 1)
    assert F.n_circles(sig, p).tolist() == [[1, 1, 1], [1, 1, 2]]


def test_even_p_absolute_rule_skips_nyquist():
    p = 10
    sig = np.full(p // 2 + 1, 100.0)
    assert F.circles_above(sig, p, 10.0) == [1, 2, 3, 4]
    assert F.survival(sig, p, threshold=10.0).tolist() == [False] + [True] * 4 + [False]


@FAST
@given(st.integers(5, 40), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_construct_one_circle_has_exactly_that_circle(p, d, seed):
    k = int(np.random.default_rng(seed).integers(1, (p - 1) // 2 + 1))
    e = F.construct(p, d, {k: 80.0}, 1e-6, rng=seed)
    assert F.circles(F.signal(e), p) == [k]
    assert F.circles_above(F.signal(e, half=True), p, 10.0) == [k]


@FAST
@given(st.integers(5, 40), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_construct_n_equal_circles(p, d, seed):
    # n equal circles exceed 2x the mean over all p frequencies iff 4n < p
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, (p - 1) // 4 + 1))
    ks = rng.choice(np.arange(1, (p - 1) // 2 + 1), size=n, replace=False).tolist()
    e = F.construct(p, d, dict.fromkeys(ks, 50.0), 0.1, rng=rng)
    assert sorted(F.circles(F.signal(e, half=True), p)) == sorted(ks)


@FAST
@given(shapes)
def test_construct_signals_exact(shape):
    p, d, seed = shape
    n = (p - 1) // 2
    rng = np.random.default_rng(seed)
    req = {int(k): float(rng.uniform(1, 100)) for k in rng.permutation(np.arange(1, n + 1))[:2]}
    for const in (None, 0.0, 2.5):
        e = F.construct(p, d, req, 1e-6, rng=seed, constant_signal=const)
        assert e.shape == (p, d) and e.dtype == np.float64
        want = np.full(p // 2 + 1, 1e-6)
        want[0] = 1e-6 if const is None else const
        for k, s in req.items():
            want[k] = s
        got = np.array(slow_signal(e))[: p // 2 + 1]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # same seed, same direction for a frequency whatever the others are
    k0 = next(iter(req))
    a = F.spectrum(F.construct(p, d, {k0: 1.0}, 0.0, rng=seed))[k0]
    b = F.spectrum(F.construct(p, d, req, 0.0, rng=seed))[k0]
    np.testing.assert_allclose(a * req[k0], b, atol=1e-9)


def test_construct_rejects_bad_frequency():
    with pytest.raises(ValueError, match="outside"):
        F.construct(10, 3, {5: 1.0})
    with pytest.raises(ValueError, match="outside"):
        F.construct(11, 3, {0: 1.0})


# -- Δ and circularity ------------------------------------------------------------------------


def test_delta_brute_force():
    for p in range(3, 64):
        for k in range(-p, 2 * p):
            want = slow_delta(k % p, p)
            assert F.delta(k, p, strict=False) == want
            if want is None:
                with pytest.raises(ValueError, match="no inverse"):
                    F.delta(k, p)
            else:
                assert F.delta(k, p) == want and (k * want) % p in (1, p - 1)
        assert F.deltas(p).tolist() == [slow_delta(k, p) or 0 for k in range(p // 2 + 1)]


@FAST
@given(shapes)
def test_circularity_matches_slow(shape):
    p, d, seed = shape
    e = draw(p, d, seed)
    got = F.circularity(e)
    assert got.shape == (p // 2 + 1,)
    want = np.array([slow_circularity(e, k) if k else math.nan for k in range(p // 2 + 1)])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    for k in range(p // 2 + 1):
        np.testing.assert_allclose(F.circularity(e, k), want[k], rtol=1e-9)


@pytest.mark.parametrize("p,d", [(59, 8), (13, 5), (16, 4)])
def test_circularity_perfect_circle(p, d):
    for k in range(1, (p - 1) // 2 + 1):
        if math.gcd(k, p) == 1:
            assert F.circularity(perfect_circle(p, d, k), k) == pytest.approx(1, abs=1e-12)
            ellipse = F.construct(p, d, {k: 7.0}, 0.0, rng=k)  # any single frequency gives 1
            assert F.circularity(ellipse, k) == pytest.approx(1, abs=1e-12)
        else:
            assert np.isnan(F.circularity(perfect_circle(p, d, k), k))


def test_circularity_random_embedding():
    p, d = 59, 128
    c = F.circularity(draw(p, d, 3, lead=(8,)))
    assert np.isnan(c[:, 0]).all() and not np.isnan(c[:, 1:]).any()
    assert abs(c[:, 1:].mean() - d / (d + p)) < 0.03


# -- projections ------------------------------------------------------------------------------


@FAST
@given(shapes)
def test_fft_plane_matches_slow(shape):
    p, d, seed = shape
    e = draw(p, d, seed)
    k = 1 + seed % ((p - 1) // 2)
    fk = slow_dft(e)[k]
    cols = []
    for part in ([z.real for z in fk], [z.imag for z in fk]):
        norm = math.sqrt(sum(v * v for v in part))
        cols.append([sum(e[t, j] * part[j] / norm for j in range(d)) for t in range(p)])
    np.testing.assert_allclose(F.fft_plane(e, k), np.array(cols).T, atol=1e-10)


def test_fft_plane_of_perfect_circle_is_a_circle():
    p, d, k = 13, 6, 3
    xy = F.fft_plane(perfect_circle(p, d, k), k)
    r = np.hypot(xy[:, 0], xy[:, 1])
    np.testing.assert_allclose(r, r[0], rtol=1e-10)


@FAST
@given(st.integers(4, 12), st.integers(4, 8), st.integers(0, 2**31 - 1))
def test_pca_planes_match_eigendecomposition(p, d, seed):
    e = draw(p, d, seed)
    n = min(p, d) // 2
    got = F.pca_planes(e, n)
    assert got.shape == (n, p, 2)
    c = e - e.mean(0)
    vals, vecs = np.linalg.eigh(c.T @ c)
    order = np.argsort(-vals)[: 2 * n]
    scores = c @ vecs[:, order]
    for i in range(2 * n):
        col = scores[:, i]
        if col[np.argmax(np.abs(col))] < 0:
            col = -col
        np.testing.assert_allclose(got[i // 2, :, i % 2], col, atol=1e-8)


def test_pca_planes_show_circles():
    p, d = 17, 10
    a1, b1, a2, b2 = np.linalg.qr(np.random.default_rng(0).standard_normal((d, 4)))[0].T
    t = np.arange(p)[:, None]
    e = 5 * (a1 * np.cos(4 * np.pi * t / p) + b1 * np.sin(4 * np.pi * t / p))
    e += 2 * (a2 * np.cos(10 * np.pi * t / p) + b2 * np.sin(10 * np.pi * t / p))
    planes = F.pca_planes(e, 2)
    for plane in planes:
        r = np.hypot(plane[:, 0], plane[:, 1])
        assert r.std() < 1e-8 * r.mean()  # each plane is one circle
    np.testing.assert_allclose(np.hypot(*planes[0].T), 5, rtol=1e-10)  # the larger one first
    with pytest.raises(ValueError):
        F.pca_planes(e, 6)


# -- edits ------------------------------------------------------------------------------------


@FAST
@given(shapes, st.booleans())
def test_restrict_matches_slow(shape, keep_constant):
    p, d, seed = shape
    e = draw(p, d, seed)
    rng = np.random.default_rng(seed)
    keep = [k for k in range(1, p // 2 + 1) if rng.random() < 0.5]
    got = F.restrict(e, keep, keep_constant)
    factor = {k: float(k in keep) for k in range(1, p // 2 + 1)}
    factor[0] = float(keep_constant)
    np.testing.assert_allclose(got, slow_edit(e, factor), atol=1e-10)
    sig = F.signal(got, half=True)
    before = F.signal(e, half=True)
    kept = set(keep) | ({0} if keep_constant else set())
    for k in range(p // 2 + 1):
        if k in kept:
            assert sig[k] == pytest.approx(before[k], rel=1e-10)
        else:
            assert sig[k] < 1e-12 * before.max()
    mask = np.zeros(p // 2 + 1, bool)
    mask[keep] = True
    np.testing.assert_allclose(F.restrict(e, mask, keep_constant), got, atol=1e-12)


def test_restrict_rejects_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        F.restrict(draw(9, 2, 0), [5])


@FAST
@given(shapes, st.floats(-3, 3).filter(lambda a: abs(a) > 1e-3))
def test_scale_frequency(shape, alpha):
    p, d, seed = shape
    e = draw(p, d, seed)
    k = seed % p  # any k in 0 .. p-1, including 0 and p - k
    got = F.scale_frequency(e, k, alpha)
    kk = min(k, p - k)
    np.testing.assert_allclose(got, slow_edit(e, {kk: alpha}), atol=1e-10)
    before, after = F.signal(e, half=True), F.signal(got, half=True)
    want = before.copy()
    want[kk] *= abs(alpha)
    np.testing.assert_allclose(after, want, rtol=1e-10)


def test_scale_frequency_vectorised_alpha():
    e = draw(11, 3, 0)
    alphas = np.linspace(0.85, 1.15, 5)
    out = F.scale_frequency(e, 4, alphas)
    assert out.shape == (5, 11, 3)
    for a, o in zip(alphas, out, strict=True):
        np.testing.assert_allclose(o, F.scale_frequency(e, 4, a), atol=1e-12)
