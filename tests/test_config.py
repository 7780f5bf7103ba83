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
