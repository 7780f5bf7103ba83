"""Batched SGD with momentum against torch.optim.SGD, model by model."""

import pytest
import torch

from circle_survival.training.sgd import SGD


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_each_model_steps_as_torch_optim_sgd(momentum):
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(3, 4, 5, generator=g, dtype=torch.float64),
              torch.randn(3, 7, generator=g, dtype=torch.float64)]
    lr = torch.tensor([0.1, 0.01, 0.5], dtype=torch.float64)
    wd = torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64)
    singles = [[t[i].clone().requires_grad_() for t in params] for i in range(3)]
    refs = [torch.optim.SGD(ps, lr=float(lr[i]), momentum=momentum, weight_decay=float(wd[i]))
            for i, ps in enumerate(singles)]
    opt = SGD(params, lr, wd, momentum)
    for _ in range(5):
        grads = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in params]
        opt.advance()
        opt.update([x[:2] for x in grads], 0, 2)  # in two chunks of models
        opt.update([x[2:] for x in grads], 2, 3)
        for i, (ps, ref) in enumerate(zip(singles, refs, strict=True)):
            for p, x in zip(ps, grads, strict=True):
                p.grad = x[i].clone()
            ref.step()
    for i, ps in enumerate(singles):
        for t, p in zip(params, ps, strict=True):
            torch.testing.assert_close(t[i], p.detach(), rtol=0, atol=1e-15)
    assert len(opt.exp_avg) == (2 if momentum else 0) and opt.t == 5
