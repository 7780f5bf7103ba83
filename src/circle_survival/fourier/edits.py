"""Edits in Fourier space: restrict an embedding to some frequencies, scale one, and build an
embedding with given signals.

Conventions (FFT, shapes, even p): see :mod:`circle_survival.fourier`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .spectrum import n_freq

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
