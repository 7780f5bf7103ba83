"""The task table and splits against the authors' conventions."""

import numpy as np

from circle_survival.training.task import pair_table, split_indices


def test_pair_convention():
    a, b, y = pair_table(7)
    for i in range(49):
        assert (a[i], b[i], y[i]) == (i % 7, i // 7, (i % 7 + i // 7) % 7)


def test_reference_split_uses_numpy_legacy_global_stream():
    for p, seed in ((59, 0), (13, 5)):
        n_train = int(0.8 * p * p)
        np.random.seed(seed)
        expected = np.random.choice(p * p, n_train, replace=False)
        train, test = split_indices(p, n_train, seed, "reference")
        np.testing.assert_array_equal(train, expected)
        assert len(set(train) | set(test)) == p * p and not set(train) & set(test)
        assert list(test) == sorted(test)


def test_independent_split_is_a_partition_and_seeded():
    t1, s1 = split_indices(16, 200, 3, "independent")
    t2, _ = split_indices(16, 200, 3, "independent")
    t3, _ = split_indices(16, 200, 4, "independent")
    assert np.array_equal(t1, t2) and not np.array_equal(t1, t3)
    assert sorted(np.concatenate([t1, s1])) == list(range(256))
