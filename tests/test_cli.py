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
    assert "--p <int> Modulus (>= 3). [default: 59]" in text
    assert "--hidden <str> Hidden widths, e.g. 100,100. [default: 100,100]" in text
    assert "Activation: silu, relu, gelu or tanh. [default: silu]" in text
    assert ("--freeze-embedding / --no-freeze-embedding Keep the embedding fixed. "
            "[default: off]") in text
    assert "auto, cpu, cuda or cuda:N" in text


# -- one convention in every --help -------------------------------------------------------
#: the placeholders of a value in --help: Typer's own, lower case in angle brackets
METAVAR = re.compile(r"<(?:int|float|str|path|list\[(?:int|float|str|path)\])>(?:\.\.\.)?")
#: the one way a default is shown: Typer's "[default: VALUE]" at the end of the help
#: ("[default: (what)]" for a default described rather than given)
DEFAULT = re.compile(r"\s*\[default: [^\n]*\]$")
#: the commands that write files (besides a store): each takes -o/--out DIR
WRITES_FILES = ("analyze", "plot", "gradient", "collaboration", "ode", "ode-r2", "reproduce",
                "report", "ablate", "explore", "ode-compare", "predict")


def command_tree():
    """(path, click command, context) of the root and every command and subcommand."""
    import typer

    from circle_survival.cli import app

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path, parent):
        ctx = type(root).context_class(cmd, info_name=path[-1] if path else "circle-survival",
                                       parent=parent)
        out.append((" ".join(path), cmd, ctx))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name], ctx)

    walk(root, [], None)
    return out


def convention_problems(path, cmd, ctx) -> list[str]:
    """What in ``cmd``'s --help departs from the one convention: every value a lower-case
    placeholder (<int>, <path>, ...), every default as "[default: ...]" and only there."""
    problems = []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        where = f"{path or 'circle-survival'} {names.split()[0]}"
        placeholders = re.findall(r"<[^>]*>(?:\.\.\.)?", names)
        if any(not METAVAR.fullmatch(m) for m in placeholders):
            problems.append(f"{where}: placeholder {placeholders} is not <int>, <path>, ...")
        takes_value = param.param_type_name == "argument" or not getattr(param, "is_flag", 0)
        if takes_value and not placeholders:
            problems.append(f"{where}: no <type> placeholder")
        own = DEFAULT.sub("", text.removesuffix("  [required]"))
        if re.search(r"\bdefault\b|\[[^\]]*\]$", own, re.IGNORECASE):
            problems.append(f"{where}: a default written in the help ({text!r}); give it "
                            "as show_default")
        shown = DEFAULT.search(text) is not None
        if (param.param_type_name == "option" and takes_value and param.default is not None
                and not param.multiple and not shown):
            problems.append(f"{where}: default {param.default!r} not shown")
    return problems


def test_every_help_follows_one_convention():
    tree = command_tree()
    assert {"train", "show", "sweep run", "sweep plan", "predict"} <= {p for p, _, _ in tree}
    problems = [p for path, cmd, ctx in tree for p in convention_problems(path, cmd, ctx)]
    assert not problems, "\n".join(problems)


def test_the_convention_check_finds_a_departure():
    import typer

    app = typer.Typer()

    @app.command()
    def bad(n: int = typer.Option(3, help="Count (default: 3)."),
            m: int = typer.Option(None, help="Width. [10]"),
            k: int = typer.Option(5, show_default=False)) -> None:
        """A command that breaks the convention three times."""

    cmd = typer.main.get_command(app)
    problems = convention_problems("bad", cmd, type(cmd).context_class(cmd, info_name="bad"))
    assert len(problems) == 3, problems


@pytest.mark.parametrize("path", ["", "train", "show", "analyze", "sweep plan", "sweep run",
                                  "sweep status", "predict", "verify"])
def test_every_command_takes_verbose_and_debug(path):
    cmd = dict((p, c) for p, c, _ in command_tree())[path]
    opts = {o for param in cmd.params for o in getattr(param, "opts", ())}
    assert {"-v", "--verbose", "--debug"} <= opts, path


def test_every_command_takes_the_log_options():
    for path, cmd, _ in command_tree():
        if getattr(cmd, "commands", None) and path:  # a group: its subcommands take them
            continue
        opts = {o for param in cmd.params for o in getattr(param, "opts", ())}
        assert {"-v", "--verbose", "--debug"} <= opts, path


def test_every_command_that_writes_files_takes_out():
    tree = {p: (c, ctx) for p, c, ctx in command_tree()}
    for path in WRITES_FILES:
        cmd, ctx = tree[path]
        out = [p for p in cmd.params if set(getattr(p, "opts", ())) >= {"-o", "--out"}]
        assert len(out) == 1, path
        assert out[0].get_help_record(ctx)[0].endswith("<path>"), path


@pytest.mark.parametrize("command", ["predict", "ode-compare"])
def test_predict_and_ode_compare_take_out_and_refuse_a_file(tmp_path, capsys, command):
    store = tmp_path / "s"
    train_to_store(RunConfig(p=11, d=6, hidden=(12,), steps=5), store)
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli([command, store, "-o", tmp_path / "file"], capsys)
    assert code == 2 and "--out" in err and "is a file" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_show_where_filters_the_runs_by_a_query(tmp_path, capsys):
    import json

    store = tmp_path / "s"
    train_to_store([RunConfig(p=11, d=6, hidden=(12,), steps=5, embedding_seed=s,
                              weight_decay=wd) for s in range(3) for wd in (0.001, 0.5)], store)
    code, out, err = run_cli(["show", store, "-f", "json", "--where",
                              "weight_decay > 0.01 and embedding_seed >= 1"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["embedding_seed"] for r in rows] == [1, 2]
    runs = load(store).runs
    assert {r["run_id"] for r in rows} == set(runs.query("weight_decay > 0.01 and "
                                                         "embedding_seed >= 1").index)
    code, out, _ = run_cli(["show", store, "-w", f"run_id == '{rows[0]['run_id']}'"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 2
    code, out, err = run_cli(["show", store, "-f", "json", "-w", "p > 100"], capsys)
    assert code == 0 and out.strip() == "[]" and "no run matches" in err
    for bad, message in [("nonsense > 1", "name 'nonsense' is not defined"),
                         ("weight_decay >", "invalid syntax"), ("embedding_seed", "not a "
                         "condition"), ("weight_decay > 'x'", "--where"), (" ", "empty")]:
        code, _, err = run_cli(["show", store, "--where", bad], capsys)
        assert code == 2 and message in err, (bad, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_report_takes_its_stores_as_paths(tmp_path, capsys):
    code, _, err = run_cli(["report", tmp_path / "nothing", "-o", tmp_path / "r"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(["report", " ", "-o", tmp_path / "r"], capsys)
    assert code == 2 and "path is empty" in err


def test_show_counts_circles_by_the_chosen_rule(tmp_path, capsys):
    import json

    store = tmp_path / "s"
    train_to_store([RunConfig(p=11, d=6, hidden=(12,), steps=5, embedding_seed=s)
                    for s in range(2)], store)
    runs = load(store).runs
    code, out, err = run_cli(["show", store, "-f", "json"], capsys)
    rows = json.loads(out)
    assert {r["circle_rule"] for r in rows} == {"2x-mean"}
    assert [r["n_circles"] for r in rows] == list(runs.sort_values("embedding_seed").n_circles)
    code, out, err = run_cli(["show", store, "-f", "json", "--circle-rule", "absolute:0"],
                             capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert {r["circle_rule"] for r in rows} == {"absolute:0"}
    assert [r["n_circles"] for r in rows] == [5, 5]  # every k of p = 11 is above 0
    assert [len(r["circles"]) for r in rows] == [5, 5]
    code, out, _ = run_cli(["show", store, "--circle-rule", "absolute:0", "-w",
                            "n_circles == 5"], capsys)  # --where sees the rule's count
    assert code == 0 and "circles (absolute:0)" in out
    assert all(rid in out for rid in runs.index)
    code, _, err = run_cli(["show", store, "--circle-rule", "absolute"], capsys)
    assert code == 2 and err.strip() == ("error: the circle rule 'absolute' needs a finite "
                                         "value: absolute:T")
