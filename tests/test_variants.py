"""Models, tasks and optimisers beyond the paper: their checks, task tables, discrete logs,
and run ids that stay as they were."""

import numpy as np
import pytest
from cli_runner import run_cli

from circle_survival import RunConfig
from circle_survival.errors import ConfigError
from circle_survival.variants import (
    fourier_rows,
    fourier_size,
    is_prime,
    labels,
    log_order,
    primitive_root,
    relabel,
)


def test_default_run_ids_are_unchanged():
    assert RunConfig().run_id == "p59-d128-e0-m0-s0-4fbdd77b35"
    assert RunConfig(p=13, d=8, steps=100, embedding_seed=3).run_id == (
        "p13-d8-e3-m0-s0-80e34ef995")
    # the new fields at their defaults stay out of every id; another value enters them
    base = RunConfig()
    same = RunConfig(model="mlp", task="add", optimizer="adamw", n_heads=4, d_mlp=512,
                     attention_rate=1.0, momentum=0.9, task_table="")
    assert (same.run_id, same.batch_key(), same.base_key()) == (
        base.run_id, base.batch_key(), base.base_key())
    others = [base.replace(model="transformer"), base.replace(task="subtract"),
              base.replace(optimizer="sgd"), base.replace(momentum=0.5)]
    assert len({c.run_id for c in others} | {base.run_id}) == 5


def test_labels_of_each_task():
    a, b = np.arange(25) % 5, np.arange(25) // 5
    np.testing.assert_array_equal(labels("add", 5), (a + b) % 5)
    np.testing.assert_array_equal(labels("subtract", 5), (a - b) % 5)
    np.testing.assert_array_equal(labels("multiply", 5), (a * b) % 5)


def test_discrete_logs():
    assert [n for n in range(20) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19]
    assert primitive_root(7) == 3 and primitive_root(59) == 2
    order = log_order(7)
    np.testing.assert_array_equal(order, [1, 3, 2, 6, 4, 5])
    assert sorted(order) == list(range(1, 7))
    # multiplication becomes addition of logs: order[i] * order[j] = order[(i + j) mod 6]
    i, j = np.meshgrid(np.arange(6), np.arange(6))
    np.testing.assert_array_equal(order[i] * order[j] % 7, order[(i + j) % 6])
    assert fourier_rows("add", 7) is None and fourier_size("add", 7) == 7
    assert fourier_size("multiply", 7) == 6
    emb = np.arange(14.0).reshape(7, 2)
    np.testing.assert_array_equal(relabel(emb, fourier_rows("multiply", 7))[:, 0],
                                  2 * order)


def write_table(path, rows, header=True):
    text = ("a,b,c\n" if header else "") + "".join(f"{a},{b},{c}\n" for a, b, c in rows)
    path.write_text(text)
    return path


def test_a_task_table_from_csv_and_toml(tmp_path):
    rows = [(a, b, (a * a + b) % 5) for a in range(5) for b in range(5)]
    csv = write_table(tmp_path / "t.csv", rows)
    cfg = RunConfig(p=5, d=4, task="table", task_table=str(csv))
    np.testing.assert_array_equal(labels(cfg.task, cfg.p, cfg.task_table),
                                  [(a * a + b) % 5 for b in range(5) for a in range(5)])
    toml = tmp_path / "t.toml"
    toml.write_text("table = [" + ", ".join(f"[{a}, {b}, {c}]" for a, b, c in rows) + "]\n")
    again = RunConfig(p=5, d=4, task="table", task_table=str(toml))
    assert again == cfg and again.run_id == cfg.run_id
    # the run id digests the table's labels, not the file's name
    assert RunConfig.from_dict(cfg.to_dict()).run_id == cfg.run_id


def bad_tables(tmp_path):
    full = [(a, b, (a + b) % 5) for a in range(5) for b in range(5)]
    return [
        (write_table(tmp_path / "dup.csv", [*full, (1, 2, 4)]), "not a function of (a, b)"),
        (write_table(tmp_path / "gap.csv", full[1:]), "gives no c for 1 of the 25 pairs"),
        (write_table(tmp_path / "big.csv", [*full[1:], (0, 0, 5)]), "outside 0 .. 4"),
        (write_table(tmp_path / "text.csv", [(0, 0, 0), ("x", 1, 2)]), "three integers"),
        (tmp_path / "none.csv", "not found"),
    ]


@pytest.mark.parametrize(("changes", "message"), [
    ({"model": "lstm"}, "unknown model 'lstm'"),
    ({"task": "divide"}, "unknown task 'divide'"),
    ({"optimizer": "adam"}, "unknown optimizer 'adam'"),
    ({"task": "multiply", "p": 15}, "needs a prime p"),
    ({"task": "table"}, "task table needs task_table"),
    ({"task_table": "1,2"}, "task_table is given but task is 'add'"),
    ({"model": "transformer", "d": 10, "n_heads": 4}, "d divisible by n_heads"),
    ({"attention_rate": 1.5}, "attention_rate must be in [0, 1]"),
    ({"momentum": 1.0}, "momentum must be in [0, 1)"),
    ({"n_heads": 0}, "n_heads must be a positive integer"),
])
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        RunConfig(**changes)


def test_bad_tables_are_refused(tmp_path):
    for path, message in bad_tables(tmp_path):
        with pytest.raises(ConfigError) as err:
            RunConfig(p=5, d=4, task="table", task_table=str(path))
        assert message in str(err.value), (path.name, str(err.value))


@pytest.mark.parametrize("argv", [
    ["--model", "lstm"], ["--task", "divide"], ["--task", "multiply", "--p", "9"],
    ["--optimizer", "rmsprop"], ["--task", "table", "--task-table", "DUP"],
])
def test_the_command_line_refuses_them_in_one_line_before_writing(tmp_path, capsys, argv):
    dup = write_table(tmp_path / "dup.csv", [(a, b, 0) for a in range(5) for b in range(5)]
                      + [(0, 0, 1)])
    argv = [str(dup) if x == "DUP" else x for x in argv]
    store = tmp_path / "s"
    code, _, err = run_cli(["train", store, "--device", "cpu", "--quiet", "--p", "5", "--d",
                            "4", "--steps", "3", *argv], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert not store.exists()


def test_the_command_line_trains_a_transformer_on_multiplication(tmp_path, capsys, one_thread):
    from circle_survival import load

    store = tmp_path / "s"
    code, out, err = run_cli(["train", store, "--device", "cpu", "--quiet", "--p", "7",
                              "--d", "8", "--n-heads", "2", "--d-mlp", "16", "--steps", "5",
                              "--model", "transformer", "--task", "multiply",
                              "--optimizer", "sgd", "--lr", "0.1", "--seeds", "0:2"], capsys)
    assert code == 0, err
    runs = load(store).runs
    assert len(runs) == 2 and set(runs["model"]) == {"transformer"}
    assert set(runs["task"]) == {"multiply"} and set(runs["optimizer"]) == {"sgd"}
