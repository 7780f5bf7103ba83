"""The paper's circle rule (2 x the mean of all p FFT entries) as array functions: circles,
their number and survival per frequency. :mod:`.circle_rules` names it and the other rules as
one choice.

Conventions (FFT, shapes, even p): see :mod:`circle_survival.fourier`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spectrum import full_signal, n_freq

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


def survival(sig: np.ndarray, p: int) -> np.ndarray:
    """Which frequencies are circles by the paper's 2x-mean rule (exactly the frequencies
    :func:`circles` returns), as a boolean array (..., p//2 + 1) indexed by k.
    ``sig``: (..., p) or (..., p//2 + 1)."""
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
