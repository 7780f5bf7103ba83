"""Chunk threads: the chunks of a CPU step on one thread per core, one intra-op thread each.

    threads = ChunkThreads(torch.get_num_threads())
    with threads:                         # the threads live while entered
        threads.map(chunk_step, n_chunks)  # chunk_step(0), ..., chunk_step(n_chunks - 1)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import torch


class ChunkThreads:
    """Runs the chunks of a CPU step on ``n`` threads, each with one intra-op thread.

    A step's chunks are independent until the next step (each updates its own models), so
    they can run at once.
    Small ops (gathers, scatters, elementwise passes under ATen's grain size) and the small
    matmuls do not split well over the intra-op threads; whole chunks on threads of their
    own do (the GIL is released inside every op). Each chunk is computed by one thread
    whichever thread that is: the results do not depend on the scheduling.

    The threads live while the object is entered (``with threads:``, as
    :meth:`Trainer.run` does): the process then runs one intra-op thread
    (``torch.set_num_threads(1)``, restored on exit) so that the threads and MKL do not each
    start a team of their own. Outside it (or with ``n == 1``) :meth:`map` runs the items in
    order on the calling thread, their ops on the intra-op threads. (Threads that ran
    OpenMP code and stay alive slow every multi-threaded op of the process, 1.5x
    measured, so they are not kept beyond the ``with`` block.)
    """

    def __init__(self, n: int):
        self.n = n
        self._pool: ThreadPoolExecutor | None = None
        self._saved_threads = 0

    def __enter__(self) -> ChunkThreads:
        if self.n > 1 and self._pool is None:
            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
            self._pool = ThreadPoolExecutor(self.n, thread_name_prefix="circle-survival-chunk")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            torch.set_num_threads(self._saved_threads)

    def map(self, fn: Callable[[int], None], n_items: int, in_order: bool = False) -> None:
        """fn(0), ..., fn(n_items - 1): on the threads while entered (unless ``in_order``),
        else in order on the calling thread."""
        if self._pool is None or n_items < 2 or in_order:
            for i in range(n_items):
                fn(i)
            return
        futures = [self._pool.submit(fn, i) for i in range(n_items)]
        wait(futures)
        for future in futures:
            future.result()
