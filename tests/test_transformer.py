"""The one-layer transformer: its shapes, its initialisation and the attention rate."""

import math

import torch

from circle_survival.training.transformer import PAPER_DEFAULTS, OneLayerTransformer


def model(rate=1.0):
    return OneLayerTransformer(11, d=16, n_heads=4, d_mlp=32, attention_rate=rate
                               ).init_weights(0, 1)


def test_shapes_and_the_authors_initialisation():
    m = OneLayerTransformer(113, d=128).init_weights(3, 4)
    shapes = {n: tuple(t.shape) for n, t in m.named_parameters()}
    assert shapes == {"W_E": (114, 128), "W_pos": (3, 128), "W_Q": (4, 32, 128),
                      "W_K": (4, 32, 128), "W_V": (4, 32, 128), "W_O": (128, 128),
                      "W_in": (512, 128), "b_in": (512,), "W_out": (128, 512),
                      "b_out": (128,), "W_U": (128, 113)}
    assert abs(float(m.W_in.detach().std()) - 1 / math.sqrt(128)) < 0.002
    assert abs(float(m.W_U.detach().std()) - 1 / math.sqrt(114)) < 0.003
    assert float(m.b_in.detach().abs().max()) == 0.0 and m.embedding.shape == (113, 128)
    # the embedding comes from its own seed: another model seed leaves it as it is
    assert torch.equal(OneLayerTransformer(113).init_weights(3, 9).W_E, m.W_E)
    assert PAPER_DEFAULTS["p"] == 113 and PAPER_DEFAULTS["betas"] == (0.9, 0.98)


def test_forward_matches_a_full_three_position_pass():
    """Queries at "=" alone give the logits a full causal pass gives there."""
    m = model(0.7)
    a, b = torch.arange(11), torch.arange(11).flip(0)
    x = m.W_E[torch.stack([a, b, torch.full_like(a, 11)], -1)] + m.W_pos
    q = torch.einsum("hed,nsd->nhse", m.W_Q, x)
    k = torch.einsum("hed,nsd->nhse", m.W_K, x)
    v = torch.einsum("hed,nsd->nhse", m.W_V, x)
    scores = q @ k.transpose(-1, -2) / math.sqrt(4)
    mask = torch.tril(torch.ones(3, 3, dtype=torch.bool))
    attn = torch.softmax(scores.masked_fill(~mask, -1e10), -1)
    uniform = mask / mask.sum(-1, keepdim=True)
    attn = 0.7 * attn + 0.3 * uniform
    z = (attn @ v).transpose(1, 2).flatten(-2)
    resid = x + z @ m.W_O.T
    resid = resid + torch.relu(resid @ m.W_in.T + m.b_in) @ m.W_out.T + m.b_out
    torch.testing.assert_close(m(a, b), (resid @ m.W_U)[:, 2])


def test_constant_attention_ignores_the_keys():
    m = model(0.0)
    a, b = torch.arange(11), torch.arange(11)
    before = m(a, b)
    with torch.no_grad():
        m.W_K.mul_(3.0)
        m.W_Q.add_(1.0)
    torch.testing.assert_close(m(a, b), before)


def test_the_sweep_plan_counts_its_parameters_and_work():
    from circle_survival import RunConfig
    from circle_survival.sweep.plan import model_step_flops, n_params

    cfg = RunConfig(model="transformer", p=13, d=16, n_heads=2, d_mlp=24)
    module = OneLayerTransformer(13, 16, 2, 24)
    assert n_params(cfg) == sum(t.numel() for t in module.parameters())
    assert model_step_flops(cfg) > model_step_flops(cfg.replace(d_mlp=8))
