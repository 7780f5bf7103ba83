"""The notebook model: its logits equal the batched trainer's (final weights and a snapshot),
for any activation and depth."""

import numpy as np
import pytest
import torch

from circle_survival import ModularAdditionMLP, RunConfig, load, train_to_store
from circle_survival.errors import StoreError
from circle_survival.training.ensemble import Pairs, forward
from circle_survival.training.trainer import Trainer


def trainer_logits(configs, steps):
    """Logits (M, p*p, p) of every pair after ``steps`` steps of the batched trainer."""
    trainer = Trainer(configs)
    for _ in range(steps):
        trainer.step()
    p = configs[0].p
    idx = torch.arange(p * p).repeat(len(configs), 1)
    with torch.no_grad():
        return forward(trainer.params, Pairs.from_indices(idx, p), configs[0].activation)


@pytest.mark.parametrize("activation, hidden", [("silu", (12, 10)), ("gelu", (9,))])
def test_store_model_logits_equal_the_trainers(tmp_path, one_thread, activation, hidden):
    cfg = RunConfig(p=11, d=6, hidden=hidden, activation=activation, steps=7,
                    snapshot_steps=(3,), device="cpu")
    configs = [cfg.replace(embedding_seed=s, mlp_seed=s + 1) for s in range(3)]
    train_to_store(configs, tmp_path / "s")
    store = load(tmp_path / "s")
    final, at3 = trainer_logits(configs, 7), trainer_logits(configs, 3)
    for i, c in enumerate(configs):
        model = store.model(c.run_id)
        assert isinstance(model, torch.nn.Module)
        assert model.embedding.dtype == torch.float64
        with torch.no_grad():
            np.testing.assert_allclose(model.all_logits().numpy(), final[i].numpy(),
                                       rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(store.model(c.run_id, step=3).all_logits().numpy(),
                                       at3[i].numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(StoreError, match="no parameters at step 5"):
        store.model(configs[0].run_id, step=5)


def test_forward_is_the_concatenated_mlp():
    torch.manual_seed(0)
    m = ModularAdditionMLP(7, 4, (5,), "tanh")
    torch.nn.init.normal_(m.embedding)
    a, b = torch.tensor([[0, 3], [6, 2]]), torch.tensor([[1, 1], [5, 0]])
    x = torch.cat([m.embedding[a], m.embedding[b]], dim=-1)
    ref = m.layers[1](torch.tanh(m.layers[0](x)))
    assert m(a, b).shape == (2, 2, 7)
    torch.testing.assert_close(m(a, b), ref)
    pa, pb = m.all_pairs()
    assert pa.tolist()[:8] == [0, 1, 2, 3, 4, 5, 6, 0] and pb.tolist()[6:8] == [0, 1]
    assert set(m.state_dict()) == {"embedding", "layers.0.weight", "layers.0.bias",
                                   "layers.1.weight", "layers.1.bias"}
