"""Chunk threads: every item runs, errors come after all of them, the thread count returns."""

import threading

import pytest
import torch

from circle_survival.training.chunk_threads import ChunkThreads


def test_chunk_threads_raise_the_first_error_after_every_chunk():
    before = torch.get_num_threads()
    done = []

    def fn(i):
        if i == 1:
            raise RuntimeError("chunk 1 failed")
        done.append(i)

    threads = ChunkThreads(2)
    with threads:
        assert torch.get_num_threads() == 1  # one intra-op thread while entered
        with pytest.raises(RuntimeError, match="chunk 1 failed"):
            threads.map(fn, 4)
    assert sorted(done) == [0, 2, 3] and torch.get_num_threads() == before
    order = []
    threads.map(order.append, 3)  # not entered: in order, on the calling thread
    assert order == [0, 1, 2]


def test_items_run_on_the_threads_only_while_entered():
    """Entered, two items run at once on two threads (each waits for the other); not
    entered, or with in_order, they run one after another on the calling thread."""
    barrier = threading.Barrier(2, timeout=10)
    names = []

    def meet(i):
        names.append(threading.current_thread().name)
        barrier.wait()  # deadlocks (then times out) unless both items run at once

    threads = ChunkThreads(2)
    with threads:
        threads.map(meet, 2)
        assert all(n.startswith("circle-survival-chunk") for n in names)
        names.clear()
        threads.map(names.append, 1)  # one item: on the calling thread
        threads.map(lambda i: names.append(threading.current_thread().name), 2,
                    in_order=True)
    assert names == [0, threading.current_thread().name, threading.current_thread().name]


def test_one_thread_never_starts_a_pool():
    threads = ChunkThreads(1)
    before = torch.get_num_threads()
    with threads:
        assert torch.get_num_threads() == before
        order = []
        threads.map(order.append, 3)
    assert order == [0, 1, 2]
