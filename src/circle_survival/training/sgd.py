"""SGD with momentum over parameter tensors with a leading model axis.

Matches ``torch.optim.SGD(lr, momentum, weight_decay)`` (dampening 0, no Nesterov) step for
step: d = grad + weight_decay * param (coupled decay, on every parameter, as the paper's
AdamW decays every parameter), then buf = d on the first step and buf = momentum * buf + d
after it, then param -= lr * buf (without momentum: param -= lr * d). ``lr`` and
``weight_decay`` are (M,) per-model values.

The interface is :class:`~circle_survival.training.ensemble.AdamW`'s, so a trainer and its
checkpoints take either: :meth:`advance` once per step, :meth:`update` per chunk of models;
``exp_avg`` holds the momentum buffers and ``exp_avg_sq`` is empty.
"""

from __future__ import annotations

import torch


class SGD:
    """Elementwise SGD with momentum; params: contiguous (M, ...) tensors."""

    def __init__(self, params: list[torch.Tensor], lr: torch.Tensor,
                 weight_decay: torch.Tensor, momentum: float):
        self.params = params
        self.momentum = momentum
        self.lr_m, self.wd_m = lr, weight_decay
        self.exp_avg = [torch.zeros_like(t) for t in params] if momentum else []
        self.exp_avg_sq: list[torch.Tensor] = []
        self.t = 0
        self.step_t = torch.zeros((), dtype=torch.float32, device=lr.device)

    def advance(self) -> None:
        """Count one more step (call once per step, before the step's updates)."""
        self.t += 1
        self.step_t.add_(1)

    def update(self, grads: list[torch.Tensor], lo: int = 0, hi: int | None = None) -> None:
        """Update models lo..hi-1 with ``grads`` (one per param, shaped like param[lo:hi])."""
        if not self.params:
            return
        hi = self.params[0].shape[0] if hi is None else hi
        bufs = self.exp_avg or [None] * len(self.params)
        for param, grad, buf in zip(self.params, grads, bufs, strict=True):
            shape = (hi - lo,) + (1,) * (param.dim() - 1)
            p = param[lo:hi]
            d = grad + p * self.wd_m[lo:hi].view(shape)
            if buf is not None:
                b = buf[lo:hi]
                if self.t == 1:
                    b.copy_(d)
                else:
                    b.mul_(self.momentum).add_(d)
                d = b
            p.sub_(d * self.lr_m[lo:hi].view(shape))

    def step(self, grads: list[torch.Tensor]) -> None:
        """One update of every model with ``grads``."""
        self.advance()
        self.update(grads)
