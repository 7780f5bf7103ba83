"""The trainer's step as it was before the fused step: the reference for the benchmark and
for the equality tests (the fused step equals it to 1e-12 relative over 100 steps).

A frozen copy of the earlier ``ensemble`` functions (hand-written forward and backward,
``index_add_`` with ``alpha = 1/n``, gradients copied into a flat buffer, AdamW in separate
passes over the whole (M, P) state) and of the earlier ``Trainer.step``; the helpers that did
not change (activations, output padding, chunk size) are imported. Nothing in the library
uses it.

    step = ReferenceStep(configs)     # same initial state as Trainer(configs)
    step.step(); step.state_dict()    # nn.Module layout with a leading model axis
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from circle_survival.config import RunConfig, resolve_device
from circle_survival.training.ensemble import (
    Pairs,
    activation,
    activation_backward,
    pad_output_layer,
    padded_width,
)
from circle_survival.training.initial_state import initial_state
from circle_survival.training.trainer import TORCH_DTYPES, default_chunk_size


def forward(params: list[torch.Tensor], pairs: Pairs, act: str) -> torch.Tensor:
    """Logits (M, n, p) for the given pairs. params = [E, W_0, b_0, ..., W_{L-1}, b_{L-1}]."""
    logits, _, _ = _forward(params, pairs, act, keep=False)
    return logits


def _forward(params, pairs: Pairs, act: str, keep: bool, out_width: int | None = None):
    """Logits, (z, h) of every hidden layer when ``keep``, and the output layer's weights.

    With ``out_width`` > p the output layer is padded (:func:`pad_output_layer`): the logits
    are (M, n, out_width), the extra ones -inf, and the weights returned are the padded ones.
    """
    emb = params[0]
    m, p, d = emb.shape
    w0, b0 = params[1], params[2]
    h = w0.shape[2]
    n = pairs.y.shape[1]
    # First layer on the p-row tables: (E @ W0[:d] + b0)[a] + (E @ W0[d:])[b].
    pa = torch.baddbmm(b0[:, None, :], emb, w0[:, :d]).reshape(m * p, h)
    pb = torch.bmm(emb, w0[:, d:]).reshape(m * p, h)
    z = pa.index_select(0, pairs.a_flat.reshape(-1)).view(m, n, h)
    z.add_(pb.index_select(0, pairs.b_flat.reshape(-1)).view(m, n, h))
    saved = []
    w = w0
    n_layers = (len(params) - 1) // 2
    for layer in range(1, n_layers):
        x = activation(act, z)
        if keep:
            saved.append((z, x))
        w, b = params[2 * layer + 1], params[2 * layer + 2]
        if layer == n_layers - 1 and out_width is not None:
            w, b = pad_output_layer(w, b, out_width)
        z = torch.baddbmm(b[:, None, :], x, w)
    return z, saved, w


def loss_and_grads(
    params: list[torch.Tensor],
    pairs: Pairs,
    act: str,
    *,
    need_embedding_grad: bool = True,
    need_mlp_grad: bool = True,
    need_accuracy: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor | None]]:
    """Per-model mean cross-entropy (M,), accuracy (M,) and gradients (shapes of params).

    Gradients not asked for are None; accuracy is None unless ``need_accuracy``.
    """
    emb = params[0]
    m, p, d = emb.shape
    logits, saved, w_out = _forward(params, pairs, act, keep=True, out_width=padded_width(p))
    n = pairs.y.shape[1]
    y = pairs.y[:, :, None]
    lsm = torch.log_softmax(logits, dim=2)
    loss = lsm.gather(2, y).squeeze(2).mean(1).neg_()
    acc = (lsm.argmax(2) == pairs.y).to(emb.dtype).mean(1) if need_accuracy else None
    del logits

    grads: list[torch.Tensor | None] = [None] * len(params)
    # n * d(mean CE)/d logits = softmax - onehot; the 1/n is applied to the final gradients.
    g = lsm.exp_()
    g.scatter_add_(2, y, torch.full(y.shape, -1.0, dtype=g.dtype, device=g.device))
    inv_n = 1.0 / n
    n_layers = (len(params) - 1) // 2
    for layer in range(n_layers - 1, 0, -1):
        z, x = saved[layer - 1]
        w = w_out if layer == n_layers - 1 else params[2 * layer + 1]
        if need_mlp_grad:
            out = params[2 * layer + 1].shape[2]  # drop the padded columns of the output layer
            grads[2 * layer + 1] = torch.bmm(x.transpose(1, 2), g)[:, :, :out].mul_(inv_n)
            grads[2 * layer + 2] = g.sum(1)[:, :out].mul_(inv_n)
        g = activation_backward(act, torch.bmm(g, w.transpose(1, 2)), z, x)
    # g: (M, n, h0) = n * d loss / d z_0
    h0 = g.shape[2]
    w0 = params[1]
    if need_mlp_grad:
        grads[2] = g.sum(1).mul_(inv_n)
    gflat = g.reshape(m * n, h0)
    gpa = torch.zeros(m * p, h0, dtype=g.dtype, device=g.device)
    gpb = torch.zeros(m * p, h0, dtype=g.dtype, device=g.device)
    gpa.index_add_(0, pairs.a_flat.reshape(-1), gflat, alpha=inv_n)
    gpb.index_add_(0, pairs.b_flat.reshape(-1), gflat, alpha=inv_n)
    gpa = gpa.view(m, p, h0)
    gpb = gpb.view(m, p, h0)
    if need_mlp_grad:
        et = emb.transpose(1, 2)
        grads[1] = torch.cat([torch.bmm(et, gpa), torch.bmm(et, gpb)], dim=1)
    if need_embedding_grad:
        ge = torch.bmm(gpa, w0[:, :d].transpose(1, 2))
        ge.baddbmm_(gpb, w0[:, d:].transpose(1, 2))
        grads[0] = ge
    return loss, acc, grads


class AdamW:
    """Elementwise AdamW over a parameter tensor with a leading model axis.

    param: (M, P) (a view is fine); lr, weight_decay: (M,) per-model values. Matches
    ``torch.optim.AdamW`` step for step: ``param *= 1 - lr * wd``, then the bias-corrected
    Adam update with ``eps`` added to the corrected square root. All models share the step count.
    """

    def __init__(self, param: torch.Tensor, lr: torch.Tensor, weight_decay: torch.Tensor,
                 betas: tuple[float, float], eps: float):
        self.param = param
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.t = 0
        if bool((lr == lr[0]).all()) and bool((weight_decay == weight_decay[0]).all()):
            self.lr: float | torch.Tensor = float(lr[0])
            self.decay: float | torch.Tensor = 1 - float(lr[0]) * float(weight_decay[0])
        else:
            self.lr = lr[:, None]
            self.decay = 1 - self.lr * weight_decay[:, None]

    def step(self, grad: torch.Tensor) -> None:
        """One update with ``grad`` (same shape as param)."""
        self.t += 1
        t = self.t
        self.param.mul_(self.decay)
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bc1 = 1 - self.beta1**t
        bc2_sqrt = math.sqrt(1 - self.beta2**t)
        denom = self.exp_avg_sq.sqrt().div_(bc2_sqrt).add_(self.eps)
        if isinstance(self.lr, float):
            self.param.addcdiv_(self.exp_avg, denom, value=-self.lr / bc1)
        else:
            self.param.addcdiv_(self.exp_avg * (self.lr / bc1), denom, value=-1.0)


class ReferenceStep:
    """M models in one flat (M, P) tensor, advanced by the earlier step (no recording)."""

    def __init__(self, configs: Sequence[RunConfig], chunk_size: int | None = None):
        cfg = self.cfg = configs[0]
        self.device = resolve_device(cfg.device)
        self.dtype = TORCH_DTYPES[cfg.dtype]
        self.m = m = len(configs)
        states = [initial_state(c) for c in configs]
        per_model = [[s.embedding] + [t for w, b in zip(s.weights, s.biases, strict=True)
                                      for t in (w.T, b)] for s in states]
        shapes = [tuple(t.shape) for t in per_model[0]]
        flat = torch.stack([torch.cat([t.reshape(-1) for t in ts]) for ts in per_model])
        self.flat = flat.to(device=self.device, dtype=self.dtype).contiguous()
        self.offsets, self.params, off = [], [], 0
        for shape in shapes:
            size = math.prod(shape)
            self.offsets.append((off, off + size))
            self.params.append(self.flat[:, off:off + size].view(m, *shape))
            off += size
        train = torch.as_tensor(np.stack([s.train_idx for s in states]), device=self.device)
        self.train_pairs = Pairs.from_indices(train, cfg.p)
        lr = torch.tensor([c.lr for c in configs], dtype=self.dtype, device=self.device)
        wd = torch.tensor([c.weight_decay for c in configs], dtype=self.dtype,
                          device=self.device)
        n_emb = cfg.p * cfg.d
        lo = n_emb if cfg.freeze_embedding else 0
        hi = n_emb if cfg.freeze_mlp else self.flat.shape[1]
        self.trainable = (lo, hi)
        self.grad_flat = torch.zeros_like(self.flat)
        self.opt = AdamW(self.flat[:, lo:hi], lr, wd, cfg.betas, cfg.eps)
        self.chunk = chunk_size or default_chunk_size(cfg, m, self.device)
        self.chunks = [(a, min(a + self.chunk, m)) for a in range(0, m, self.chunk)]
        self._chunk_pairs = [self.train_pairs.chunk(a, b, cfg.p) for a, b in self.chunks]

    def _grad_view(self, index: int, lo: int, hi: int) -> torch.Tensor:
        a, b = self.offsets[index]
        return self.grad_flat[lo:hi, a:b].view(hi - lo, *self.params[index].shape[1:])

    def step(self) -> None:
        """One AdamW step for every model."""
        cfg = self.cfg
        for (lo, hi), pairs in zip(self.chunks, self._chunk_pairs, strict=True):
            chunk_params = [t[lo:hi] for t in self.params]
            _, _, grads = loss_and_grads(
                chunk_params, pairs, cfg.activation, need_embedding_grad=not cfg.freeze_embedding,
                need_mlp_grad=not cfg.freeze_mlp, need_accuracy=False)
            for i, g in enumerate(grads):
                if g is not None:
                    self._grad_view(i, lo, hi).copy_(g)
        lo, hi = self.trainable
        self.opt.step(self.grad_flat[:, lo:hi])

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter in nn.Module layout (weights (out, in)) with a leading model axis."""
        names = ["embedding"]
        for layer in range(len(self.cfg.hidden) + 1):
            names += [f"layers.{layer}.weight", f"layers.{layer}.bias"]
        out = {}
        for name, t in zip(names, self.params, strict=True):
            out[name] = (t.transpose(1, 2) if name.endswith(".weight") else t).cpu().numpy().copy()
        return out
