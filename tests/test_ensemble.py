"""The batched model (ensemble.py) against a plain one-model network and autograd: logits,
losses, accuracies and every gradient, chunk by chunk; the padded output layer; AdamW against
torch.optim.AdamW."""

import pytest
import torch
import torch.nn.functional as F

from circle_survival.training import ensemble
from circle_survival.training.ensemble import AdamW, Pairs, evaluate, forward, loss_and_grads

P, D, HIDDEN, M, N = 13, 6, (9, 7), 5, 40


def random_params(m=M, p=P, d=D, hidden=HIDDEN, seed=0):
    """[E (m, p, d), W_0 (m, 2d, h_0), b_0, ..., W_L (m, h, p), b_L] in float64."""
    g = torch.Generator().manual_seed(seed)
    widths = [2 * d, *hidden, p]
    params = [torch.randn(m, p, d, generator=g, dtype=torch.float64)]
    for i, o in zip(widths[:-1], widths[1:], strict=True):
        params += [torch.randn(m, i, o, generator=g, dtype=torch.float64) / i**0.5,
                   torch.randn(m, o, generator=g, dtype=torch.float64) * 0.1]
    return params


def random_pairs(m=M, p=P, n=N, seed=1):
    g = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randperm(p * p, generator=g)[:n] for _ in range(m)])
    return idx, Pairs.from_indices(idx, p)


def one_model(params, i, idx, act, p=P):
    """Model i written plainly: concatenate E[a] and E[b], then Linear layers; returns the
    logits (n, p) and the leaf tensors autograd differentiates."""
    leaves = [t[i].detach().clone().requires_grad_(True) for t in params]
    a, b = idx[i] % p, idx[i] // p
    x = torch.cat([leaves[0][a], leaves[0][b]], dim=1)
    n_layers = (len(leaves) - 1) // 2
    for layer in range(n_layers):
        x = x @ leaves[2 * layer + 1] + leaves[2 * layer + 2]
        if layer < n_layers - 1:
            x = ensemble.activation(act, x)
    return x, leaves


@pytest.mark.parametrize("act", ["silu", "relu", "gelu", "tanh"])
@pytest.mark.parametrize("chunks", [[(0, 5)], [(0, 2), (2, 3), (3, 5)]])
def test_loss_and_gradients_match_autograd_chunk_by_chunk(act, chunks):
    params = random_params()
    idx, pairs = random_pairs()
    for lo, hi in chunks:
        chunk = [t[lo:hi] for t in params]
        loss, acc, grads = loss_and_grads(chunk, pairs.chunk(lo, hi, P), act)
        assert loss.shape == acc.shape == (hi - lo,)
        for j, i in enumerate(range(lo, hi)):
            logits, leaves = one_model(params, i, idx, act)
            y = (idx[i] % P + idx[i] // P) % P
            ref = F.cross_entropy(logits, y)
            ref.backward()
            torch.testing.assert_close(loss[j], ref.detach(), rtol=1e-12, atol=0)
            assert acc[j] == (logits.argmax(1) == y).double().mean()
            for got, leaf in zip(grads, leaves, strict=True):
                torch.testing.assert_close(got[j], leaf.grad, rtol=1e-10, atol=1e-13)


def test_forward_and_evaluate_match_the_plain_model():
    params = random_params(seed=3)
    idx, pairs = random_pairs(seed=4)
    logits = forward(params, pairs, "silu")
    loss, acc = evaluate(params, pairs, "silu")
    assert logits.shape == (M, N, P)
    for i in range(M):
        ref, _ = one_model(params, i, idx, "silu")
        y = (idx[i] % P + idx[i] // P) % P
        torch.testing.assert_close(logits[i], ref.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(loss[i], F.cross_entropy(ref, y).detach(), rtol=1e-12,
                                   atol=0)
        assert acc[i] == (ref.argmax(1) == y).double().mean()


def test_gradients_not_asked_for_are_none():
    params = random_params()
    _, pairs = random_pairs()
    _, acc, grads = loss_and_grads(params, pairs, "silu", need_embedding_grad=False,
                                   need_accuracy=False)
    assert acc is None and grads[0] is None and all(g is not None for g in grads[1:])
    _, _, grads = loss_and_grads(params, pairs, "silu", need_mlp_grad=False)
    assert grads[0] is not None and all(g is None for g in grads[1:])


@pytest.mark.parametrize("p", [P, 12])  # output layer padded (13 -> 16) and not (12)
def test_gradients_written_into_buffers_equal_the_returned_ones(p):
    """grads_out: every gradient lands in the caller's buffer, equal to a fresh one."""
    params = random_params(p=p)
    _, pairs = random_pairs(p=p)
    _, _, fresh = loss_and_grads(params, pairs, "silu")
    buffers = [torch.full_like(t, float("nan")) for t in params]
    _, _, written = loss_and_grads(params, pairs, "silu", grads_out=buffers)
    for got, buf, ref in zip(written, buffers, fresh, strict=True):
        assert got.data_ptr() == buf.data_ptr()
        torch.testing.assert_close(buf, ref, rtol=0, atol=0)


def test_padded_columns_have_no_probability():
    params = random_params()
    _, pairs = random_pairs()
    w, b = ensemble.pad_output_layer(params[-2], params[-1], ensemble.padded_width(P, 8))
    assert w.shape == (M, HIDDEN[-1], 16) and b.shape == (M, 16)
    logits = forward(params[:-2] + [w, b], pairs, "silu")
    assert torch.isneginf(logits[..., P:]).all()
    assert (torch.softmax(logits, dim=2)[..., P:] == 0).all()
    torch.testing.assert_close(logits[..., :P], forward(params, pairs, "silu"), rtol=0, atol=0)


@pytest.mark.parametrize("per_model", [True, False], ids=["per-model lr/wd", "fused"])
def test_adamw_matches_torch_optim_per_model(per_model):
    g = torch.Generator().manual_seed(5)
    start = torch.randn(3, 10, generator=g, dtype=torch.float64)
    if per_model:
        lr = torch.tensor([0.01, 0.03, 0.01], dtype=torch.float64)
        wd = torch.tensor([0.5, 0.1, 0.0], dtype=torch.float64)
    else:
        lr = torch.full((3,), 0.01, dtype=torch.float64)
        wd = torch.full((3,), 0.5, dtype=torch.float64)
    grads = [torch.randn(3, 10, generator=g, dtype=torch.float64) for _ in range(6)]
    batched = start.clone()
    opt = AdamW([batched], lr, wd, betas=(0.9, 0.98), eps=1e-8)
    assert opt.fused == (not per_model and hasattr(torch, "_fused_adamw_"))
    for grad in grads:
        opt.step([grad])
    for i in range(3):
        p = start[i].clone().requires_grad_(True)
        ref = torch.optim.AdamW([p], lr=float(lr[i]), weight_decay=float(wd[i]),
                                betas=(0.9, 0.98), eps=1e-8)
        for grad in grads:
            p.grad = grad[i].clone()
            ref.step()
        torch.testing.assert_close(batched[i], p.detach(), rtol=1e-13, atol=1e-15)
