"""Spectrum and signals of embeddings, Δ, circularity and the planes the figures draw on.

Conventions (FFT, shapes, even p): see :mod:`circle_survival.fourier`.
"""

from __future__ import annotations

import math

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
