"""The SLURM executor against a real single-node SLURM started by scripts/slurm-up.sh (no
mocks): a job array equal to training in-process, the dry run, a task cancelled mid-batch and
the rerun, a task signalled as at its time limit, requeued and resumed from its checkpoint.

Needs root, Debian's slurm-wlm and munge, and submitit (``pip install '.[slurm]'``); without
them the cluster tests are skipped, and a cluster that does not come up fails them.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from circle_survival import ConfigError, RunConfig, load
from circle_survival.store import init_store
from circle_survival.store.layout import CHECKPOINT, StoreLayout, batch_id_for
from circle_survival.sweep.batch_runner import train_batch
from circle_survival.sweep.executors import BatchCredit, ProgressBar
from circle_survival.sweep.slurm import (
    SlurmOptions,
    SlurmTaskError,
    default_log_dir,
    parse_slurm_opt,
    run_slurm,
    time_minutes,
)

pytestmark = pytest.mark.slurm
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
LONG = 25_000  # steps of the batch that is interrupted: about 12 s on one thread
POLL = 0.3


def tiny(mlp: int, steps: int = 50) -> list[RunConfig]:
    return [RunConfig(p=7, d=8, hidden=(8,), steps=steps, device="cpu", embedding_seed=e,
                      mlp_seed=mlp) for e in (0, 1)]


def bid(batch: list[RunConfig]) -> str:
    return batch_id_for([c.run_id for c in batch])


def free_port_pair() -> int:
    """A port p with p and p + 1 free (slurmctld's and slurmd's)."""
    for port in range(21_817, 22_817, 2):
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("", port))
                b.bind(("", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free pair of ports for SLURM")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A single-node SLURM for this module; SLURM_CONF points at it."""
    missing = [t for t in ("sbatch", "slurmctld", "slurmd", "munged") if not shutil.which(t)]
    if missing:
        pytest.skip(f"SLURM is not installed (no {', '.join(missing)}): "
                    "apt-get install -y slurm-wlm munge")
    pytest.importorskip("submitit", reason="submitit is not installed: "
                                           "pip install 'circle-survival[slurm]'")
    if os.geteuid() != 0:
        pytest.skip("scripts/slurm-up.sh runs SLURM's daemons as root")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "CIRCLE_SURVIVAL_SLURM_PORT": str(free_port_pair())}
    down = [str(SCRIPTS / "slurm-down.sh"), str(state)]
    up = subprocess.run([str(SCRIPTS / "slurm-up.sh"), str(state)], env=env,
                        capture_output=True, text=True, timeout=120)
    if up.returncode != 0:
        subprocess.run(down, capture_output=True, timeout=60)
        pytest.fail(f"scripts/slurm-up.sh failed ({up.returncode}): {up.stderr.strip()}")
    assert up.stdout.splitlines()[-1] == f"export SLURM_CONF={state}/slurm.conf"
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    yield state
    subprocess.run(down, check=True, capture_output=True, timeout=60)
    if before is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = before


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The long batch trained in-process, uninterrupted, on one thread (as the tasks)."""
    store = tmp_path_factory.mktemp("reference") / "store"
    init_store(store)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_batch(tiny(9, LONG), store)
    finally:
        torch.set_num_threads(before)
    return load(store)


def new_store(path: Path) -> Path:
    init_store(path)
    return path


def queue() -> list[tuple[str, str]]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%r"], capture_output=True,
                         text=True, check=True).stdout
    return [tuple(line.split("|", 1)) for line in out.split()]


def wait_for(what, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, f"timed out waiting for {what.__doc__}"
        time.sleep(0.1)
    return found


def checkpoint_of(store: Path, batch: list[RunConfig]):
    """the checkpoint of a batch in flight"""
    return [d for d in StoreLayout(store).partials(bid(batch)) if (d / CHECKPOINT).is_file()]


class Background(threading.Thread):
    """run_slurm in a thread, while the test acts on the cluster."""

    def __init__(self, *args, **kwargs):
        super().__init__(daemon=True)
        self.args, self.kwargs, self.result, self.error = args, kwargs, None, None
        self.start()

    def run(self):
        try:
            self.result = run_slurm(*self.args, poll_seconds=POLL, timeout_seconds=150,
                                    **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def outcome(self):
        self.join(180)
        assert not self.is_alive(), "run_slurm did not return"
        return self.result, self.error


def assert_same_runs(store: Path, refs: list, batches) -> None:
    """Every run of ``batches`` committed once, its records equal to those in ``refs``."""
    got = load(store)
    ids = [c.run_id for b in batches for c in b]
    assert got.runs.index.is_unique and sorted(got.runs.index) == sorted(ids)
    assert len(StoreLayout(store).batch_dirs()) == len(batches)
    assert not StoreLayout(store).partials()
    for rid in ids:
        ref = next(r for r in refs if rid in r.runs.index)
        assert np.array_equal(got.signals(rid)[1], ref.signals(rid)[1]), rid
        assert np.array_equal(got.metrics(rid).to_numpy(), ref.metrics(rid).to_numpy())
        a, b = got.weights(rid), ref.weights(rid)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def resumed_step(out: str, batch: list[RunConfig]) -> int:
    """The step a task's log says the batch resumed at."""
    return int(out.split(f"batch {bid(batch)}: resumed at step ")[1].split()[0])


def train_here(store: Path, batches) -> Path:
    new_store(store)
    for b in batches:
        train_batch(b, store)
    return store


def test_job_array_matches_in_process(slurm, tmp_path, capfd, one_thread):
    batches = [tiny(m, steps=200) for m in range(4)]
    ref = train_here(tmp_path / "ref", batches)
    store = new_store(tmp_path / "store")
    bar = ProgressBar(8, 0, enabled=False)
    t0 = time.monotonic()
    trained = run_slurm(batches, store, SlurmOptions(time=5), BatchCredit(bar, batches),
                        poll_seconds=POLL, checkpoint_seconds=1)
    print(f"4 tasks in {time.monotonic() - t0:.1f} s")
    assert sorted(trained) == sorted(c.run_id for b in batches for c in b)
    assert bar.count == 8
    assert_same_runs(store, [load(ref)], batches)
    logs = default_log_dir(store)
    assert len(list(logs.glob("*_submission.sh"))) == 1  # one array of 4 tasks
    assert "#SBATCH --array=0-3%4" in next(logs.glob("*_submission.sh")).read_text()
    # nothing more to do: nothing submitted, nothing trained
    assert run_slurm(batches, store, SlurmOptions(time=5), poll_seconds=POLL) == []
    assert len(list(logs.glob("*_submission.sh"))) == 1
    assert "sacct" not in "".join(capfd.readouterr())


def test_dry_run_prints_the_script_and_submits_nothing(slurm, tmp_path, capsys):
    store = new_store(tmp_path / "store")
    options = SlurmOptions(partition="debug", time="1:30:00", cpus_per_task=2, mem="2G",
                           account="lab", qos="short", batches_per_task=2, max_array_parallel=1,
                           setup=("module load cuda",),
                           extra=dict(map(parse_slurm_opt, ["comment=dry run", "exclusive"])))
    assert run_slurm([tiny(0), tiny(1), tiny(2)], store, options, dry_run=True) == []
    script = capsys.readouterr().out
    for line in ["#SBATCH --array=0-1%1", "#SBATCH --partition=debug", "#SBATCH --time=90",
                 "#SBATCH --cpus-per-task=2", "#SBATCH --mem=2G", "#SBATCH --account=lab",
                 "#SBATCH --qos=short", "#SBATCH --comment='dry run'", "#SBATCH --exclusive",
                 "#SBATCH --requeue", "#SBATCH --signal=USR2@90", "module load cuda",
                 "-m submitit.core._submit", "3 batches (6 runs)"]:
        assert line in script, line
    assert script.startswith("#!/bin/bash\n")
    assert queue() == [] and not default_log_dir(store).exists()
    assert not list(StoreLayout(store).batches.iterdir())


def test_cancelled_task_is_reported_and_a_rerun_completes(slurm, tmp_path, reference,
                                                          one_thread):
    long = tiny(9, LONG)
    batches = [tiny(0), tiny(1), long]
    store = new_store(tmp_path / "store")
    run = Background(batches, store, SlurmOptions(time=5), checkpoint_seconds=0.5)
    wait_for(lambda: checkpoint_of(store, long))
    array = queue()[0][0].split("_")[0]
    subprocess.run(["scancel", f"{array}_2"], check=True)
    trained, error = run.outcome()
    assert isinstance(error, SlurmTaskError), (trained, error)
    message = str(error)
    log = default_log_dir(store) / f"{array}_2_0_log.err"
    assert "\n" not in message and log.is_file()
    assert f"1 of 3 batches did not complete in SLURM job array {array}" in message
    assert f"batch {bid(long)} (task 2, CANCELLED, log {log}" in message
    assert sorted(error.trained) == sorted(c.run_id for b in batches[:2] for c in b)
    assert error.failed == [(bid(long), log)]
    assert checkpoint_of(store, long)  # kept for the rerun
    # the rerun submits the missing batch alone, which resumes from its checkpoint
    trained = run_slurm(batches, store, SlurmOptions(time=5), poll_seconds=POLL,
                        checkpoint_seconds=0.5)
    assert trained == [c.run_id for c in long]
    [out] = [p.read_text() for p in default_log_dir(store).glob("*_0_log.out")
             if not p.name.startswith(f"{array}_")]  # the rerun: one task, a plain job
    assert 0 < resumed_step(out, long) < LONG
    ref = train_here(tmp_path / "ref", batches[:2])
    assert_same_runs(store, [load(ref), reference], batches)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_failed_task_is_reported_with_its_error(slurm, tmp_path):
    store = new_store(tmp_path / "store")
    cuda = [c.replace(device="cuda") for c in tiny(5)]
    with pytest.raises(SlurmTaskError) as caught:
        run_slurm([tiny(0), cuda], store, SlurmOptions(time=5), poll_seconds=POLL)
    message = str(caught.value)
    [(failed, log)] = caught.value.failed
    assert failed == bid(cuda) and log.is_file() and "\n" not in message
    assert f"batch {failed} (task 1, FAILED, log {log}: circle_survival.errors.ConfigError: " \
           "device 'cuda' requested but CUDA is not available" in message
    assert caught.value.trained == [c.run_id for c in tiny(0)]
    assert sorted(load(store).runs.index) == sorted(caught.value.trained)


def test_requeued_task_resumes_from_its_checkpoint(slurm, tmp_path, reference, one_thread):
    long = tiny(9, LONG)
    batches = [tiny(3), long, tiny(4)]
    store = new_store(tmp_path / "store")
    run = Background(batches, store, SlurmOptions(time=5, batches_per_task=2),
                     checkpoint_seconds=0.5)
    wait_for(lambda: checkpoint_of(store, long))
    task = f"{queue()[0][0].split('_')[0]}_0"
    # what SLURM sends signal_margin_s before the time limit (to the job's steps)
    subprocess.run(["scancel", "--signal=USR2", task], check=True)
    wait_for(lambda: (task, "PENDING|BeginTime") in queue())  # requeued, held
    subprocess.run(["scontrol", "update", f"jobid={task}", "StartTime=now"], check=True)
    trained, error = run.outcome()
    assert error is None, error
    assert sorted(trained) == sorted(c.run_id for b in batches for c in b)
    out = (default_log_dir(store) / f"{task}_0_log.out").read_text()
    assert "requeued: the batch in flight resumes" in out
    assert f"batch {bid(batches[0])}: already complete, skipped" in out
    assert 0 < resumed_step(out, long) < LONG
    attempts = (default_log_dir(store) / f"{task}_attempts.txt").read_text().splitlines()
    assert len(attempts) == 2
    ref = train_here(tmp_path / "ref", [batches[0], batches[2]])
    assert_same_runs(store, [load(ref), reference], batches)


# -- without a cluster ----------------------------------------------------------------------

def test_time_and_options():
    assert [time_minutes(t) for t in (5, "5", "90:30", "1:30:00", "2-0", "1-01:02",
                                      "0-0:1:1")] == [5, 5, 91, 90, 2880, 1502, 2]
    for bad in ("", "1:2:3:4", "x", "0", True, "0:30", -3):
        with pytest.raises(ConfigError, match="slurm time"):
            time_minutes(bad)
    assert parse_slurm_opt("--mail_type=END") == ("mail-type", "END")
    assert parse_slurm_opt("exclusive") == ("exclusive", True)
    for bad, why in [("=x", "KEY=VALUE"), ("constraint=", "KEY=VALUE"), ("a b=1", "KEY=VALUE"),
                     ("array=0-3", "set by the executor"), ("time=5", "a setting of its own")]:
        with pytest.raises(ConfigError, match=why):
            parse_slurm_opt(bad)
    for bad in [{"cpus_per_task": 0}, {"batches_per_task": None}, {"mem": "4 GB"},
                {"max_array_parallel": 0}, {"gpus_per_task": 1.5}, {"extra": {"output": "x"}}]:
        with pytest.raises(ConfigError):
            SlurmOptions(**bad)
    params = SlurmOptions(time=1, signal_margin_s=90, gpus_per_task=1).sbatch_parameters(3)
    assert params["signal_delay_s"] == 30 and params["gpus_per_task"] == 1


def test_missing_sbatch_or_submitit_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    store = new_store(tmp_path / "store")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"needs SLURM's sbatch, squeue, scancel, srun on PATH"):
        run_slurm([tiny(0)], store, SlurmOptions())
    monkeypatch.setitem(__import__("sys").modules, "submitit", None)
    with pytest.raises(ConfigError, match=r"pip install 'circle-survival\[slurm\]'"):
        run_slurm([tiny(0)], store, SlurmOptions())
