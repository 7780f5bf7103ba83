"""The command line: a small train, show, and every bad-input case."""

import re
import subprocess
import sys

import pytest
from cli_runner import run_cli

from circle_survival import load, train_to_store
from circle_survival.config import RunConfig
from circle_survival.sweep import StoreLock

SMALL = ["--p", "11", "--d", "6", "--hidden", "12,12", "--steps", "20", "--quiet"]


def test_train_then_show(tmp_path, capsys, monkeypatch):
    store = tmp_path / "s"
    code, out, err = run_cli(["train", str(store), *SMALL, "--embedding-seeds",
                              "0:3", "--mlp-seeds", "5", "--split-seeds", "1,2,3"], capsys)
    assert code == 0, err
    runs = load(store).runs
    assert sorted(zip(runs.embedding_seed, runs.mlp_seed, runs.split_seed, strict=True)) == [
        (0, 5, 1), (1, 5, 2), (2, 5, 3)]
    assert len(out.strip().splitlines()) == 4  # header + one line per run
    code, out2, _ = run_cli(["show", str(store)], capsys)
    assert code == 0 and "circles" in out2 and len(out2.strip().splitlines()) == 4
    # a second identical command trains nothing and keeps the runs
    code, _, err = run_cli(["train", str(store), *SMALL, "--embedding-seeds",
                            "0:3", "--mlp-seeds", "5", "--split-seeds", "1,2,3"], capsys)
    assert code == 0 and "3 of 3 runs already" in err
    assert len(load(store)) == 3
    # train is a one-spec sweep: its record counts the runs, and a held lock refuses it
    code, out3, _ = run_cli(["sweep", "status", str(store)], capsys)
    assert code == 0 and re.search(r"sweep 'train-[0-9a-f]{10}': 3 / 3 runs complete", out3)
    from circle_survival.sweep import lock

    monkeypatch.setattr(lock, "LOCK_WAIT_SECONDS", 0.3)
    with StoreLock(store, "other"):
        code, _, err = run_cli(["train", str(store), *SMALL, "--seeds", "7"], capsys)
    assert code == 2 and "in use by another sweep" in err and len(load(store)) == 3


def test_toml_config_and_grid(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('p = 11\nd = 6\nhidden = [12]\nsteps = 10\nembedding_seeds = "0:2"\n'
                   'mlp_seeds = [0, 1]\n')
    code, _, err = run_cli(["train", "--config", str(cfg), str(tmp_path / "s"),
                            "--grid", "--quiet", "--lr", "0.02"], capsys)
    assert code == 0, err
    runs = load(tmp_path / "s").runs
    assert len(runs) == 4 and set(runs.lr) == {0.02} and set(runs.d) == {6}


@pytest.mark.parametrize("argv, message", [
    (["--p", "2"], "p must be an integer >= 3"),
    (["--d", "0"], "d must be >= 1"),
    (["--steps", "0"], "steps must be >= 1"),
    (["--dtype", "float16"], "unknown dtype 'float16'"),
    (["--activation", "swish"], "unknown activation 'swish'"),
    (["--device", "cuda:0"], "CUDA is not available"),
    (["--device", "tpu"], "unknown device"),
    (["--seeds", "3:1"], "no seeds in '3:1'"),
    (["--embedding-seeds", "0:3", "--mlp-seeds", "0:2"], "seeds.mlp: 2 values"),
    (["--hidden", "a,b"], "hidden: expected comma-separated integers"),
    (["--p", "x"], "Invalid value for '--p'"),
    (["--bogus"], "No such option"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, argv, message):
    if "cuda" in " ".join(argv):
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA present")
    store = tmp_path / "s"
    code, _, err = run_cli(["train", str(store), "--quiet", *argv], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not store.exists()


def test_bad_files_and_stores(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("p = [\n")
    code, _, err = run_cli(["train", "--config", str(bad), str(tmp_path / "x")],
                           capsys)
    assert code == 2 and "malformed TOML" in err and not (tmp_path / "x").exists()
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("q = 3\n")
    code, _, err = run_cli(["train", "--config", str(unknown), str(tmp_path / "x")],
                           capsys)
    assert code == 2 and "unknown config field 'q'" in err
    code, _, err = run_cli(["train", "--config", str(tmp_path / "nope.toml"), str(tmp_path / "x")],
                           capsys)
    assert code == 2 and "config file not found" in err
    # a store holding runs of another config
    store = tmp_path / "s"
    train_to_store(RunConfig(p=11, d=6, hidden=(12,), steps=5), store)
    code, _, err = run_cli(["train", str(store), "--p", "11", "--d", "7",
                            "--hidden", "12", "--steps", "5", "--quiet"], capsys)
    assert code == 2 and "holds runs of another config (differs in: d)" in err
    assert len(load(store)) == 1
    code, _, err = run_cli(["show", str(tmp_path)], capsys)
    assert code == 2 and "not a circle-survival store" in err


def test_entry_point_runs_as_a_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "circle_survival", "train", str(tmp_path / "x"),
                          "--p", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip() == "error: p must be an integer >= 3, got 1"


def test_show_formats_and_version(tmp_path, capsys):
    import json

    store = tmp_path / "s"
    train_to_store([RunConfig(p=11, d=6, hidden=(12,), steps=10, embedding_seed=s)
                    for s in range(2)], store)
    runs = load(store).runs.sort_values("embedding_seed")
    code, out, _ = run_cli(["show", store, "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == list(runs.index)
    assert [r["circles"] for r in rows] == [[int(c) for c in cs] for cs in runs.circles]
    assert [r["test_loss"] for r in rows] == pytest.approx(list(runs.test_loss))
    code, out, _ = run_cli(["show", store, "-f", "csv"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("run_id,embedding_seed,") and len(lines) == 3
    code, _, err = run_cli(["show", store, "--format", "xml"], capsys)
    assert code == 2 and "--format" in err
    code, out, _ = run_cli(["--version"], capsys)
    from circle_survival import __version__

    assert code == 0 and out.strip() == f"circle-survival {__version__}"


@pytest.mark.parametrize("argv", [["train"], ["reproduce"], ["ablate"], ["sweep", "run"],
                                  ["plot"], ["show"]])
def test_help_names_the_store_alike_and_has_no_bool_metavars(capsys, argv):
    code, out, _ = run_cli([*argv, "--help"], capsys)
    assert code == 0 and "<bool>" not in out
    if argv[0] != "show":
        assert "STORE" in out.split("Options:")[0]
    assert "--store" not in out


def test_train_reads_the_store_once_and_prints_its_runs(tmp_path, capsys, monkeypatch):
    import circle_survival.sweep.run as sweep_run

    store = tmp_path / "s"
    code, out, err = run_cli(["train", store, *SMALL, "--seeds", "0:2"], capsys)
    assert code == 0, err
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert [r[1:4] for r in rows] == [["0", "0", "0"], ["1", "1", "1"]]  # seeds as integers
    reads = []
    real_load = sweep_run.load
    monkeypatch.setattr(sweep_run, "load", lambda *a, **k: reads.append(a) or real_load(*a, **k))
    code, out, err = run_cli(["train", store, *SMALL, "--seeds", "0:3"], capsys)
    assert code == 0 and "2 of 3 runs already in" in err and "training 1" in err
    assert len(reads) == 1  # before the lock; under it the store had not changed
    assert [line.split()[1] for line in out.strip().splitlines()[1:]] == ["0", "1", "2"]


def test_train_options_come_from_the_config_fields(capsys):
    from dataclasses import fields

    from circle_survival.commands.train import NOT_OPTIONS

    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    for f in fields(RunConfig):
        option = "--" + f.name.replace("_", "-")
        offered = re.search(rf"{option}(?![\w-])", out) is not None
        assert offered == (f.name not in NOT_OPTIONS), f.name
    assert "--p <int> Modulus (>= 3). [59]" in text
    assert "--hidden <str> Hidden widths, e.g. 100,100. [100,100]" in text
    assert "Activation: silu, relu, gelu or tanh. [silu]" in text
    assert "--freeze-embedding / --no-freeze-embedding Keep the embedding fixed. [off]" in text
    assert "auto, cpu, cuda or cuda:N" in text
