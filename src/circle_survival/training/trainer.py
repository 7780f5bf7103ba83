"""The step loop: train a batch of runs together and record what the analyses need.

A batch is a list of :class:`RunConfig` with equal ``batch_key()`` (same shapes, dtype, device,
steps and recording plan); seeds, lr, weight decay and interventions may differ per run.

What is recorded (step s = the state after s optimiser updates; step 0 is the initial state):
    signals   (M, T_s, p//2 + 1)   S_k at ``signal_steps`` (every step by default)
    metrics   (M, T_m, 4)          train loss, train acc, test loss, test acc at ``metric_steps``
    embedding_init / embedding_final (M, p, d)
    embeddings (M, T_e, p, d)      at ``embedding_steps`` (only when asked for)
    snapshots                      every parameter at ``snapshot_steps`` (only when asked for)
    train_idx (M, n_train)         each run's training pair indices
Records are buffered on the device and copied to the host in blocks: the loop never waits for
the device between blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import numpy as np
import torch

from .. import fourier
from ..config import RunConfig, resolve_device
from ..errors import ConfigError
from ..variants import fourier_size
from . import ensemble
from .chunk_threads import ChunkThreads
from .cpu_memory import keep_freed_memory
from .flat_params import host_rows, module_layout, param_names, rows_into, stack_params
from .initial_state import InitialState, initial_state
from .record_plan import METRIC_NAMES, BatchResult, RecordPlan, array_shapes
from .record_writer import RecordWriter

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class MemorySink(dict):
    """Keeps a batch's records in numpy arrays (for notebooks and tests)."""

    def __init__(self, configs: Sequence[RunConfig]):
        super().__init__(
            {k: np.zeros(shape, dtype=dt) for k, (shape, dt) in array_shapes(configs).items()}
        )
        self.snapshots: dict[int, dict[str, np.ndarray]] = {}

    def write_snapshot(self, step: int, tensors: dict[str, np.ndarray]) -> None:
        self.snapshots[step] = tensors


def check_batch(configs: Sequence[RunConfig]) -> None:
    if not configs:
        raise ConfigError("a batch needs at least one run")
    key = configs[0].batch_key()
    for c in configs[1:]:
        if c.batch_key() != key:
            raise ConfigError("runs in one batch must share every field but seeds, lr, "
                              "weight_decay and intervention")


def default_chunk_size(cfg: RunConfig, m: int, device: str) -> int:
    """Models per chunk: on the CPU, keep one chunk's activations within a few MB of cache."""
    if device != "cpu":
        return m
    itemsize = 8 if cfg.dtype == "float64" else 4
    per_model = cfg.n_train * (2 * sum(cfg.hidden) + 2 * cfg.p) * itemsize
    return int(max(1, min(m, (12 * 2**20) // max(per_model, 1))))


class Trainer:
    """Holds the state of M models and advances them one optimiser step at a time.

    Args:
        configs: M run configs sharing a batch key.
        chunk_size: models per forward/backward/update chunk (default: from cache size).
        onehot_sums: sum the pairs' gradients into the embedding-side tables with a one-hot
            batched matmul (deterministic everywhere) rather than ``index_add_``
            (deterministic on the CPU only). Default: on every device but the CPU.
        compile_step: run the forward and backward pass through ``torch.compile`` (an
            option: equal to the eager step to rounding, see the tests; the first steps
            pay for the compilation, tens of seconds).
        chunk_threads: on the CPU, run the chunks of a step on this many threads of one
            intra-op thread each (:class:`ChunkThreads`; the results equal a serial step's
            to rounding; on this project's CPU, bit for bit at the paper's shapes). Default:
            ``torch.get_num_threads()`` when the batch has two or more chunks, else 1 (one
            chunk's ops then run on the intra-op threads).

    The parameters live in one flat storage (:mod:`.flat_params`: each parameter an (M, ...)
    block at an aligned offset), so that every chunk of models of every parameter is
    contiguous: the backward pass writes the gradients straight into the gradient storage and
    a chunk's AdamW update runs right after its backward pass, while its gradients are still
    in cache.
    """

    def __init__(self, configs: Sequence[RunConfig], chunk_size: int | None = None,
                 onehot_sums: bool | None = None, compile_step: bool = False,
                 chunk_threads: int | None = None):
        check_batch(configs)
        self.configs = list(configs)
        cfg = self.cfg = configs[0]
        self.device = resolve_device(cfg.device)
        if self.device == "cpu":
            keep_freed_memory()  # no page faults for the per-step tensors (cpu_memory.py)
        self.dtype = TORCH_DTYPES[cfg.dtype]
        self.plan = RecordPlan.of(cfg)
        self.m = len(configs)
        self.names = param_names(cfg)
        states = [initial_state(c) for c in configs]
        self.initial: list[InitialState] = states
        self.storage, self.offsets, self.params = stack_params(states, self.dtype, self.device)
        dev, m = self.device, self.m
        train = torch.as_tensor(np.stack([s.train_idx for s in states]), device=dev)
        test = torch.as_tensor(np.stack([s.test_idx for s in states]), device=dev)
        self.train_pairs = ensemble.Pairs.from_indices(train, cfg.p)
        if onehot_sums if onehot_sums is not None else self.device != "cpu":
            self.train_pairs = self.train_pairs.with_onehot(cfg.p, self.dtype)
        self.test_pairs = ensemble.Pairs.from_indices(test, cfg.p)
        self.train_idx = train
        lr = torch.tensor([c.lr for c in configs], dtype=self.dtype, device=dev)
        wd = torch.tensor([c.weight_decay for c in configs], dtype=self.dtype, device=dev)
        first = 1 if cfg.freeze_embedding else 0
        last = 1 if cfg.freeze_mlp else len(self.params)
        self.trainable = list(range(first, last))  # parameter indices AdamW updates
        self.grad_storage = torch.zeros_like(self.storage)
        self.grads = [self.grad_storage[o:o + t.numel()].view(t.shape)
                      for o, t in zip(self.offsets, self.params, strict=True)]
        self.opt = ensemble.AdamW([self.params[i] for i in self.trainable], lr, wd,
                                  cfg.betas, cfg.eps)
        self.chunk = chunk_size or default_chunk_size(cfg, m, dev)
        self.chunks = [(lo, min(lo + self.chunk, m)) for lo in range(0, m, self.chunk)]
        self._chunk_pairs = [self.train_pairs.chunk(lo, hi, cfg.p) for lo, hi in self.chunks]
        self._chunk_test_pairs = [self.test_pairs.chunk(lo, hi, cfg.p) for lo, hi in self.chunks]
        self.step_count = 0
        self._loss_and_grads = (torch.compile(ensemble.loss_and_grads, dynamic=False)
                                if compile_step else ensemble.loss_and_grads)
        # compiled variants (metrics or not) not yet run: their first step runs serially,
        # so that no two threads compile at once
        self._to_compile = {False, True} if compile_step else set()
        if chunk_threads is None:
            chunk_threads = torch.get_num_threads() if len(self.chunks) > 1 else 1
        if chunk_threads < 1:
            raise ConfigError(f"chunk_threads must be at least 1, got {chunk_threads}")
        if self.device != "cpu":
            chunk_threads = 1
        #: the chunk threads: entered by :meth:`run`; ``with trainer.threads:`` around direct
        #: :meth:`step` calls runs them on the threads too
        self.threads = ChunkThreads(chunk_threads)

    @property
    def flat(self) -> torch.Tensor:
        """Every parameter of each model in one row, (M, P): embedding, W_0, b_0, ... (a copy)."""
        return torch.cat([t.reshape(self.m, -1) for t in self.params], dim=1)

    # -- one step ---------------------------------------------------------------------------
    def step(self, signals_out: torch.Tensor | None = None,
             train_metrics_out: torch.Tensor | None = None) -> None:
        """One AdamW step for every model.

        Before updating, writes the current signals into ``signals_out`` (M, K) and the current
        train loss and accuracy into ``train_metrics_out`` (M, 2) when given. Nothing in the
        step waits for the device.
        """
        cfg = self.cfg
        want_e = not cfg.freeze_embedding
        want_mlp = not cfg.freeze_mlp
        want_metrics = train_metrics_out is not None
        self.opt.advance()

        def chunk_step(i: int) -> None:
            lo, hi = self.chunks[i]
            chunk_params = [t[lo:hi] for t in self.params]
            if signals_out is not None:
                signals_out[lo:hi] = fourier.signal_torch(chunk_params[0])
            chunk_grads = [g[lo:hi] for g in self.grads]
            loss, acc, _ = self._loss_and_grads(
                chunk_params, self._chunk_pairs[i], cfg.activation, need_embedding_grad=want_e,
                need_mlp_grad=want_mlp, need_accuracy=want_metrics, need_loss=want_metrics,
                grads_out=chunk_grads,
            )
            if want_metrics:
                train_metrics_out[lo:hi, 0] = loss
                train_metrics_out[lo:hi, 1] = acc
            self.opt.update([chunk_grads[j] for j in self.trainable], lo, hi)

        compiling = want_metrics in self._to_compile
        self._to_compile.discard(want_metrics)
        self.threads.map(chunk_step, len(self.chunks), in_order=compiling)
        self.step_count += 1

    def embedding(self) -> torch.Tensor:
        """The token embeddings, (M, p, d) (a view of the live parameters)."""
        return self.params[0]

    def _snapshot_params(self) -> list[torch.Tensor]:
        """The parameters as :meth:`RecordWriter.write_snapshot` takes them (weights (in, out),
        written transposed), one per name of :attr:`names`."""
        return self.params

    def signals(self) -> torch.Tensor:
        """Current S_k, k = 0 .. p//2: (M, p//2 + 1)."""
        return fourier.signal_torch(self.params[0])

    def metrics(self, include_train: bool = True) -> torch.Tensor:
        """Current (train loss, train acc, test loss, test acc): (M, 4); train is NaN if skipped."""
        out = torch.full((self.m, 4), float("nan"), dtype=self.dtype, device=self.device)
        act = self.cfg.activation

        def chunk_metrics(i: int) -> None:
            (lo, hi), train, test = self.chunks[i], self._chunk_pairs[i], self._chunk_test_pairs[i]
            chunk_params = [t[lo:hi] for t in self.params]
            if include_train:
                out[lo:hi, 0], out[lo:hi, 1] = ensemble.evaluate(chunk_params, train, act)
            out[lo:hi, 2], out[lo:hi, 3] = ensemble.evaluate(chunk_params, test, act)

        self.threads.map(chunk_metrics, len(self.chunks))
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter in ``nn.Module`` layout with a leading model axis, as numpy."""
        return module_layout(self.names, self.params)

    # -- checkpoints ----------------------------------------------------------------------------
    def save_state(self) -> dict[str, np.ndarray]:
        """The full training state (parameters, AdamW moments, step), for a checkpoint.

        flat: (M, P), every parameter of a model in one row (:attr:`flat`); exp_avg and
        exp_avg_sq: (M, P') over the trainable parameters only, in the same order.
        """
        return {k: v.numpy().copy() for k, v in self._state_tensors().items()}

    def _state_tensors(self, pinned: bool = False) -> dict[str, torch.Tensor]:
        """:meth:`save_state` as host tensors; with ``pinned`` on a GPU the copies are
        asynchronous (into fresh pinned memory): wait for the device before reading them."""
        m, dtype = self.m, self.dtype
        return {
            "flat": host_rows(self.params, m, dtype, pinned),
            "exp_avg": host_rows(self.opt.exp_avg, m, dtype, pinned),
            "exp_avg_sq": host_rows(self.opt.exp_avg_sq, m, dtype, pinned),
            "step": torch.tensor([self.step_count], dtype=torch.int64),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`save_state`'s output (bit-identical to never stopping)."""
        if state["flat"].shape != (self.m, sum(t[0].numel() for t in self.params)):
            raise ValueError("checkpoint does not match this batch")
        rows_into(self.params, state["flat"])
        rows_into(self.opt.exp_avg, state["exp_avg"])
        rows_into(self.opt.exp_avg_sq, state["exp_avg_sq"])
        self.step_count = self.opt.t = int(state["step"][0])
        self.opt.step_t.fill_(self.step_count)

    # -- the loop -----------------------------------------------------------------------------
    def run(self, sink: MutableMapping[str, Any], progress: Callable[[int], None] | None = None,
            block: int = 1024, checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
            checkpoint_seconds: float = 300.0) -> BatchResult:
        """Train up to ``cfg.steps`` steps, writing every record into ``sink``.

        ``sink`` maps array names (see :func:`array_shapes`) to array-likes supporting slice
        assignment (numpy arrays or Zarr arrays) and has ``write_snapshot(step, tensors)``.
        ``progress(n)`` is called with the number of steps done since the last call.
        ``checkpoint(state)`` is called about every ``checkpoint_seconds`` once every record so
        far is in the sink; a trainer given that state with :meth:`load_state` continues the
        run (from ``self.step_count``) into the same sink, bit for bit.

        Records reach the sink through one writer thread (:class:`RecordWriter`), in order:
        a block of records is copied from the device into one of two host buffers (pinned
        and asynchronous on a GPU) and written while the next block trains; ``checkpoint``
        runs on that thread too, after every earlier write. Only the writer thread touches
        ``sink`` and calls ``checkpoint`` while the loop runs; errors there are raised here.
        """
        t0 = last_ckpt = time.perf_counter()
        cfg, plan, m = self.cfg, self.plan, self.m
        start = self.step_count
        sig_set, met_set = set(plan.signal_steps), set(plan.metric_steps)
        emb_index = {s: i for i, s in enumerate(plan.embedding_steps)}
        snap_set = set(plan.snapshot_steps)
        sig_buf = torch.empty(block, m, cfg.n_freq, dtype=self.dtype, device=self.device)
        met_buf = torch.empty(block, m, 4, dtype=self.dtype, device=self.device)
        # rows already in the sink, rows pending in the device buffers
        sig_rows = sum(1 for x in plan.signal_steps if x < start)
        met_rows = sum(1 for x in plan.metric_steps if x < start)
        sig_n = met_n = 0

        if start == 0:
            sink["signal_steps"][:] = np.asarray(plan.signal_steps, dtype=np.int64)
            sink["metric_steps"][:] = np.asarray(plan.metric_steps, dtype=np.int64)
            sink["train_idx"][:] = self.train_idx.cpu().numpy().astype(np.int32)
            sink["embedding_init"][:] = self.embedding().cpu().numpy()
            if emb_index:
                sink["embedding_steps"][:] = np.asarray(plan.embedding_steps, dtype=np.int64)

        writer = RecordWriter(sink, self.device)
        sig_host = writer.double_buffer(sig_buf)
        met_host = writer.double_buffer(met_buf)

        def flush():
            nonlocal sig_rows, met_rows, sig_n, met_n
            if sig_n:
                writer.write_block("signals", sig_host, sig_buf, sig_n, sig_rows)
                sig_rows, sig_n = sig_rows + sig_n, 0
            if met_n:
                writer.write_block("metrics", met_host, met_buf, met_n, met_rows)
                met_rows, met_n = met_rows + met_n, 0

        try:
            self.threads.__enter__()  # the chunk threads live through the loop
            done_since = 0
            for s in range(start, cfg.steps + 1):
                if s in emb_index:
                    writer.write_array("embeddings", (slice(None), emb_index[s]),
                                       self.embedding())
                if s in snap_set:
                    writer.write_snapshot(s, self.names, self._snapshot_params())
                want_sig, want_met = s in sig_set, s in met_set
                if s == cfg.steps:
                    if want_sig:
                        sig_buf[sig_n] = self.signals()
                        sig_n += 1
                    if want_met:
                        met_buf[met_n] = self.metrics()
                        met_n += 1
                    break
                if want_met:
                    met_buf[met_n, :, 2:] = self.metrics(include_train=False)[:, 2:]
                self.step(sig_buf[sig_n] if want_sig else None,
                          met_buf[met_n, :, :2] if want_met else None)
                sig_n += want_sig
                met_n += want_met
                if sig_n == block or met_n == block:
                    flush()
                done_since += 1
                if progress is not None and (done_since >= 50 or s + 1 == cfg.steps):
                    progress(done_since)
                    done_since = 0
                if checkpoint is not None and s + 1 < cfg.steps and (
                        time.perf_counter() - last_ckpt >= checkpoint_seconds):
                    flush()
                    writer.checkpoint(checkpoint, self._state_tensors(pinned=True))
                    last_ckpt = time.perf_counter()
            flush()
            if progress is not None and done_since:
                progress(done_since)
            writer.write_array("embedding_final", (slice(None),), self.embedding())
        finally:
            self.threads.__exit__(None, None, None)
            writer.close()
        seconds = time.perf_counter() - t0
        return BatchResult(self._summaries(sink), seconds, self.device,
                           [s.intervention for s in self.initial])

    def _summaries(self, sink) -> list[dict[str, Any]]:
        final_metrics = np.asarray(sink["metrics"][:, -1])
        final_sig = np.asarray(sink["signals"][:, -1])
        rows = []
        for i in range(self.m):
            sig = final_sig[i]
            circ = fourier.circles(sig, fourier_size(self.cfg.task, self.cfg.p))
            row = {name: float(final_metrics[i, j]) for j, name in enumerate(METRIC_NAMES)}
            row["n_circles"] = len(circ)
            row["circles"] = [int(c) for c in circ]
            row["circle_signals"] = [float(sig[c]) for c in circ]
            rows.append(row)
        return rows


def train(configs: Sequence[RunConfig] | RunConfig, chunk_size: int | None = None,
          progress: Callable[[int], None] | None = None) -> tuple[MemorySink, BatchResult]:
    """Train a batch in memory (no store): returns the records and the per-run summaries."""
    if isinstance(configs, RunConfig):
        configs = [configs]
    trainer = Trainer(configs, chunk_size=chunk_size)
    sink = MemorySink(configs)
    result = trainer.run(sink, progress=progress)
    return sink, result
