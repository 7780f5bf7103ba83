"""``circle-survival sweep``: plan, run and status output; bad specs exit 2 with one line."""

import sys

import pytest
from cli_runner import run_cli

from circle_survival import load

SPEC = """
name = "cmd"
[base]
p = 11
d = 8
hidden = [16]
steps = 20
device = "cpu"
[axes]
d = [8, 12]
[seeds]
embedding = "0:3"
mlp = "0:3"
"""


# tiny models train fastest on one thread (conftest.py's fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def spec(tmp_path):
    f = tmp_path / "cmd.toml"
    f.write_text(SPEC)
    return f


def test_plan_trains_nothing(spec, tmp_path, capsys):
    code, out, err = run_cli(["sweep", "plan", str(spec), "--max-batch", "2"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "sweep 'cmd': 6 runs in 4 batches (2 shape(s), up to 2 models per batch)"
    assert "  d=8: 3 runs, 2 batch(es), 20 steps, float64, device cpu" in lines
    assert any(line.startswith("estimated time on this machine: ") for line in lines)
    assert "ms per model-step" in out
    assert any(line.startswith("estimated disk: ") and "signals" in line for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmd.toml"]


def test_run_then_status(spec, tmp_path, capsys):
    store = tmp_path / "store"
    code, out, err = run_cli(["sweep", "run", str(spec), str(store), "--max-batch",
                              "2", "--quiet"], capsys)
    assert code == 0, err
    assert out.strip() == f"sweep 'cmd': trained 6 runs here; 6 of 6 complete in {store}"
    assert len(load(store)) == 6
    code, out, err = run_cli(["sweep", "status", str(store)], capsys)
    assert code == 0, err
    assert out.splitlines() == [
        f"{store}: 6 complete runs",
        "sweep 'cmd': 6 / 6 runs complete (100%)",
        "partial batches: 0 (0 being written, 0 left by dead processes; the next run resumes "
        "or removes them)",
        "batches being trained: 0",
        "setting up: no",
    ]
    code, out, err = run_cli(["sweep", "run", str(spec), str(store)], capsys)
    assert code == 0 and out.strip() == f"sweep 'cmd': all 6 runs already complete in {store}"


def test_run_shows_progress(spec, tmp_path, capsys):
    code, _, err = run_cli(["sweep", "run", str(spec), str(tmp_path / "s"),
                            "--max-batch", "3"], capsys)
    assert code == 0 and "6/6 runs" in err and "runs/min" in err


@pytest.mark.parametrize("toml, message", [
    ('name = "x"\n[axes]\nd = []\n', "axes.d: empty axis"),
    ('name = "x"\n[base]\nlrr = 0.1\n', "base: unknown config field 'lrr'"),
    ('name = "x"\n[axes]\nwidth = [1]\n', "axes: unknown config field 'width'"),
    ('name = "x"\ntypo = 1\n', "unknown sweep field 'typo'"),
    ('name = "x"\n[axes]\nd = [8, "wide"]\n', "d must be an integer"),
    ('name = "x"\n[axes]\nd = [8, 16]\nlr = [0.1]\n[combine]\nmode = "zip"\n',
     "zip axes must have equal lengths"),
    ('name = "x"\n[seeds]\nembedding = "0:3"\nmlp = "0:2"\n', "seeds.mlp"),
    ('name = "x"\n[axes\n', "malformed TOML"),
])
def test_bad_specs_exit_2_with_one_line(tmp_path, capsys, toml, message):
    f = tmp_path / "bad.toml"
    f.write_text(toml)
    store = tmp_path / "store"
    for argv in (["sweep", "plan", str(f)], ["sweep", "run", str(f), str(store)]):
        code, out, err = run_cli(argv, capsys)
        assert code == 2
        assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not store.exists()


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "workers must be >= 1"),
    (["--max-batch", "0"], "max-batch must be >= 1"),
    (["--executor", "pbs"], "executor must be one of local, ray, slurm"),
    (["--address", "auto"], "only with --executor ray"),
    (["--slurm-mem", "4G"], "--slurm-mem applies only with --executor slurm"),
    (["--executor", "slurm", "--slurm-opt", "=x"], "a slurm option must be KEY=VALUE"),
    (["--executor", "slurm", "--slurm-mem", "lots"], "slurm mem must be like 4G"),
    (["--executor", "slurm", "--slurm-time", "1:2:3:4"], "time"),
    (["--executor", "ray", "--workers", "2"], "--workers applies only with --executor local"),
])
def test_bad_options(spec, tmp_path, capsys, argv, message):
    code, _, err = run_cli(["sweep", "run", str(spec), str(tmp_path / "s"), *argv],
                           capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_ray_missing_says_how_to_install(spec, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, _, err = run_cli(["sweep", "run", str(spec), str(tmp_path / "s"),
                            "--executor", "ray"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "pip install 'circle-survival[ray]'" in err
    assert not (tmp_path / "s").exists()


def test_status_of_a_missing_store(tmp_path, capsys):
    code, _, err = run_cli(["sweep", "status", str(tmp_path / "nothing")], capsys)
    assert code == 2 and "no store at" in err


def test_plan_gives_the_wall_clock_of_the_executor(spec, capsys):
    code, out, err = run_cli(["sweep", "plan", str(spec), "--max-batch", "1", "--executor",
                              "slurm", "--slurm-batches-per-task", "2", "--parallel", "2"],
                             capsys)
    assert code == 0, err
    assert "wall-clock on slurm: about" in out and "(3 array tasks, 2 at once;" in out
    code, out, _ = run_cli(["sweep", "plan", str(spec), "--executor", "ray", "--parallel",
                            "4"], capsys)
    assert code == 0 and "wall-clock on ray: about" in out
    code, _, err = run_cli(["sweep", "plan", str(spec), "--parallel", "0"], capsys)
    assert code == 2 and "--parallel must be >= 1" in err
