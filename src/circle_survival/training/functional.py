"""The generic trainer: M seeded copies of any small ``nn.Module`` advanced together through
``torch.func`` (``stack_module_state``, ``functional_call``, ``vmap``, ``grad``).

Every parameter is stacked with a leading model axis M; one step computes each model's own
gradient of its own mean cross-entropy over its own training pairs (``vmap`` of ``grad``),
then updates every model with its own optimiser state: :class:`.ensemble.AdamW` (the paper's,
matching ``torch.optim.AdamW``, decay on every parameter) or :class:`.sgd.SGD` (matching
``torch.optim.SGD`` with momentum). Each model thus trains as it would alone (checked against
a plain one-model loop, tests/test_functional.py).

The module maps int tensors (a, b) of shape (n,) to logits (n, p) (:mod:`.modules`); the
task's labels come from :func:`circle_survival.variants.labels`. Records, checkpoints and the
step loop are the fused trainer's (:class:`.trainer.Trainer`, whose ``run`` this class
inherits), so the store, records and analyses are the same. Shapes:

    params[i]   (M, *shape of the module's parameter i), in ``named_parameters`` order
    embedding() (M, p, d): the token rows 0 .. p-1 of :func:`.modules.embedding_name`
    signals     S_k of ``relabel(embedding, fourier_rows(task, p))``, (M, p//2 + 1)

:func:`make_trainer` picks the fused trainer where it applies (the paper's MLP, (a + b) mod p,
AdamW) and this one elsewhere.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

from .. import fourier
from ..config import RunConfig, resolve_device
from ..variants import fourier_rows, labels, relabel
from . import ensemble
from .chunk_threads import ChunkThreads
from .modules import build, embedding_name
from .record_plan import RecordPlan
from .sgd import SGD
from .trainer import TORCH_DTYPES, MemorySink, Trainer, check_batch

#: activations kept per chunk on the CPU (elements of the compute dtype, 1 GiB of float64):
#: every vmapped call costs the same dispatch however many models it maps, so the chunks are
#: large (at the paper's MLP shape 3.4x faster per model-step with 4 models a chunk than 1)
CPU_CHUNK_ELEMENTS = 2**27
#: the same on a GPU (8 GiB of float64: a chunk's activations and what autograd keeps of them)
GPU_CHUNK_ELEMENTS = 2**30


def fused_applies(cfg: RunConfig) -> bool:
    """Whether the fused trainer trains ``cfg``: the paper's MLP on (a + b) mod p with AdamW."""
    return cfg.model == "mlp" and cfg.task == "add" and cfg.optimizer == "adamw"


class FuncTrainer(Trainer):
    """Holds M models of one module shape and advances them one optimiser step at a time.

    Args:
        configs: M run configs sharing a batch key.
        chunk_size: models per vmapped chunk (default: enough to keep a chunk's activations
            near :data:`CPU_CHUNK_ELEMENTS`, or :data:`GPU_CHUNK_ELEMENTS` on a GPU).
    """

    def __init__(self, configs: Sequence[RunConfig], chunk_size: int | None = None):
        check_batch(configs)
        self.configs = list(configs)
        cfg = self.cfg = configs[0]
        self.device = resolve_device(cfg.device)
        self.dtype = TORCH_DTYPES[cfg.dtype]
        self.plan = RecordPlan.of(cfg)
        self.m = m = len(configs)
        built = [build(c) for c in configs]
        self.initial = [state for _, state in built]
        modules = [module.to(device=self.device, dtype=self.dtype) for module, _ in built]
        stacked, _ = stack_module_state(modules)
        self.names = list(stacked)
        self.params = [stacked[n].detach().contiguous() for n in self.names]
        self._base = copy.deepcopy(modules[0]).to("meta")
        self._emb = self.names.index(embedding_name(cfg))
        self._rows = fourier_rows(cfg.task, cfg.p)
        dev = self.device
        train = torch.as_tensor(np.stack([s.train_idx for s in self.initial]), device=dev)
        test = torch.as_tensor(np.stack([s.test_idx for s in self.initial]), device=dev)
        table = torch.as_tensor(labels(cfg.task, cfg.p, cfg.task_table), device=dev)
        self.train_idx = train
        self._train = (train % cfg.p, train // cfg.p, table[train])
        self._test = (test % cfg.p, test // cfg.p, table[test])
        trainable = [i for i in range(len(self.names))
                     if not (cfg.freeze_embedding and i == self._emb)
                     and not (cfg.freeze_mlp and i != self._emb)]
        self.trainable = trainable
        lr = torch.tensor([c.lr for c in configs], dtype=self.dtype, device=dev)
        wd = torch.tensor([c.weight_decay for c in configs], dtype=self.dtype, device=dev)
        ps = [self.params[i] for i in trainable]
        self.opt = (SGD(ps, lr, wd, cfg.momentum) if cfg.optimizer == "sgd"
                    else ensemble.AdamW(ps, lr, wd, cfg.betas, cfg.eps))
        per_model = cfg.n_train * (8 * cfg.d + 4 * max(cfg.d_mlp if cfg.model == "transformer"
                                                        else max(cfg.hidden), cfg.p))
        budget = CPU_CHUNK_ELEMENTS if dev == "cpu" else GPU_CHUNK_ELEMENTS
        chunk = chunk_size or int(max(1, min(m, budget // per_model)))
        self.chunk = -(-m // -(-m // chunk))  # as many chunks, of sizes as equal as can be
        self.chunks = [(lo, min(lo + self.chunk, m)) for lo in range(0, m, self.chunk)]
        self.step_count = 0
        self.threads = ChunkThreads(1)
        self._grad = vmap(grad(self._loss, has_aux=True))
        self._eval = vmap(self._loss_acc)

    # -- the per-model functions vmap maps ----------------------------------------------------
    def _logits(self, params: dict[str, torch.Tensor], a: torch.Tensor,
                b: torch.Tensor) -> torch.Tensor:
        return functional_call(self._base, params, (a, b))

    def _loss_acc(self, params: dict[str, torch.Tensor], a: torch.Tensor, b: torch.Tensor,
                  y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One model's mean cross-entropy and accuracy on pairs (a, b) labelled y, each (n,)."""
        logits = self._logits(params, a, b)
        return F.cross_entropy(logits, y), (logits.argmax(-1) == y).to(logits.dtype).mean()

    def _loss(self, trained: dict[str, torch.Tensor], fixed: dict[str, torch.Tensor],
              a: torch.Tensor, b: torch.Tensor, y: torch.Tensor):
        loss, acc = self._loss_acc({**trained, **fixed}, a, b, y)
        return loss, (loss.detach(), acc)

    def _chunk_params(self, lo: int, hi: int) -> tuple[dict, dict]:
        """Models lo..hi-1: (trainable, fixed) parameters by name, each (hi - lo, ...)."""
        train = set(self.trainable)
        chunk = [(n, t[lo:hi]) for n, t in zip(self.names, self.params, strict=True)]
        return ({n: t for i, (n, t) in enumerate(chunk) if i in train},
                {n: t for i, (n, t) in enumerate(chunk) if i not in train})

    # -- one step -----------------------------------------------------------------------------
    def step(self, signals_out: torch.Tensor | None = None,
             train_metrics_out: torch.Tensor | None = None) -> None:
        """One optimiser step for every model (records as :meth:`Trainer.step`)."""
        self.opt.advance()
        a, b, y = self._train
        for lo, hi in self.chunks:
            if signals_out is not None:
                signals_out[lo:hi] = self._signals(lo, hi)
            trained, fixed = self._chunk_params(lo, hi)
            if not trained:
                loss, acc = self._eval(fixed, a[lo:hi], b[lo:hi], y[lo:hi])
                grads = {}
            else:
                grads, (loss, acc) = self._grad(trained, fixed, a[lo:hi], b[lo:hi], y[lo:hi])
            if train_metrics_out is not None:
                train_metrics_out[lo:hi, 0] = loss
                train_metrics_out[lo:hi, 1] = acc
            self.opt.update([grads[self.names[i]].contiguous() for i in self.trainable], lo, hi)
        self.step_count += 1

    def embedding(self) -> torch.Tensor:
        """The token embeddings, (M, p, d) (a view of the live parameters)."""
        return self.params[self._emb][:, : self.cfg.p]

    def _signals(self, lo: int, hi: int) -> torch.Tensor:
        return fourier.signal_torch(relabel(self.embedding()[lo:hi], self._rows))

    def signals(self) -> torch.Tensor:
        """Current S_k in the task's Fourier coordinates: (M, p//2 + 1)."""
        return self._signals(0, self.m)

    @torch.no_grad()
    def metrics(self, include_train: bool = True) -> torch.Tensor:
        """Current (train loss, train acc, test loss, test acc): (M, 4); train NaN if skipped."""
        out = torch.full((self.m, 4), float("nan"), dtype=self.dtype, device=self.device)
        for lo, hi in self.chunks:
            params = {n: t[lo:hi] for n, t in zip(self.names, self.params, strict=True)}
            for col, (a, b, y) in ((0, self._train), (2, self._test)):
                if col == 0 and not include_train:
                    continue
                loss, acc = self._eval(params, a[lo:hi], b[lo:hi], y[lo:hi])
                out[lo:hi, col], out[lo:hi, col + 1] = loss, acc
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter in the module's layout with a leading model axis, as numpy."""
        pairs = zip(self.names, self.params, strict=True)
        return {n: t.detach().cpu().numpy().copy() for n, t in pairs}

    def _snapshot_params(self) -> list[torch.Tensor]:
        # the writer transposes ".weight" parameters from the fused layout: hand those over
        # transposed, so that they arrive in the module's own layout
        return [t.transpose(1, 2) if n.endswith(".weight") else t
                for n, t in zip(self.names, self.params, strict=True)]


def make_trainer(configs: Sequence[RunConfig], chunk_size: int | None = None,
                 generic: bool | None = None) -> Trainer:
    """The fused :class:`Trainer` where :func:`fused_applies` (unless ``generic``), else a
    :class:`FuncTrainer`."""
    if generic is None:
        generic = not fused_applies(configs[0])
    return FuncTrainer(configs, chunk_size) if generic else Trainer(configs, chunk_size)


def train(configs: Sequence[RunConfig] | RunConfig, chunk_size: int | None = None,
          progress: Callable[[int], None] | None = None,
          generic: bool | None = None) -> tuple[MemorySink, object]:
    """Train a batch in memory (no store): the records and the per-run summaries
    (:class:`.record_plan.BatchResult`), by :func:`make_trainer`'s choice of trainer."""
    if isinstance(configs, RunConfig):
        configs = [configs]
    trainer = make_trainer(configs, chunk_size, generic)
    sink = MemorySink(configs)
    return sink, trainer.run(sink, progress=progress)
