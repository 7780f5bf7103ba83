"""Config validation, ids and serialisation."""

import pytest

from circle_survival.config import RunConfig, record_steps
from circle_survival.errors import ConfigError


def test_paper_defaults():
    c = RunConfig()
    assert (c.p, c.d, c.hidden, c.activation, c.lr, c.weight_decay, c.betas, c.steps,
            c.dtype, c.train_fraction) == (59, 128, (100, 100), "silu", 0.01, 0.5,
                                           (0.9, 0.999), 30000, "float64", 0.8)
    assert c.n_train == 2784 and c.n_freq == 30


@pytest.mark.parametrize("changes, message", [
    ({"p": 2}, "p must be"), ({"p": 5.0}, "p must be an integer"), ({"d": 0}, "d must"),
    ({"steps": 0}, "steps"), ({"hidden": ()}, "hidden"), ({"hidden": (0,)}, "hidden"),
    ({"activation": "x"}, "activation"), ({"dtype": "float16"}, "dtype"),
    ({"device": "tpu"}, "device"), ({"lr": 0}, "lr"), ({"lr": float("nan")}, "lr"),
    ({"weight_decay": -1}, "weight_decay"), ({"betas": (0.9,)}, "betas"),
    ({"train_fraction": 1.0}, "train_fraction"), ({"embedding_seed": -1}, "embedding_seed"),
    ({"snapshot_steps": (5, 10**9)}, "snapshot_steps"), ({"init_scheme": "x"}, "init_scheme"),
    ({"freeze_mlp": "yes"}, "freeze_mlp"), ({"intervention": {"kind": "nope"}}, "nope"),
    ({"signal_dense_until": -1}, "signal_dense_until"),
    ({"signal_dense_until": 2.5}, "signal_dense_until must be an integer"),
])
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)


def test_ids_are_stable_readable_and_distinct():
    a = RunConfig(embedding_seed=1, mlp_seed=2, split_seed=3)
    assert a.run_id.startswith("p59-d128-e1-m2-s3-")
    assert a.run_id == RunConfig(embedding_seed=1, mlp_seed=2, split_seed=3).run_id
    assert a.run_id != a.replace(lr=0.02).run_id
    assert a.batch_key() == a.replace(embedding_seed=9, lr=0.1).batch_key()
    assert a.batch_key() != a.replace(d=64).batch_key()
    assert a.base_key() != a.replace(lr=0.1).base_key()


def test_dict_round_trip_and_unknown_fields():
    a = RunConfig(hidden=(10, 20), intervention={"kind": "scale", "k": 3, "alpha": 1.1})
    assert RunConfig.from_dict(a.to_dict()) == a
    with pytest.raises(ConfigError, match="unknown config field 'q'"):
        RunConfig.from_dict({"q": 1})


def test_record_steps():
    assert record_steps(10, (), 25, always_ends=True) == [0, 10, 20, 25]
    assert record_steps(0, (3, 7), 25, always_ends=False) == [3, 7]
    assert record_steps(0, (), 25, always_ends=False) == []


def test_ids_of_earlier_runs_are_kept():
    """Pinned ids from before signal_dense_until existed: a later field at its default does
    not enter the ids, so stores written then still resume and match."""
    assert RunConfig().run_id == "p59-d128-e0-m0-s0-4fbdd77b35"
    iv = {"kind": "scale", "k": 2, "alpha": 1.1}
    assert RunConfig(p=13, d=8, steps=100, embedding_seed=3, intervention=iv).run_id == (
        "p13-d8-e3-m0-s0-c84598682f")
    assert RunConfig().batch_key().startswith("c844ff53c376")
    assert RunConfig().base_key().startswith("ed4595a0ce49")
    dense = RunConfig(signal_dense_until=10)
    assert "signal_dense_until" not in RunConfig().identity()
    assert dense.identity()["signal_dense_until"] == 10
    assert len({dense.run_id, dense.batch_key(), dense.base_key()} & {
        RunConfig().run_id, RunConfig().batch_key(), RunConfig().base_key()}) == 0


def test_every_field_has_its_help():
    from dataclasses import fields

    from circle_survival.config import ACTIVATIONS, field_help

    for f in fields(RunConfig):
        assert field_help(f).endswith("."), f.name
    activation = next(f for f in fields(RunConfig) if f.name == "activation")
    assert field_help(activation) == f"Activation: {', '.join(ACTIVATIONS[:-1])} or " \
                                     f"{ACTIVATIONS[-1]}."
