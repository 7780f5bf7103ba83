"""The one-layer transformer of the progress-measures work (Nanda et al., arXiv 2301.05217),
with the attention rate of the clock-and-pizza work (Zhong et al., arXiv 2306.17844).

Input: the 3 tokens a, b, "=" (token p; d_vocab = p + 1); the logits are read at "=" (the
last position). One attention layer with causal mask and ``n_heads`` heads of width
d_head = d / n_heads, scores scaled by 1/sqrt(d_head); a ReLU MLP of width ``d_mlp``; both
on the residual stream; no layer norm; embedding and unembedding untied; the unembedding
has p outputs (their notebook's ``d_vocab_out = p``). Only the last position's residual
reaches the logits in one layer, so the queries are taken there alone (the same function).

Attention rate r (Zhong et al.): A = r * softmax(scores) + (1 - r) * uniform over the
positions a query sees; r = 1 is standard attention (their model A, "clock"), r = 0
constant attention (model B, "pizza").

Parameters (names and layout as Nanda et al.'s code, but W_E stored token-major):
    W_E (p+1, d)   rows 0 .. p-1 are the tokens the Fourier analysis reads, row p is "="
    W_pos (3, d); W_Q, W_K, W_V (n_heads, d_head, d); W_O (d, n_heads * d_head)
    W_in (d_mlp, d), b_in (d_mlp,), W_out (d, d_mlp), b_out (d,); W_U (d, p)
Their initialisation: every matrix N(0, 1) / sqrt(d), W_U N(0, 1) / sqrt(d_vocab), biases 0.
Seeds: W_E from ``embedding_seed``, the rest from ``mlp_seed`` (the "model" seed), each its
own ``torch.Generator``; the split from ``split_seed`` as for the MLP.

:data:`PAPER_DEFAULTS` records their setup (which a run reproduces by setting those fields;
not the defaults here, which stay the MLP paper's).
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Nanda et al.'s training setup (``transformers.py`` and the progress-measures notebook):
#: p = 113, d_model 128, 4 heads, d_mlp 512, full-batch AdamW lr 1e-3, weight decay 1.0,
#: betas (0.9, 0.98), 30% of the pairs trained on; their 10-step linear warm-up of the lr is
#: not reproduced (no schedule here)
PAPER_DEFAULTS = {"model": "transformer", "p": 113, "d": 128, "n_heads": 4, "d_mlp": 512,
                  "lr": 1e-3, "weight_decay": 1.0, "betas": (0.9, 0.98),
                  "train_fraction": 0.3, "attention_rate": 1.0}


class OneLayerTransformer(nn.Module):
    """Logits (..., p) of pairs (a, b) through the one-layer transformer.

    Args:
        p: modulus (tokens 0 .. p-1, "=" is token p).
        d: d_model; n_heads: heads (d % n_heads == 0); d_mlp: MLP width.
        attention_rate: r in [0, 1] (see the module).
        dtype: parameter dtype.
    """

    def __init__(self, p: int, d: int = 128, n_heads: int = 4, d_mlp: int = 512,
                 attention_rate: float = 1.0, dtype: torch.dtype = torch.float64):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d={d} is not divisible by n_heads={n_heads}")
        self.p, self.d, self.n_heads, self.attention_rate = p, d, n_heads, attention_rate
        dh = d // n_heads

        def zeros(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(*shape, dtype=dtype))

        self.W_E = zeros(p + 1, d)
        self.W_pos = zeros(3, d)
        self.W_Q, self.W_K, self.W_V = (zeros(n_heads, dh, d) for _ in range(3))
        self.W_O = zeros(d, n_heads * dh)
        self.W_in, self.b_in = zeros(d_mlp, d), zeros(d_mlp)
        self.W_out, self.b_out = zeros(d, d_mlp), zeros(d)
        self.W_U = zeros(d, p)

    @property
    def embedding(self) -> torch.Tensor:
        """The token rows the Fourier analysis reads: W_E[:p], (p, d)."""
        return self.W_E[: self.p]

    def init_weights(self, embedding_seed: int, model_seed: int) -> OneLayerTransformer:
        """Nanda et al.'s initialisation (see the module), drawn in float64 on the CPU."""
        g_e = torch.Generator().manual_seed(embedding_seed)
        g_m = torch.Generator().manual_seed(model_seed)
        d = self.d
        with torch.no_grad():
            w = torch.randn(self.W_E.shape, generator=g_e, dtype=torch.float64)
            self.W_E.copy_(w / math.sqrt(d))
            for t in (self.W_pos, self.W_Q, self.W_K, self.W_V, self.W_O, self.W_in,
                      self.W_out):
                t.copy_(torch.randn(t.shape, generator=g_m, dtype=torch.float64) / math.sqrt(d))
            w = torch.randn(self.W_U.shape, generator=g_m, dtype=torch.float64)
            self.W_U.copy_(w / math.sqrt(self.p + 1))
            self.b_in.zero_()
            self.b_out.zero_()
        return self

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logits (..., p) at "=" for int tensors a, b of one shape."""
        eq = torch.full_like(a, self.p)
        x = self.W_E[torch.stack([a, b, eq], dim=-1)] + self.W_pos  # (..., 3, d)
        k = torch.einsum("hed,...sd->...hse", self.W_K, x)  # (..., heads, 3, d_head)
        v = torch.einsum("hed,...sd->...hse", self.W_V, x)
        q = torch.einsum("hed,...d->...he", self.W_Q, x[..., 2, :])  # (..., heads, d_head)
        scores = torch.einsum("...hse,...he->...hs", k, q) / math.sqrt(k.shape[-1])
        attn = torch.softmax(scores, dim=-1)  # the last position sees all three
        r = self.attention_rate
        if r != 1.0:
            attn = r * attn + (1.0 - r) / attn.shape[-1]
        z = torch.einsum("...hs,...hse->...he", attn, v).flatten(-2)  # (..., heads * d_head)
        resid = x[..., 2, :] + z @ self.W_O.T
        resid = resid + torch.relu(resid @ self.W_in.T + self.b_in) @ self.W_out.T + self.b_out
        return resid @ self.W_U
