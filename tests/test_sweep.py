"""Sweeps: expansion and ids, grid vs zip, seeds, batching, bad specs, resume after SIGKILL,
concurrent sweeps, local worker processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from circle_survival import ConfigError, RunConfig, StoreError, load
from circle_survival.sweep import (
    StoreLock,
    SweepSpec,
    estimate_disk,
    plan_sweep,
    read_holder,
    run_sweep,
    spec_from_configs,
    sweep_status,
)
from circle_survival.sweep.claims import live_claims

BASE = {"p": 11, "d": 8, "hidden": [16], "steps": 20, "device": "cpu"}

TOML = """
name = "tiny"
[base]
p = 11
d = 8
hidden = [16]
steps = 20
device = "cpu"
[axes]
d = [8, 12]
intervention = [{}, {kind = "scale", k = 2, alpha = 1.1}]
[seeds]
embedding = "0:3"
mlp = [0, 1, 2]
split = 4
[combine]
mode = "grid"
"""


# tiny models train fastest on one thread (conftest.py's fixture)
pytestmark = pytest.mark.usefixtures("one_thread")


def spec(**kw):
    return SweepSpec.from_dict({"name": "t", "base": BASE, **kw})


def test_expansion_order_and_stable_ids(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(TOML)
    s = SweepSpec.from_toml(f)
    configs = s.configs()
    assert len(s) == 2 * 2 * 3
    assert [c.run_id for c in configs] == s.run_ids()
    assert len(set(s.run_ids())) == len(s)
    # axis points outer (in axis order), seeds innermost, zipped with the split broadcast
    assert [(c.d, bool(c.intervention), c.embedding_seed, c.mlp_seed, c.split_seed)
            for c in configs[:4]] == [(8, False, 0, 0, 4), (8, False, 1, 1, 4),
                                      (8, False, 2, 2, 4), (8, True, 0, 0, 4)]
    assert configs[3].intervention == {"kind": "scale", "k": 2, "alpha": 1.1}
    # the ids come from RunConfig and survive re-expansion, to_dict and JSON
    assert s.run_ids() == [RunConfig.from_dict(c.to_dict()).run_id for c in configs]
    again = SweepSpec.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s and again.run_ids() == s.run_ids()
    assert SweepSpec.from_toml(f).run_ids() == s.run_ids()


def test_grid_versus_zip():
    axes = {"d": [8, 12, 16], "lr": [0.01, 0.02, 0.03]}
    grid = spec(axes=axes)
    zipped = spec(axes=axes, combine={"mode": "zip"})
    assert len(grid) == 9 and len(zipped) == 3
    assert [(c.d, c.lr) for c in zipped.configs()] == [(8, 0.01), (12, 0.02), (16, 0.03)]
    assert {(c.d, c.lr) for c in grid.configs()} == {(d, lr) for d in axes["d"]
                                                     for lr in axes["lr"]}
    assert spec(axes=axes, combine="zip") == zipped  # a string works as well as a table


def test_seeds():
    assert [(c.embedding_seed, c.mlp_seed, c.split_seed) for c in spec().configs()] == [
        (0, 0, 0)]
    zipped = spec(seeds={"embedding": "0:6:2", "mlp": "1,3,5", "split": 7})
    assert [(c.embedding_seed, c.mlp_seed, c.split_seed) for c in zipped.configs()] == [
        (0, 1, 7), (2, 3, 7), (4, 5, 7)]
    grid = spec(seeds={"embedding": [0, 1], "mlp": "0:3"}, seeds_combine="grid")
    assert len(grid) == 6 and {c.split_seed for c in grid.configs()} == {0}
    assert spec(seeds={"embedding": [0, 1], "mlp": "0:3"},
                combine={"mode": "grid", "seeds": "grid"}) == grid
    # an omitted source takes the base's seed; one value for all three sources
    assert {c.mlp_seed for c in spec(base={**BASE, "mlp_seed": 9},
                                     seeds={"embedding": "0:2"}).configs()} == {9}
    same = spec(seeds="0:3")
    assert [(c.embedding_seed, c.mlp_seed) for c in same.configs()] == [(0, 0), (1, 1), (2, 2)]



def test_spec_from_configs_trains_exactly_those_runs():
    configs = [RunConfig(**{**BASE, "hidden": (16,)}, embedding_seed=e, lr=lr)
               for e, lr in [(3, 0.01), (1, 0.02), (3, 0.01), (0, 0.01)]]
    spec = spec_from_configs("given", configs)
    unique = [configs[0], configs[1], configs[3]]  # the repeated run once, order kept
    assert spec.configs() == unique and spec.run_ids() == [c.run_id for c in unique]
    assert set(spec.axes) == {"embedding_seed", "lr"} and spec.combine == "zip"
    assert spec_from_configs("one", configs[:1]).configs() == configs[:1]
    with pytest.raises(ConfigError, match="no runs"):
        spec_from_configs("none", [])

def test_batches_by_shape():
    s = spec(axes={"d": [8, 12], "weight_decay": [0.1, 0.5]}, seeds={"embedding": "0:3"})
    batches = plan_sweep(s, max_batch=64)
    # d changes shapes (separate batches); weight decay is per model (shared batch)
    assert [len(b) for b in batches] == [6, 6]
    assert all(len({c.d for c in b}) == 1 for b in batches)
    assert [len(b) for b in plan_sweep(s, max_batch=4)] == [4, 2, 4, 2]
    done = {c.run_id for c in batches[0][:5]}
    assert [len(b) for b in plan_sweep(s, max_batch=4, done=done)] == [1, 4, 2]
    disk = estimate_disk(batches)
    assert disk["signals"] == 12 * 21 * 6 * 8 and disk["snapshots"] == 0


@pytest.mark.parametrize("data, field", [
    ({"nmae": "x"}, "nmae"),
    ({"base": {**BASE, "lrr": 0.1}}, "lrr"),
    ({"axes": {"dd": [8, 16]}}, "dd"),
    ({"axes": {"d": []}}, "axes.d"),
    ({"axes": {"d": 8}}, "axes.d"),
    ({"axes": {"d": [8, "x"]}}, "d must be an integer"),
    ({"axes": {"lr": [0.1, -1.0]}}, "lr must be > 0"),
    ({"base": {**BASE, "activation": "swish"}, "axes": {"d": [8]}}, "base: unknown activation"),
    ({"axes": {"intervention": [{"kind": "scale", "k": 99, "alpha": 1.0}]}}, "intervention"),
    ({"axes": {"d": [8, 12], "lr": [0.1]}, "combine": "zip"}, "d has 2, lr has 1"),
    ({"combine": "cross"}, "combine"),
    ({"seeds_combine": "cross"}, "seeds_combine"),
    ({"seeds": {"embeding": "0:2"}}, "embeding"),
    ({"seeds": {"mlp": "3:1"}}, "seeds.mlp"),
    ({"seeds": {"mlp": "a:b"}}, "seeds.mlp"),
    ({"seeds": {"embedding": "0:3", "mlp": "0:2"}}, "seeds.mlp"),
    ({"seeds": {"split": [-1]}}, "seeds.split"),
    ({"seeds": {"split": 0}, "base": {**BASE, "split_seed": 1}}, "split_seed"),
    ({"name": "a/b"}, "name"),
])
def test_bad_specs_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace("(", r"\(")):
        SweepSpec.from_dict({"name": "bad", "base": BASE, **data})


SLOW_TOML = """
name = "killme"
[base]
p = 11
d = 8
hidden = [16]
steps = 400
device = "cpu"
[seeds]
embedding = "0:4"
mlp = "0:4"
"""


def test_resume_after_sigkill(tmp_path):
    f = tmp_path / "killme.toml"
    f.write_text(SLOW_TOML)
    s = SweepSpec.from_toml(f)
    reference = tmp_path / "reference"
    run_sweep(s, reference, max_batch=1, progress=False)

    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "circle_survival", "sweep", "run", str(f), str(store),
         "--max-batch", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 60

        def wait_for(condition, what):
            while not condition():
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, f"sweep never {what}"
                time.sleep(0.005)

        def in_flight():
            return any((store / "batches").iterdir()) and any((store / "tmp").iterdir())

        # a live claim names the worker and its batch in flight
        wait_for(lambda: live_claims(store), "claimed a batch")
        assert live_claims(store)[0].pid == proc.pid
        wait_for(in_flight, "had a batch committed and another in flight")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()

    n_committed = len(list((store / "batches").iterdir()))
    assert 1 <= n_committed < 4
    assert list((store / "tmp").iterdir())  # the batch in flight is left partial ...
    assert len(load(store)) == n_committed  # ... and invisible to readers
    st = sweep_status(store)
    assert st.sweeps[0].complete == n_committed and st.sweeps[0].expected == 4
    assert st.lock_holder is None and len(st.partial_stale) == 1

    report = run_sweep(s, store, max_batch=1, progress=False)
    assert report.already == n_committed and len(report.trained) == 4 - n_committed
    assert not list((store / "tmp").iterdir())
    runs, ref = load(store), load(reference)
    assert sorted(runs.runs.index) == sorted(s.run_ids()) and runs.runs.index.is_unique
    assert len(list((store / "batches").iterdir())) == 4
    for rid in s.run_ids():
        assert np.array_equal(runs.signals(rid)[1], ref.signals(rid)[1])
        assert np.array_equal(runs.embeddings(rid)[400], ref.embeddings(rid)[400])


def test_lock_released_and_reported(tmp_path, monkeypatch):
    from circle_survival.sweep import lock

    monkeypatch.setattr(lock, "LOCK_WAIT_SECONDS", 0.3)  # a sweep waits this long for it
    s = spec(seeds={"embedding": "0:2"})
    store = tmp_path / "s"
    run_sweep(s, store, max_batch=1, progress=False)
    with StoreLock(store, "other"):
        with pytest.raises(StoreError, match=f"sweep 'other', pid {os.getpid()}"):
            run_sweep(s, store, progress=False)
        assert sweep_status(store).lock_holder["sweep"] == "other"
    assert sweep_status(store).lock_holder is None
    again = run_sweep(s, store, progress=False)  # free again; nothing left to train
    assert again.trained == [] and again.already == 2
    record = json.loads((store / "sweeps" / "t.json").read_text())
    assert record["run_ids"] == s.run_ids() and SweepSpec.from_dict(record["spec"]) == s


def test_local_workers_match_serial(tmp_path):
    s = spec(axes={"d": [8, 12]}, seeds={"embedding": "0:3"})
    run_sweep(s, tmp_path / "serial", max_batch=2, progress=False)
    report = run_sweep(s, tmp_path / "pool", max_batch=2, workers=2, progress=False)
    assert sorted(report.trained) == sorted(s.run_ids())
    a, b = load(tmp_path / "serial"), load(tmp_path / "pool")
    assert sorted(a.runs.index) == sorted(b.runs.index)
    for rid in s.run_ids():
        assert np.array_equal(a.signals(rid)[1], b.signals(rid)[1])


def test_bad_spec_writes_nothing(tmp_path):
    with pytest.raises(ConfigError):
        run_sweep(spec(), tmp_path / "s", workers=0)
    with pytest.raises(ConfigError, match="executor"):
        run_sweep(spec(), tmp_path / "s", executor="pbs")
    assert not Path(tmp_path / "s").exists()


def test_a_second_spec_under_the_same_name_keeps_the_first_record(tmp_path):
    store = tmp_path / "st"
    first, second = spec(seeds={"embedding": "0:2"}), spec(seeds={"embedding": "2:5"})
    run_sweep(first, store, progress=False)
    run_sweep(first, store, progress=False)  # the same spec again: one record
    assert [f.name for f in (store / "sweeps").glob("*.json")] == ["t.json"]
    run_sweep(second, store, progress=False)
    names = sorted(f.name for f in (store / "sweeps").glob("*.json"))
    (old,) = [n for n in names if n != "t.json"]
    assert len(names) == 2 and old.startswith("t~")
    kept = json.loads((store / "sweeps" / old).read_text())
    assert kept["run_ids"] == first.run_ids()
    assert json.loads((store / "sweeps" / "t.json").read_text())["run_ids"] == second.run_ids()
    progress = {p.name: (p.complete, p.expected) for p in sweep_status(store).sweeps}
    assert progress == {"t": (3, 3), old.removesuffix(".json"): (2, 2)}


def test_a_linked_lock_file_is_refused_and_its_target_kept(tmp_path):
    store = tmp_path / "s"
    run_sweep(spec(), store, progress=False)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (store / "sweep.lock").unlink()
    os.symlink(victim, store / "sweep.lock")
    with pytest.raises(StoreError, match="sweep.lock is a symbolic link"):
        run_sweep(spec(seeds={"embedding": "5"}), store, progress=False)
    assert victim.read_text() == "precious"
    assert read_holder(store) is None  # a link is not read either


def test_eight_processes_create_one_store_at_once(tmp_path):
    code = ("import sys, time\n"
            "from circle_survival.store import init_store\n"
            "start = float(sys.argv[1])\n"
            "for i in range(5):\n"
            "    time.sleep(max(0.0, start + 0.3 * i - time.time()))\n"
            "    init_store(sys.argv[2] + f'/store{i}')\n")
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", code, str(start), str(tmp_path)],
                              stderr=subprocess.PIPE) for _ in range(8)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    for i in range(5):
        assert len(load(tmp_path / f"store{i}")) == 0


def train_process(store, *argv):
    return subprocess.Popen(
        [sys.executable, "-m", "circle_survival", "train", str(store), "--p", "11",
         "--hidden", "12", "--steps", "300", "--quiet", "--seeds", "0:4", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ,
                                                                  "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("second", [["--d", "7"], ["--d", "6", "--max-batch", "1"]],
                         ids=["another config", "another batching"])
def test_two_trains_into_one_store_at_once(tmp_path, second):
    store = tmp_path / "s"
    procs = [train_process(store, "--d", "6", "--max-batch", "4"), train_process(store, *second)]
    errs = [p.communicate(timeout=300)[1].decode() for p in procs]
    for p, err in zip(procs, errs, strict=True):
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        # a refused train may first say what it found in the store, then one error line
        assert p.returncode == 0 or (p.returncode == 2 and len(errors) == 1
                                     and err.rstrip().endswith(errors[0])
                                     and ("in use by another sweep" in errors[0]
                                          or "holds runs of another config" in errors[0])), err
    runs = load(store).runs
    assert runs["d"].nunique() == 1 and len(runs) == 4
    rows = sum(len(pq.read_table(b / "runs.parquet")) for b in (store / "batches").iterdir())
    assert rows == 4  # every run committed once


def test_ray_failures_are_one_line():
    from circle_survival.sweep.executors import _ray_init

    class FakeRay:
        def init(self, **kwargs):
            raise Exception("The current node timed out during startup. This could happen "
                            "because some of the raylet failed to startup.")

    with pytest.raises(ConfigError, match="cannot start or reach Ray locally: The current "
                                          "node timed out.*too busy") as exc:
        _ray_init(FakeRay(), None)
    assert "\n" not in str(exc.value)


def test_progress_bar_never_passes_the_total():
    from circle_survival.sweep.executors import BatchCredit, ProgressBar

    bar = ProgressBar(total=4, done=1, enabled=True)
    batches = [[RunConfig(steps=3)] * 3]
    credit = BatchCredit(bar, batches)
    for n in (1, 1, 1, 1, 1):  # more steps reported than the batch has
        credit.steps(0, n)
        assert 0 <= bar.count <= 4 and bar.bar.n <= 4
    bar.add(0.1 + 0.2)  # float residues past the total
    credit.finished(0)
    bar.add(1e-12)
    assert bar.count == 4 and bar.bar.n == 4
    bar.close()


def test_progress_bar_shows_a_rate_even_when_every_update_is_within_tqdms_interval(capsys):
    """tqdm has no rate of its own until an update falls outside its refresh interval; the
    bar then shows the mean rate since it started."""
    from circle_survival.sweep.executors import ProgressBar

    bar = ProgressBar(total=6, done=0, enabled=True)
    bar.bar.mininterval = 3600.0  # no update ever outside tqdm's interval
    bar.start_time -= 60.0  # started a minute ago: 3 runs in a minute
    bar.add(3)
    assert bar.bar.format_dict.get("rate") is None
    bar.add(3)
    bar.close()
    err = capsys.readouterr().err
    assert "6/6 runs" in err and "6.0/6" not in err
    assert "6.0 runs/min" in err or "5.9 runs/min" in err, err


def test_wall_clock_is_the_best_greedy_schedule_and_bounded():
    import itertools

    from circle_survival.sweep import per_task, wall_clock

    jobs = [5.0, 3.0, 3.0, 2.0, 2.0, 2.0]
    assert wall_clock(jobs, 1) == sum(jobs)
    assert wall_clock(jobs, 100) == max(jobs)
    assert wall_clock([], 4) == 0.0
    # two workers: no schedule beats 9, the longest-first greedy one reaches it
    best = min(max(sum(j for j, w in zip(jobs, ws, strict=True) if w == k) for k in (0, 1))
               for ws in itertools.product((0, 1), repeat=len(jobs)))
    assert best == 9.0 and wall_clock(jobs, 2) == best
    for n in (2, 3, 4):  # never below the work per worker, nor the longest job
        assert max(max(jobs), sum(jobs) / n) <= wall_clock(jobs, n) <= sum(jobs)
    assert per_task(jobs, 4) == [13.0, 4.0] and per_task(jobs, 1) == jobs


def test_batch_seconds_follow_the_work():
    from circle_survival.sweep import batch_seconds

    small = [RunConfig(**BASE, embedding_seed=i) for i in range(2)]
    big = [RunConfig(**{**BASE, "steps": 60}, embedding_seed=i) for i in range(2)]
    got = batch_seconds([small, big], 8.0)
    assert got == pytest.approx([2.0, 6.0]) and sum(got) == pytest.approx(8.0)


def test_progress_bar_counts_whole_runs():
    from circle_survival.sweep.executors import BatchCredit, ProgressBar

    bar = ProgressBar(total=3, done=0, enabled=True)
    credit = BatchCredit(bar, [[RunConfig(steps=10)] * 3])
    credit.steps(0, 5)  # half the batch: 1.5 runs, shown as 1
    assert bar.count == 1.5 and bar.bar.n == 1
    credit.steps(0, 4)
    assert bar.bar.n == 2  # 2.7 runs: still short of 3, never 99.9% shown as done
    credit.finished(0)
    assert bar.bar.n == 3 and isinstance(bar.bar.n, int)
    bar.close()
