"""A plain one-model PyTorch training loop, written the obvious way: the oracle that the
batched trainer is compared against. It follows the authors' code: global seeds, nn.Linear
layers, concatenated inputs, autograd and torch.optim.AdamW."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ACTS = {"silu": nn.functional.silu, "relu": torch.relu, "gelu": nn.functional.gelu,
        "tanh": torch.tanh}


def authors_init(seed_mlp, seed_emb, seed_split, p, d, hidden, fresh_embedding=False,
                 train_fraction=0.8):
    """Initial (layers, embedding, train_idx) drawn exactly as the authors' code does (their
    train fraction is 0.8)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        widths = [2 * d, *hidden, p]
        torch.manual_seed(seed_mlp)
        layers = [nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:], strict=True)]
        torch.manual_seed(seed_emb)
        if not fresh_embedding:
            [nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:], strict=True)]
        emb = torch.normal(0, 1, size=(p, d))
    finally:
        torch.set_default_dtype(old)
    np.random.seed(seed_split)
    train_idx = np.random.choice(p * p, int(train_fraction * p * p), replace=False)
    return layers, emb, train_idx


def train_one(cfg):
    """Train one model as plain research code would; return per-step signals (steps+1, K),
    per-step train losses (steps,), and the final parameters in nn.Module layout."""
    layers, emb, train_idx = authors_init(cfg.mlp_seed, cfg.embedding_seed, cfg.split_seed,
                                          cfg.p, cfg.d, cfg.hidden,
                                          cfg.init_scheme == "reference_fresh_embedding",
                                          cfg.train_fraction)
    emb = nn.Parameter(emb)
    i = torch.as_tensor(train_idx)
    a, b = i % cfg.p, i // cfg.p
    y = (a + b) % cfg.p
    act = ACTS[cfg.activation]
    params = []
    if not cfg.freeze_embedding:
        params.append(emb)
    if not cfg.freeze_mlp:
        params += [t for lin in layers for t in lin.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas,
                            eps=cfg.eps)

    def sig():
        f = torch.fft.fft(emb.detach(), dim=0)
        return f.abs().pow(2).sum(1).sqrt()[: cfg.p // 2 + 1].numpy().copy()

    signals, losses = [], []
    for _ in range(cfg.steps):
        signals.append(sig())
        x = torch.cat([emb[a], emb[b]], dim=1)
        for j, lin in enumerate(layers):
            x = lin(x)
            if j < len(layers) - 1:
                x = act(x)
        loss = nn.functional.cross_entropy(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    signals.append(sig())
    state = {"embedding": emb.detach().numpy().copy()}
    for j, lin in enumerate(layers):
        state[f"layers.{j}.weight"] = lin.weight.detach().numpy().copy()
        state[f"layers.{j}.bias"] = lin.bias.detach().numpy().copy()
    return np.array(signals), np.array(losses), state
