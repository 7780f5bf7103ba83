"""M models of the paper's architecture, trained together in one exact step.

Every parameter carries a leading model axis M. Weight layout for the batched matmuls is
(in, out) — the transpose of ``nn.Linear``'s (out, in):

    embedding  E   (M, p, d)
    weights    W_l (M, in_l, out_l)   l = 0 .. L-1; in_0 = 2d, out_{L-1} = p
    biases     b_l (M, out_l)

The forward pass for pairs (a, b) uses [E[a], E[b]] @ W_0 = (E @ W_0[:d])[a] + (E @ W_0[d:])[b],
two (p x d) @ (d x h) products instead of an (n x 2d) @ (2d x h) one. Forward and backward are
written out by hand (no autograd graph), so that a chunk of models can run forward, backward
and its AdamW update while its activations are still in cache. Each model's loss is its own
mean cross-entropy over its training pairs; the gradient of the sum over models is each
model's own gradient, so every model trains exactly as it would alone.

In the training step the output layer is computed at a width padded to a multiple of
:data:`OUTPUT_ALIGN` (zero weights and -inf biases in the extra columns, whose logits are then
-inf and add exactly zero to every softmax and gradient): MKL's float64 GEMM runs
(2784 x 100) @ (100 x 59) at about half the speed of (100 x 60) on AVX2 CPUs. The output
layer's weight gradient is likewise taken over the padded width and its real columns kept.

The backward pass writes each gradient straight into the caller's buffers (``grads_out``);
the embedding-side sums over pairs, the one place where many pairs add into one row, are
deterministic on every device: ``index_add_`` on the CPU (its CPU kernel adds rows in a fixed
order), and on other devices a batched matmul with each model's constant one-hot pair matrix
(:attr:`Pairs.onehot`), since ``index_add_`` there uses atomics whose order varies run to run.

AdamW follows ``torch.optim.AdamW`` (decoupled decay ``param *= 1 - lr * wd`` first, then the
bias-corrected Adam step); ``lr`` and ``weight_decay`` may differ per model. With one lr and
weight decay for all models the update is ATen's fused AdamW kernel (one pass, the step count
kept on the device).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

#: the training step pads the output layer's width to a multiple of this
OUTPUT_ALIGN = 4


def padded_width(width: int, align: int | None = None) -> int:
    """The smallest multiple of ``align`` (default :data:`OUTPUT_ALIGN`) that is >= ``width``."""
    align = OUTPUT_ALIGN if align is None else align
    return -(-width // align) * align


def pad_output_layer(w: torch.Tensor, b: torch.Tensor,
                     width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Output weights (M, h, p) and biases (M, p) widened to ``width`` columns: zeros in the
    weights and -inf in the biases of the extra columns, so their logits are -inf."""
    m, h, p = w.shape
    if width == p:
        return w, b
    wp = w.new_zeros(m, h, width)
    wp[:, :, :p] = w
    bp = b.new_full((m, width), -math.inf)
    bp[:, :p] = b
    return wp, bp


def activation(name: str, z: torch.Tensor) -> torch.Tensor:
    """The nonlinearity ``name`` applied to z."""
    if name == "silu":
        return F.silu(z)
    if name == "relu":
        return torch.relu(z)
    if name == "gelu":
        return F.gelu(z)
    if name == "tanh":
        return torch.tanh(z)
    raise ValueError(f"unknown activation {name!r}")


def activation_backward(name: str, grad: torch.Tensor, z: torch.Tensor,
                        h: torch.Tensor) -> torch.Tensor:
    """d loss / d z from d loss / d h, where h = act(z) (fused ATen kernels)."""
    if name == "silu":
        return torch.ops.aten.silu_backward(grad, z)
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, h, 0)
    if name == "gelu":
        return torch.ops.aten.gelu_backward(grad, z)
    if name == "tanh":
        return torch.ops.aten.tanh_backward(grad, h)
    raise ValueError(f"unknown activation {name!r}")


@dataclass
class Pairs:
    """Per-model pair sets, flattened for gathering.

    a_flat, b_flat: (M, n) int64 row indices into the (M*p)-row flattened tables
        (a + m*p and b + m*p for model m); y: (M, n) int64 labels; n: pairs per model.
    onehot: None, or (M, 2p, n) in the compute dtype with onehot[m, a, j] = 1 and
        onehot[m, p + b, j] = 1 for pair j = (a, b) of model m: the backward pass then sums
        the pairs' gradients into the embedding-side tables with one batched matmul (exact
        sums of the same terms, deterministic on every device) instead of ``index_add_``.
    """

    a_flat: torch.Tensor
    b_flat: torch.Tensor
    y: torch.Tensor
    onehot: torch.Tensor | None = None

    @classmethod
    def from_indices(cls, idx: torch.Tensor, p: int) -> Pairs:
        """idx: (M, n) pair indices i (a = i mod p, b = i div p)."""
        m = idx.shape[0]
        offset = (torch.arange(m, device=idx.device) * p)[:, None]
        a = idx % p
        b = idx // p
        return cls(a + offset, b + offset, (a + b) % p)

    def with_onehot(self, p: int, dtype: torch.dtype) -> Pairs:
        """These pairs with :attr:`onehot` built (M * 2p * n elements of ``dtype``)."""
        m, n = self.y.shape
        model_offset = (torch.arange(m, device=self.y.device) * p)[:, None]
        onehot = torch.zeros(m, 2 * p, n, dtype=dtype, device=self.y.device)
        onehot.scatter_(1, (self.a_flat - model_offset)[:, None, :], 1.0)
        onehot.scatter_(1, (self.b_flat - model_offset + p)[:, None, :], 1.0)
        return replace(self, onehot=onehot)

    def chunk(self, lo: int, hi: int, p: int) -> Pairs:
        """The pairs of models lo..hi-1, re-offset to a chunk starting at model lo."""
        off = lo * p
        onehot = None if self.onehot is None else self.onehot[lo:hi]
        return Pairs(self.a_flat[lo:hi] - off, self.b_flat[lo:hi] - off, self.y[lo:hi], onehot)


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
    need_loss: bool = True,
    grads_out: list[torch.Tensor | None] | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, list[torch.Tensor | None]]:
    """Per-model mean cross-entropy (M,), accuracy (M,) and gradients (shapes of params).

    Gradients not asked for are None; accuracy is None unless ``need_accuracy``; the loss is
    None when neither it nor the accuracy is asked for (the softmax is then taken directly,
    without the log-softmax the loss needs). ``grads_out``: optional buffers, one per
    parameter (contiguous, the parameter's shape), that the gradients asked for are written
    into and returned as.
    """
    emb = params[0]
    m, p, d = emb.shape
    logits, saved, w_out = _forward(params, pairs, act, keep=True, out_width=padded_width(p))
    n = pairs.y.shape[1]
    y = pairs.y[:, :, None]
    loss = acc = None
    if need_loss or need_accuracy:
        lsm = torch.log_softmax(logits, dim=2)
        loss = lsm.gather(2, y).squeeze(2).mean(1).neg_()
        if need_accuracy:
            acc = (lsm.argmax(2) == pairs.y).to(emb.dtype).mean(1)
        g = lsm.exp_()
    else:
        g = torch.softmax(logits, dim=2)
    del logits

    out = grads_out if grads_out is not None else [None] * len(params)
    grads: list[torch.Tensor | None] = [None] * len(params)

    def into(i: int, compute, *args) -> torch.Tensor:
        """compute(*args) written into out[i] when given; returns it scaled by 1/n."""
        target = out[i]
        result = compute(*args) if target is None else compute(*args, out=target)
        grads[i] = result.mul_(inv_n)
        return grads[i]

    def narrowed_into(i: int, full: torch.Tensor) -> None:
        """full[..., :width] / n into out[i] (or a new tensor), width = params[i]'s last."""
        width = params[i].shape[-1]
        target = out[i] if out[i] is not None else full.new_empty(params[i].shape)
        grads[i] = torch.mul(full[..., :width], inv_n, out=target)

    # n * d(mean CE)/d logits = softmax - onehot; the 1/n is applied to the final gradients.
    # (one target per row: a plain scatter, no atomics on any device; x - 1 as scatter_add)
    g.scatter_(2, y, g.gather(2, y).sub_(1.0))
    inv_n = 1.0 / n
    n_layers = (len(params) - 1) // 2
    for layer in range(n_layers - 1, 0, -1):
        z, x = saved[layer - 1]
        w = w_out if layer == n_layers - 1 else params[2 * layer + 1]
        if need_mlp_grad:
            if g.shape[2] == params[2 * layer + 1].shape[2]:
                into(2 * layer + 1, torch.bmm, x.transpose(1, 2), g)
                into(2 * layer + 2, torch.sum, g, 1)
            else:
                # the padded output layer: the products over the whole (contiguous) width,
                # whose extra columns are zeros (softmax of -inf), then its real columns;
                # MKL runs x^T @ g[:, :, :59] at about half the speed of x^T @ g
                narrowed_into(2 * layer + 1, torch.bmm(x.transpose(1, 2), g))
                narrowed_into(2 * layer + 2, g.sum(1))
        g = activation_backward(act, torch.bmm(g, w.transpose(1, 2)), z, x)
    # g: (M, n, h0) = n * d loss / d z_0
    h0 = g.shape[2]
    w0 = params[1]
    if need_mlp_grad:
        into(2, torch.sum, g, 1)
    if pairs.onehot is not None:
        gpab = torch.bmm(pairs.onehot, g)  # (M, 2p, h0): the a-table rows, then the b-table's
        gpa, gpb = gpab[:, :p], gpab[:, p:]
    else:
        gflat = g.reshape(m * n, h0)
        gpa = torch.zeros(m * p, h0, dtype=g.dtype, device=g.device)
        gpb = torch.zeros(m * p, h0, dtype=g.dtype, device=g.device)
        # alpha = 1 and one scale afterwards: ATen's index_add_ with alpha != 1 is much slower
        gpa.index_add_(0, pairs.a_flat.reshape(-1), gflat)
        gpb.index_add_(0, pairs.b_flat.reshape(-1), gflat)
        gpa = gpa.view(m, p, h0)
        gpb = gpb.view(m, p, h0)
    if need_mlp_grad:
        et = emb.transpose(1, 2)
        gw0 = out[1] if out[1] is not None else emb.new_empty(w0.shape)
        torch.bmm(et, gpa, out=gw0[:, :d])
        torch.bmm(et, gpb, out=gw0[:, d:])
        grads[1] = gw0.mul_(inv_n)
    if need_embedding_grad:
        ge = out[0] if out[0] is not None else emb.new_empty(emb.shape)
        torch.bmm(gpa, w0[:, :d].transpose(1, 2), out=ge)
        ge.baddbmm_(gpb, w0[:, d:].transpose(1, 2))
        grads[0] = ge.mul_(inv_n)
    return loss, acc, grads


def evaluate(params: list[torch.Tensor], pairs: Pairs,
             act: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model mean cross-entropy (M,) and accuracy (M,) on the given pairs, no gradients."""
    logits = forward(params, pairs, act)
    lsm = torch.log_softmax(logits, dim=2)
    loss = lsm.gather(2, pairs.y[:, :, None]).squeeze(2).mean(1).neg_()
    acc = (lsm.argmax(2) == pairs.y).to(logits.dtype).mean(1)
    return loss, acc


class AdamW:
    """Elementwise AdamW over parameter tensors with a leading model axis.

    params: contiguous (M, ...) tensors (views are fine); lr, weight_decay: (M,) per-model
    values. Matches ``torch.optim.AdamW`` step for step: ``param *= 1 - lr * wd``, then the
    bias-corrected Adam update with ``eps`` added to the corrected square root. All models
    share the step count, which :meth:`advance` moves on both on the host (:attr:`t`) and on
    the device (:attr:`step_t`, read by the fused kernel: no host synchronisation, and a step
    that can be captured in a CUDA graph).

    :meth:`update` updates models lo..hi-1 only, so that a chunk's update can run while its
    gradients are still in cache; :meth:`step` is ``advance`` plus ``update`` of every model.
    """

    def __init__(self, params: list[torch.Tensor], lr: torch.Tensor,
                 weight_decay: torch.Tensor, betas: tuple[float, float], eps: float):
        self.params = params
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.exp_avg = [torch.zeros_like(t) for t in params]
        self.exp_avg_sq = [torch.zeros_like(t) for t in params]
        self.t = 0
        device = lr.device
        self.step_t = torch.zeros((), dtype=torch.float32, device=device)
        self.uniform = bool((lr == lr[0]).all()) and bool((weight_decay == weight_decay[0]).all())
        self.fused = self.uniform and hasattr(torch, "_fused_adamw_")
        self.lr_value, self.wd_value = float(lr[0]), float(weight_decay[0])
        self.lr_m, self.decay_m = lr, 1 - lr * weight_decay

    def advance(self) -> None:
        """Count one more step (call once per step, before the step's updates)."""
        self.t += 1
        self.step_t.add_(1)

    def update(self, grads: list[torch.Tensor], lo: int = 0, hi: int | None = None) -> None:
        """Update models lo..hi-1 with ``grads`` (one per param, shaped like param[lo:hi])."""
        if not self.params:
            return
        hi = self.params[0].shape[0] if hi is None else hi
        ps = [t[lo:hi] for t in self.params]
        ea = [t[lo:hi] for t in self.exp_avg]
        es = [t[lo:hi] for t in self.exp_avg_sq]
        if self.fused:
            # ATen's fused kernel: decay, both moments and the update in one pass; it reads
            # the step from the device and needs contiguous tensors (chunks of rows are)
            torch._fused_adamw_(ps, grads, ea, es, [], [self.step_t] * len(ps),
                                lr=self.lr_value, beta1=self.beta1, beta2=self.beta2,
                                weight_decay=self.wd_value, eps=self.eps, amsgrad=False,
                                maximize=False)
            return
        t = self.t
        bc1 = 1 - self.beta1**t
        bc2_sqrt = math.sqrt(1 - self.beta2**t)
        for param, grad, exp_avg, exp_avg_sq in zip(ps, grads, ea, es, strict=True):
            shape = (hi - lo,) + (1,) * (param.dim() - 1)
            lr = self.lr_m[lo:hi].view(shape)
            param.mul_(self.decay_m[lo:hi].view(shape))
            exp_avg.lerp_(grad, 1 - self.beta1)
            exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
            denom = exp_avg_sq.sqrt().div_(bc2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg * (lr / bc1), denom, value=-1.0)

    def step(self, grads: list[torch.Tensor]) -> None:
        """One update of every model with ``grads`` (one per param, same shapes)."""
        self.advance()
        self.update(grads)
