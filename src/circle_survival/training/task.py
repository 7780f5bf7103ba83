"""The modular-addition task: the table of all p*p pairs and its train/test splits.

Pair index i (0 <= i < p*p) stands for a = i mod p, b = i div p, label (a + b) mod p; this is the
authors' convention, so that split indices are interchangeable with theirs.
"""

from __future__ import annotations

import numpy as np


def pair_table(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs: a, b and labels, each an int64 array of shape (p*p,), indexed by pair index."""
    i = np.arange(p * p, dtype=np.int64)
    a = i % p
    b = i // p
    return a, b, (a + b) % p


def split_indices(p: int, n_train: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Train and test pair indices (int64, shapes (n_train,) and (p*p - n_train,)).

    ``scheme`` "reference" (and "reference_fresh_embedding") reproduces the authors' code:
    NumPy's legacy generator seeded with ``seed``, then
    ``choice(p*p, n_train, replace=False)`` gives the training indices in drawn order; the
    remaining indices, ascending, are the test set. "independent" takes the first ``n_train``
    of ``numpy.random.default_rng(seed).permutation(p*p)``.
    """
    n = p * p
    if scheme == "independent":
        perm = np.random.default_rng(seed).permutation(n)
        train = perm[:n_train]
    else:
        train = np.random.RandomState(seed).choice(n, n_train, replace=False)
    mask = np.ones(n, dtype=bool)
    mask[train] = False
    return train.astype(np.int64), np.flatnonzero(mask).astype(np.int64)
