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

import math
import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import numpy as np
import torch

from . import ensemble, fourier
from .config import RunConfig, resolve_device
from .cpu_memory import keep_freed_memory
from .errors import ConfigError
from .init import InitialState, initial_state
from .records import METRIC_NAMES, BatchResult, RecordPlan, array_shapes

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def param_names(cfg: RunConfig) -> list[str]:
    """Names in ``nn.Module`` style: embedding, layers.{l}.weight, layers.{l}.bias."""
    names = ["embedding"]
    for layer in range(len(cfg.hidden) + 1):
        names += [f"layers.{layer}.weight", f"layers.{layer}.bias"]
    return names


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
    """

    def __init__(self, configs: Sequence[RunConfig], chunk_size: int | None = None):
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
        self.params = self._stack_params(states)
        dev, m = self.device, self.m
        train = torch.as_tensor(np.stack([s.train_idx for s in states]), device=dev)
        test = torch.as_tensor(np.stack([s.test_idx for s in states]), device=dev)
        self.train_pairs = ensemble.Pairs.from_indices(train, cfg.p)
        self.test_pairs = ensemble.Pairs.from_indices(test, cfg.p)
        self.train_idx = train
        lr = torch.tensor([c.lr for c in configs], dtype=self.dtype, device=dev)
        wd = torch.tensor([c.weight_decay for c in configs], dtype=self.dtype, device=dev)
        n_emb = cfg.p * cfg.d
        lo, hi = (n_emb if cfg.freeze_embedding else 0), (n_emb if cfg.freeze_mlp else
                                                           self.flat.shape[1])
        self.trainable = (lo, hi)
        self.grad_flat = torch.zeros_like(self.flat)
        self.opt = ensemble.AdamW(self.flat[:, lo:hi], lr, wd, cfg.betas, cfg.eps)
        self.chunk = chunk_size or default_chunk_size(cfg, m, dev)
        self.chunks = [(lo, min(lo + self.chunk, m)) for lo in range(0, m, self.chunk)]
        self._chunk_pairs = [self.train_pairs.chunk(lo, hi, cfg.p) for lo, hi in self.chunks]
        self._chunk_test_pairs = [self.test_pairs.chunk(lo, hi, cfg.p) for lo, hi in self.chunks]
        self.step_count = 0

    def _stack_params(self, states: list[InitialState]) -> list[torch.Tensor]:
        """Lay every parameter into one flat (M, P) tensor; return (M, ...) views into it.

        Order: embedding, then W_0, b_0, W_1, b_1, ... (W in (in, out) layout).
        """
        per_model = [[s.embedding] + [t for w, b in zip(s.weights, s.biases, strict=True)
                                      for t in (w.T, b)] for s in states]
        shapes = [tuple(t.shape) for t in per_model[0]]
        flat = torch.stack([torch.cat([t.reshape(-1) for t in ts]) for ts in per_model])
        self.flat = flat.to(device=self.device, dtype=self.dtype).contiguous()
        self.offsets = []
        views, off = [], 0
        for shape in shapes:
            size = math.prod(shape)
            self.offsets.append((off, off + size))
            views.append(self.flat[:, off:off + size].view(self.m, *shape))
            off += size
        return views

    def _grad_view(self, index: int, lo: int, hi: int) -> torch.Tensor:
        a, b = self.offsets[index]
        return self.grad_flat[lo:hi, a:b].view(hi - lo, *self.params[index].shape[1:])

    # -- one step ---------------------------------------------------------------------------
    def step(self, signals_out: torch.Tensor | None = None,
             train_metrics_out: torch.Tensor | None = None) -> None:
        """One AdamW step for every model.

        Before updating, writes the current signals into ``signals_out`` (M, K) and the current
        train loss and accuracy into ``train_metrics_out`` (M, 2) when given.
        """
        cfg = self.cfg
        want_e = not cfg.freeze_embedding
        want_mlp = not cfg.freeze_mlp
        for (lo, hi), pairs in zip(self.chunks, self._chunk_pairs, strict=True):
            chunk_params = [t[lo:hi] for t in self.params]
            if signals_out is not None:
                signals_out[lo:hi] = fourier.signal_torch(chunk_params[0])
            loss, acc, grads = ensemble.loss_and_grads(
                chunk_params, pairs, cfg.activation, need_embedding_grad=want_e,
                need_mlp_grad=want_mlp, need_accuracy=train_metrics_out is not None,
            )
            if train_metrics_out is not None:
                train_metrics_out[lo:hi, 0] = loss
                train_metrics_out[lo:hi, 1] = acc
            for i, g in enumerate(grads):
                if g is not None:
                    self._grad_view(i, lo, hi).copy_(g)
        lo, hi = self.trainable
        self.opt.step(self.grad_flat[:, lo:hi])
        self.step_count += 1

    def signals(self) -> torch.Tensor:
        """Current S_k, k = 0 .. p//2: (M, p//2 + 1)."""
        return fourier.signal_torch(self.params[0])

    def metrics(self, include_train: bool = True) -> torch.Tensor:
        """Current (train loss, train acc, test loss, test acc): (M, 4); train is NaN if skipped."""
        out = torch.full((self.m, 4), float("nan"), dtype=self.dtype, device=self.device)
        act = self.cfg.activation
        for (lo, hi), train, test in zip(self.chunks, self._chunk_pairs, self._chunk_test_pairs,
                                         strict=True):
            chunk_params = [t[lo:hi] for t in self.params]
            if include_train:
                out[lo:hi, 0], out[lo:hi, 1] = ensemble.evaluate(chunk_params, train, act)
            out[lo:hi, 2], out[lo:hi, 3] = ensemble.evaluate(chunk_params, test, act)
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter in ``nn.Module`` layout with a leading model axis, as numpy."""
        out = {}
        for name, t in zip(self.names, self.params, strict=True):
            a = t.detach()
            if name.endswith(".weight"):
                a = a.transpose(1, 2)
            out[name] = a.cpu().numpy().copy()  # a copy, never a view of live state
        return out

    # -- the loop -----------------------------------------------------------------------------
    def save_state(self) -> dict[str, np.ndarray]:
        """The full training state (parameters, AdamW moments, step), for a checkpoint."""
        return {
            "flat": self.flat.cpu().numpy().copy(),
            "exp_avg": self.opt.exp_avg.cpu().numpy().copy(),
            "exp_avg_sq": self.opt.exp_avg_sq.cpu().numpy().copy(),
            "step": np.asarray([self.step_count], dtype=np.int64),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`save_state`'s output (bit-identical to never stopping)."""
        if state["flat"].shape != tuple(self.flat.shape):
            raise ValueError("checkpoint does not match this batch")
        self.flat.copy_(torch.as_tensor(state["flat"]))
        self.opt.exp_avg.copy_(torch.as_tensor(state["exp_avg"]))
        self.opt.exp_avg_sq.copy_(torch.as_tensor(state["exp_avg_sq"]))
        self.step_count = self.opt.t = int(state["step"][0])

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
            sink["embedding_init"][:] = self.params[0].cpu().numpy()
            if emb_index:
                sink["embedding_steps"][:] = np.asarray(plan.embedding_steps, dtype=np.int64)

        def flush():
            nonlocal sig_rows, met_rows, sig_n, met_n
            if sig_n:
                sink["signals"][:, sig_rows:sig_rows + sig_n] = (
                    sig_buf[:sig_n].transpose(0, 1).cpu().numpy())
                sig_rows, sig_n = sig_rows + sig_n, 0
            if met_n:
                sink["metrics"][:, met_rows:met_rows + met_n] = (
                    met_buf[:met_n].transpose(0, 1).cpu().numpy())
                met_rows, met_n = met_rows + met_n, 0

        done_since = 0
        for s in range(start, cfg.steps + 1):
            if s in emb_index:
                sink["embeddings"][:, emb_index[s]] = self.params[0].cpu().numpy()
            if s in snap_set:
                sink.write_snapshot(s, self.state_dict())
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
                checkpoint(self.save_state())
                last_ckpt = time.perf_counter()
        flush()
        if progress is not None and done_since:
            progress(done_since)
        sink["embedding_final"][:] = self.params[0].cpu().numpy()
        seconds = time.perf_counter() - t0
        return BatchResult(self._summaries(sink), seconds, self.device,
                           [s.intervention for s in self.initial])

    def _summaries(self, sink) -> list[dict[str, Any]]:
        final_metrics = np.asarray(sink["metrics"][:, -1])
        final_sig = np.asarray(sink["signals"][:, -1])
        rows = []
        for i in range(self.m):
            sig = final_sig[i]
            circ = fourier.circles(sig, self.cfg.p)
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
