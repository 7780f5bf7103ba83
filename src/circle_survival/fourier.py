"""Fourier analysis of embeddings: spectrum, signals, circles, Δ, circularity, projections,
and edits in Fourier space (restrict, scale, construct).

FFT convention: the spectrum is the unnormalised DFT along the token axis,
F[k, j] = sum_t E[t, j] exp(-2 pi i k t / p), exactly ``numpy.fft.fft(E, axis=-2)``; its
inverse carries the 1/p (``numpy.fft.ifft``). The signal of frequency k is S_k = ||F[k, :]||_2;
for real E, S_k = S_{p-k}, so an N(0, 1) embedding has S_k ≈ sqrt(p d).

Every function takes arrays with any number of leading axes (runs, steps, ...): an embedding
has shape (..., p, d) and a signal vector shape (..., K) where K = p (all frequencies) or
p//2 + 1 (k = 0 .. p//2, the half spectrum that training records). Embeddings are real.

Frequencies and even p. The circles are the frequencies k = 1 .. (p-1)//2: each pairs with
p - k and places the tokens on an ellipse. k = 0 (the constant term) is not a circle. For even
p the Nyquist frequency k = p/2 pairs with itself and is real: the tokens alternate between two
points, so it is not a circle either. Per-frequency outputs over the half spectrum have shape
(..., p//2 + 1) and are indexed by k (so they include k = 0 and, for even p, k = p/2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

# -- spectrum and signals ---------------------------------------------------------------------


def spectrum(embedding: np.ndarray) -> np.ndarray:
    """F = fft(E, axis=-2): (..., p, d) real -> (..., p, d) complex (unnormalised DFT)."""
    return np.fft.fft(np.asarray(embedding), axis=-2)


def signal(embedding: np.ndarray, half: bool = False) -> np.ndarray:
    """S_k = ||F[k, :]||: (..., p, d) -> (..., p), or (..., p//2 + 1) for k = 0 .. p//2 with
    ``half`` (F = fft(E, axis=-2), unnormalised)."""
    e = np.asarray(embedding)
    f = np.fft.rfft(e, axis=-2) if half else np.fft.fft(e, axis=-2)
    return np.sqrt((f.real**2 + f.imag**2).sum(-1))


def signal_torch(embedding: torch.Tensor) -> torch.Tensor:
    """Half-spectrum signals on the embedding's device: (..., p, d) -> (..., p//2 + 1)."""
    f = torch.fft.rfft(embedding, dim=-2)
    return torch.sqrt(f.real.square().add_(f.imag.square()).sum(-1))


def full_signal(half_signal: np.ndarray, p: int) -> np.ndarray:
    """Expand k = 0 .. p//2 signals (..., p//2 + 1) to all k = 0 .. p-1, (..., p), using
    S_k = S_{p-k}. A signal that already has p entries is returned as it is."""
    s = np.asarray(half_signal)
    if s.shape[-1] == p:
        return s
    if s.shape[-1] != p // 2 + 1:
        raise ValueError(f"expected {p // 2 + 1} or {p} frequencies, got {s.shape[-1]}")
    k = np.arange(p)
    return s[..., np.minimum(k, p - k)]


def half_signal(sig: np.ndarray, p: int) -> np.ndarray:
    """Signals over k = 0 .. p//2, (..., p//2 + 1), from all p of them or the half spectrum."""
    s = np.asarray(sig)
    if s.shape[-1] == p // 2 + 1:
        return s
    if s.shape[-1] != p:
        raise ValueError(f"expected {p // 2 + 1} or {p} frequencies, got {s.shape[-1]}")
    return s[..., : p // 2 + 1]


def n_freq(p: int) -> int:
    """The number of circle frequencies, (p - 1)//2 (k = 1 .. (p-1)//2)."""
    return (p - 1) // 2


# -- circles and survival ---------------------------------------------------------------------


def circles(sig: np.ndarray, p: int) -> list[list[int]] | list[int]:
    """Circles by the paper's 2x-mean rule.

    threshold = 2 * mean of S_k over all k = 0 .. p-1; n = floor(#{k : S_k > threshold} / 2);
    the circles are min(k, p-k) of the 2n strongest frequencies (ties: lower k first), sorted
    by decreasing signal, duplicates removed. ``sig`` holds all p frequencies (..., p) or the
    half spectrum (..., p//2 + 1). Returns a list of frequencies for one signal vector, or
    nested lists following the leading axes.

    The rule is the paper's, unchanged: in degenerate cases (a constant term or, for even p, the
    Nyquist term p/2 among the strongest) it may return 0 or p/2, or n + 1 entries.
    """
    s = full_signal(sig, p)
    return _nested(s, lambda row: _circles_one(row, p))


def _circles_one(s: np.ndarray, p: int) -> list[int]:
    thr = 2 * s.mean()
    n = int((s > thr).sum()) // 2
    if n == 0:
        return []
    order = np.argsort(-s, kind="stable")[: 2 * n]
    out: list[int] = []
    for k in order:
        c = int(min(k, p - k))
        if c not in out:
            out.append(c)
    return out


def _nested(s: np.ndarray, one: Any) -> Any:
    """Apply ``one`` to every 1-D row of ``s`` and return nested lists of the results."""
    if s.ndim == 1:
        return one(s)
    return [_nested(row, one) for row in s]


def n_circles(sig: np.ndarray, p: int) -> np.ndarray:
    """Number of circles by the 2x-mean rule, floor(#{k : S_k > 2 mean S} / 2): shape (...)."""
    s = full_signal(sig, p)
    thr = 2 * s.mean(-1, keepdims=True)
    return (s > thr).sum(-1) // 2


def circles_above(sig: np.ndarray, p: int, threshold: float) -> list[list[int]] | list[int]:
    """Circles by an absolute threshold: the k in 1 .. (p-1)//2 with S_k > ``threshold``.

    ``sig``: (..., p) or (..., p//2 + 1). k = 0 and, for even p, the Nyquist k = p/2 are never
    circles. Sorted by decreasing signal (ties: lower k first); a list for one signal vector,
    nested lists following the leading axes.
    """
    s = half_signal(sig, p)

    def one(row: np.ndarray) -> list[int]:
        ks = np.arange(1, n_freq(p) + 1)
        ks = ks[row[ks] > threshold]
        return [int(k) for k in ks[np.argsort(-row[ks], kind="stable")]]

    return _nested(s, one)


def survival(sig: np.ndarray, p: int, threshold: float | None = None) -> np.ndarray:
    """Which frequencies are circles (survive), as a boolean array (..., p//2 + 1) indexed by k.

    ``sig``: (..., p) or (..., p//2 + 1). With ``threshold=None`` the paper's 2x-mean rule
    (exactly the frequencies :func:`circles` returns); with a number, the absolute rule
    S_k > threshold for k = 1 .. (p-1)//2 (the paper's initial-gradient analysis uses 10), and
    k = 0 and the Nyquist k = p/2 of an even p are always False.
    """
    if threshold is not None:
        s = half_signal(sig, p)
        out = s > threshold
        out[..., 0] = False
        out[..., n_freq(p) + 1 :] = False
        return out
    s = full_signal(sig, p)
    thr = 2 * s.mean(-1, keepdims=True)
    n = (s > thr).sum(-1, keepdims=True) // 2
    order = np.argsort(-s, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(p), axis=-1)
    top = rank < 2 * n
    out = top[..., : p // 2 + 1].copy()
    out[..., 1 : n_freq(p) + 1] |= top[..., p // 2 + 1 :][..., ::-1]
    return out


# -- Δ and circularity ------------------------------------------------------------------------


def delta(k: int, p: int, *, strict: bool = True) -> int | None:
    """Δ of circle k: Δ ≡ ±k⁻¹ (mod p), the smaller representative, in 1 .. p//2.

    Walking once round circle k, neighbouring points differ in token value by Δ. When k has no
    inverse mod p (gcd(k, p) != 1, e.g. k = 0 or, for even p, any even k) this raises
    ValueError, or returns None with ``strict=False``.
    """
    k, p = int(k), int(p)
    if p < 2:
        raise ValueError(f"p must be >= 2, got {p}")
    if math.gcd(k % p, p) != 1:
        if strict:
            raise ValueError(f"k={k} has no inverse mod p={p} (gcd(k, p) = {math.gcd(k, p)}), "
                             "so it has no Δ")
        return None
    inv = pow(k % p, -1, p)
    return min(inv, p - inv)


def deltas(p: int) -> np.ndarray:
    """Δ for every k = 0 .. p//2 as an int array (p//2 + 1,), 0 where k has no inverse mod p."""
    return np.array([delta(k, p, strict=False) or 0 for k in range(p // 2 + 1)], dtype=np.int64)


def circularity(embedding: np.ndarray, k: int | None = None) -> np.ndarray:
    """Circularity of each frequency: (..., p, d) -> (..., p//2 + 1) indexed by k, or (...) for
    one frequency ``k``.

    Definition (the paper's): with F = fft(E, axis=-2), project E onto the unit vector along
    Re F[k] to get x in R^p, normalise so that sum x² = 1/p, reorder y_t = x_{tΔ mod p} and take
    c = 2 |sum_t y_t e^{2πit/p}|² (averaged over Δ and -Δ); the same along Im F[k] gives c_im;
    circularity = sqrt((c_re² + c_im²) / 2). It is 1 for a perfect circle and about d/(d+p)
    for an N(0, 1) embedding.

    Computed without reordering: sum_t y_t e^{2πit/p} = X[∓k], where X = fft(x), so
    c = 2 |X[k]|² / (p sum x²) for the unnormalised x, and both Δ's give the same value (x is
    real). NaN where Δ does not exist (k = 0, and k with gcd(k, p) != 1, e.g. the Nyquist k of
    an even p) and where Re F[k] or Im F[k] is zero.
    """
    e = np.asarray(embedding, dtype=float)
    p = e.shape[-2]
    ks = np.arange(p // 2 + 1) if k is None else np.array([int(k) % p])
    f = np.fft.fft(e, axis=-2)[..., ks, :]  # (..., K, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = [_c_along(e, f, part, ks) for part in (f.real, f.imag)]
        out = np.sqrt((c[0] ** 2 + c[1] ** 2) / 2)
    invertible = np.array([math.gcd(int(q), p) == 1 for q in ks])
    out = np.where(invertible, out, np.nan)
    return out if k is None else out[..., 0]


def _c_along(e: np.ndarray, f: np.ndarray, part: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """c = 2 |X[k]|² / (p ||x||²) for x = E u, u = part / ||part||: (..., K)."""
    p = e.shape[-2]
    u = part / np.linalg.norm(part, axis=-1, keepdims=True)  # (..., K, d)
    x = np.einsum("...td,...kd->...kt", e, u)  # (..., K, p)
    xk = np.einsum("...kd,...kd->...k", f, u)  # X[k] = sum_t x_t e^{-2πikt/p} = u · F[k]
    return 2 * np.abs(xk) ** 2 / (p * (x**2).sum(-1))


# -- projections ------------------------------------------------------------------------------


def fft_plane(embedding: np.ndarray, k: int, basis: np.ndarray | None = None) -> np.ndarray:
    """Coordinates of every token on the FFT plane of frequency k: (..., p, d) -> (..., p, 2).

    With F = fft(B, axis=-2) of the ``basis`` embedding B (default: the embedding itself), the
    coordinates are E · Re F[k]/||Re F[k]|| and E · Im F[k]/||Im F[k]|| (the two unit vectors
    are used as they are, not orthogonalised, as in the paper's plots). A perfect circle of
    frequency k is a circle here; token t sits at angle -2πkt/p, so consecutive points round
    the circle differ in token by Δ. The paper draws earlier embeddings on the planes of the
    final one (``basis`` = the final embedding).
    """
    e = np.asarray(embedding, dtype=float)
    b = e if basis is None else np.asarray(basis, dtype=float)
    f = np.fft.fft(b, axis=-2)[..., int(k) % b.shape[-2], :]  # (..., d)
    u = np.stack([f.real, f.imag], axis=-1)  # (..., d, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = u / np.linalg.norm(u, axis=-2, keepdims=True)
    return e @ u


def pca_planes(embedding: np.ndarray, n_planes: int = 1) -> np.ndarray:
    """Coordinates of every token on the top principal-component planes.

    (..., p, d) -> (..., n_planes, p, 2): plane i holds the scores on (pc_{2i+1}, pc_{2i+2}),
    i.e. (pc1, pc2), (pc3, pc4), ... . PCA over the p tokens: E is centred over the token axis
    and the scores are U·S of its SVD. Each component's sign is fixed so that its token score of
    largest magnitude is positive. Needs 2 * n_planes <= min(p, d).
    """
    e = np.asarray(embedding, dtype=float)
    p, d = e.shape[-2:]
    if n_planes < 1 or 2 * n_planes > min(p, d):
        raise ValueError(f"n_planes must be in 1 .. {min(p, d) // 2} for p={p}, d={d}")
    c = e - e.mean(-2, keepdims=True)
    u, s, _ = np.linalg.svd(c, full_matrices=False)
    scores = u[..., : 2 * n_planes] * s[..., None, : 2 * n_planes]  # (..., p, 2n)
    big = np.take_along_axis(scores, np.abs(scores).argmax(-2)[..., None, :], axis=-2)
    scores = scores * np.where(big < 0, -1.0, 1.0)
    scores = scores.reshape(*scores.shape[:-1], n_planes, 2)  # (..., p, n, 2)
    return np.moveaxis(scores, -2, -3)


# -- edits in Fourier space -------------------------------------------------------------------


def keep_mask(keep: Iterable[int] | np.ndarray, p: int) -> np.ndarray:
    """A boolean mask (..., p//2 + 1) over k from a set of frequencies (entries in 1 .. p//2)
    or from a boolean array already of that shape (returned as it is)."""
    if isinstance(keep, np.ndarray) and keep.dtype == bool:
        if keep.shape[-1] != p // 2 + 1:
            raise ValueError(f"a keep mask needs {p // 2 + 1} entries (k = 0 .. p//2)")
        return keep
    ks = [int(k) for k in keep]
    bad = [k for k in ks if not 1 <= k <= p // 2]
    if bad:
        raise ValueError(f"frequency {bad[0]} to keep is outside 1 .. {p // 2} for p={p}")
    mask = np.zeros(p // 2 + 1, dtype=bool)
    mask[ks] = True
    return mask


def restrict(
    embedding: np.ndarray, keep: Iterable[int] | np.ndarray, keep_constant: bool = False
) -> np.ndarray:
    """Restrict an embedding to a set of frequencies: (..., p, d) -> (..., p, d).

    With F = fft(E, axis=-2): zero F[k] and F[p-k] for every k in 1 .. (p-1)//2 not in
    ``keep``; for even p the Nyquist F[p/2] is kept only if p/2 is in ``keep``; F[0] is kept
    iff ``keep_constant``. Then inverse DFT (ifft, with its 1/p) and real part.

    ``keep``: frequencies in 1 .. p//2 (the same set for every leading index), or a boolean
    array (..., p//2 + 1) indexed by k, broadcast against the leading axes (entry 0 ignored).
    """
    e = np.asarray(embedding, dtype=float)
    p = e.shape[-2]
    mask = keep_mask(keep, p).copy()
    mask[..., 0] = keep_constant
    f = np.fft.rfft(e, axis=-2) * mask[..., :, None]
    return np.fft.irfft(f, n=p, axis=-2)


def scale_frequency(embedding: np.ndarray, k: int, alpha: float | np.ndarray) -> np.ndarray:
    """Multiply F[k] and F[p-k] by a real ``alpha`` (F = fft(E, axis=-2)), inverse DFT.

    (..., p, d) -> (..., p, d), or with an array ``alpha`` of shape A: broadcast(A, ...) + (p, d)
    (one edited embedding per alpha). k in 0 .. p-1 (k and p-k are the same edit; k = 0 scales
    the constant term, and the Nyquist k = p/2 of an even p is a single term). S_k becomes
    |alpha| S_k, every other signal is unchanged.
    """
    e = np.asarray(embedding, dtype=float)
    p = e.shape[-2]
    q = int(k) % p
    q = min(q, p - q)
    a = np.asarray(alpha)
    if np.iscomplexobj(a):
        raise TypeError("alpha must be real")
    f = np.fft.rfft(e, axis=-2)
    fk = f[..., q, :] * a.astype(float)[..., None]  # (broadcast, d)
    f = np.broadcast_to(f, fk.shape[:-1] + f.shape[-2:]).copy()
    f[..., q, :] = fk
    return np.fft.irfft(f, n=p, axis=-2)


def random_directions(p: int, d: int, rng: int | np.random.Generator | None = None) -> np.ndarray:
    """A random unit direction in C^d for every k = 0 .. p//2: (p//2 + 1, d) complex.

    Real and imaginary parts are i.i.d. N(0, 1) before normalising (uniform on the sphere); the
    direction for k = 0 and, for even p, k = p/2 is real (those F[k] of a real E are real). All
    p//2 + 1 directions are drawn in one call, so a frequency's direction depends only on the
    seed, p and d, not on which frequencies are used.
    """
    g = np.random.default_rng(rng)
    z = g.standard_normal((p // 2 + 1, d, 2))
    v = z[..., 0] + 1j * z[..., 1]
    v[0] = v[0].real
    if p % 2 == 0:
        v[p // 2] = v[p // 2].real
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def construct(
    p: int,
    d: int,
    circles: Mapping[int, float],
    floor_signal: float = 1e-6,
    rng: int | np.random.Generator | None = None,
    constant_signal: float | None = None,
    real: bool = False,
) -> np.ndarray:
    """An embedding (p, d) built in Fourier space with the requested signals.

    F[k] = S_k v_k for k = 0 .. p//2, with v_k from :func:`random_directions` (``rng``: a seed
    or a Generator), and F[p-k] = conj(F[k]) so that E = ifft(F).real is real and
    fft(E, axis=-2) = F to rounding. S_k = ``circles[k]`` for the requested k (each in
    1 .. (p-1)//2), ``floor_signal`` for every other k = 1 .. p//2 (including the Nyquist
    p/2 of an even p), and ``constant_signal`` for k = 0 (default None: the floor too; 0 for no
    constant term). So S_k of the result equals the request (signals are ||F[k]|| of the
    unnormalised DFT). Two circles with a ratio r: ``{k1: s, k2: r * s}``.

    ``real=True`` is the authors' construction: every F[k] = F[p-k] = S_k u_k with u_k a
    random unit vector of R^d (imaginary part zero), so each "circle" is a cosine line along
    u_k rather than a round circle; the constant term is 0 unless ``constant_signal`` says
    otherwise.
    """
    s = np.full(p // 2 + 1, float(floor_signal))
    s[0] = floor_signal if constant_signal is None else constant_signal
    for k, sk in circles.items():
        if not 1 <= int(k) <= n_freq(p):
            raise ValueError(f"circle frequency {k} is outside 1 .. {n_freq(p)} for p={p}")
        s[int(k)] = float(sk)
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("signals must be finite and >= 0")
    if real:
        if constant_signal is None:
            s[0] = 0.0
        g = np.random.default_rng(rng)
        u = g.standard_normal((p // 2 + 1, d))
        f = s[:, None] * (u / np.linalg.norm(u, axis=-1, keepdims=True))
        return np.fft.irfft(f, n=p, axis=0)
    f = s[:, None] * random_directions(p, d, rng)
    return np.fft.irfft(f, n=p, axis=0)
