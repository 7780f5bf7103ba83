"""The record writer: a training loop's records reach their sink on one background thread.

The loop hands over device tensors and goes on; the writer copies each to host memory
(pinned and asynchronous on a GPU, with a CUDA event to wait for) and writes it into the
sink in the order handed over. Blocks of step records go through two host buffers per array,
so that one block is written while the next one trains:

    writer = RecordWriter(sink, device)
    host = writer.double_buffer(device_buf)          # device_buf: (block, M, ...)
    writer.write_block("signals", host, device_buf, n, row)   # sink["signals"][:, row:row+n]
    writer.write_array("embeddings", (slice(None), 3), emb)   # sink[name][index] = emb
    writer.close()                                   # every write done; errors raised here
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch


class RecordWriter:
    """Writes a training loop's records into a sink on one background thread, in order.

    The loop hands over device tensors; each is copied to host memory (into pinned memory,
    asynchronously, on a GPU) and the thread waits for that copy (a CUDA event) before
    writing, so the loop itself never waits for the device. Blocks of step records go
    through two host buffers per array (:meth:`double_buffer`): a buffer is refilled only
    once its previous write is done. :meth:`close` waits for every write and re-raises the
    first error of the thread; an error also stops every later write.
    """

    def __init__(self, sink: MutableMapping[str, Any], device: str):
        self.sink = sink
        self.cuda = str(device).startswith("cuda")
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="record-writer")
        self._pending: list[Future] = []
        self._busy: dict[int, Future] = {}  # host buffer id -> its last write
        self._last: dict[int, int] = {}  # first buffer's id -> the pair's buffer written last
        self._error: BaseException | None = None

    def _host_like(self, t: torch.Tensor) -> torch.Tensor:
        return torch.empty(t.shape, dtype=t.dtype, pin_memory=self.cuda)

    def _to_host(self, t: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """A host copy of t and an event to wait for (None off the GPU)."""
        if not self.cuda:
            return t.detach().clone(), None
        host = self._host_like(t).copy_(t, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return host, event

    def _submit(self, fn: Callable[[], None]) -> Future:
        """Run fn on the thread after everything handed over before; raise an earlier error."""
        if self._error is not None:
            raise self._error
        self._pending = [f for f in self._pending if not f.done()]

        def guarded():
            if self._error is not None:
                return
            try:
                fn()
            except BaseException as exc:
                self._error = exc
                raise
        future = self._pool.submit(guarded)
        self._pending.append(future)
        return future

    @staticmethod
    def _wait(event) -> None:
        if event is not None:
            event.synchronize()

    def double_buffer(self, device_buf: torch.Tensor) -> list[torch.Tensor]:
        """Two host buffers shaped like ``device_buf`` (block, M, ...)."""
        return [self._host_like(device_buf) for _ in range(2)]

    def write_block(self, name: str, host: list[torch.Tensor], device_buf: torch.Tensor,
                    n: int, row: int) -> None:
        """sink[name][:, row:row + n] = device_buf[:n] with the model axis first."""
        k = self._next_buffer(host)
        previous = self._busy.get(id(host[k]))
        if previous is not None:
            previous.result()  # the buffer's last write is done before it is refilled
        host[k][:n].copy_(device_buf[:n], non_blocking=self.cuda)
        event = None
        if self.cuda:
            event = torch.cuda.Event()
            event.record()
        buf = host[k]

        def write():
            self._wait(event)
            self.sink[name][:, row:row + n] = buf[:n].transpose(0, 1).numpy()
        self._busy[id(buf)] = self._submit(write)

    def _next_buffer(self, host: list[torch.Tensor]) -> int:
        """The buffer of the pair not written last (the first one at the start)."""
        last = self._last.get(id(host[0]))
        k = 0 if last is None else 1 - last
        self._last[id(host[0])] = k
        return k

    def write_array(self, name: str, index: tuple, t: torch.Tensor) -> None:
        """sink[name][index] = t (a copy of its value now)."""
        host, event = self._to_host(t)

        def write():
            self._wait(event)
            self.sink[name][index] = host.numpy()
        self._submit(write)

    def write_snapshot(self, step: int, names: list[str], params: list[torch.Tensor]) -> None:
        """sink.write_snapshot(step, every parameter in nn.Module layout, numpy)."""
        copies = [self._to_host(t) for t in params]

        def write():
            tensors = {}
            for name, (host, event) in zip(names, copies, strict=True):
                self._wait(event)
                a = host.transpose(1, 2) if name.endswith(".weight") else host
                tensors[name] = np.ascontiguousarray(a.numpy())
            self.sink.write_snapshot(step, tensors)
        self._submit(write)

    def checkpoint(self, save: Callable[[dict[str, np.ndarray]], None],
                   state: dict[str, torch.Tensor]) -> None:
        """save(state as numpy) after every write handed over before it."""
        event = None
        if self.cuda:
            event = torch.cuda.Event()
            event.record()

        def write():
            self._wait(event)
            save({k: v.numpy() for k, v in state.items()})
        self._submit(write)

    def close(self) -> None:
        """Wait for every write; raise the first error of the writer thread."""
        try:
            for f in self._pending:
                f.result()
        finally:
            self._pool.shutdown(wait=True)
            self._pending = []
        if self._error is not None:
            raise self._error
