"""The Ray executor beside and on Rays of several processes, all on this machine: a Ray already
running here is neither joined nor disturbed by a sweep without an address; on a cluster of a
head and two worker nodes (``ray.cluster_utils.Cluster``), a worker node removed while it
trains a batch costs nothing: Ray reruns the task on another node, the rerun takes over the
dead worker's claim and resumes its checkpoint, and every run is committed exactly once, with
the arrays of an uninterrupted sweep."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from circle_survival import load
from circle_survival.store.layout import CHECKPOINT, StoreLayout
from circle_survival.sweep import SweepSpec, run_sweep, sweep_status
from circle_survival.sweep.claims import live_claims

ray = pytest.importorskip("ray", reason="ray is not installed (pip install "
                                        "'circle-survival[ray]')")
from test_sweep_ray import ray_temp_dir  # noqa: E402 - only with Ray

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc and Ray's process groups (Linux)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RAY_CLI = Path(sys.executable).with_name("ray")  # the `ray` command beside this Python


def ray_cli(*args: str, env: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAY_CLI), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def other_ray():
    """Someone else's Ray on this machine: ``ray start --head`` (1 CPU, its own ports, temp
    folder and process group, no token auth), found by this process through RAY_ADDRESS.
    Stopped by killing its process group: ``ray stop`` would stop every Ray on the machine."""
    if not RAY_CLI.is_file():
        pytest.skip(f"no ray command at {RAY_CLI}")
    temp = tempfile.mkdtemp(prefix="ray-other-", dir="/tmp")
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_AUTH_MODE"] = "disabled"
    log = open(Path(temp) / "start.log", "w")  # noqa: SIM115 - closed in the teardown
    proc = subprocess.Popen(
        [str(RAY_CLI), "start", "--head", "--block",
         "--port", address.split(":")[1], "--num-cpus", "1", "--disable-usage-stats",
         "--include-dashboard=false", "--temp-dir", temp,
         "--dashboard-port", str(free_port()),
         "--dashboard-agent-listen-port", str(free_port())],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in (text := (Path(temp) / "start.log").read_text()):
            assert proc.poll() is None, text
            assert time.monotonic() < deadline, f"the other Ray did not start in 60 s: {text}"
            time.sleep(0.2)
        up = ray_cli("status", "--address", address, env=env)
        assert up.returncode == 0, up.stderr
        yield address, env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
        subprocess.run(["rm", "-rf", temp], check=False)


def test_private_ray_leaves_a_running_ray_alone(tmp_path, other_ray, monkeypatch):
    import circle_survival.sweep.run as run_mod

    assert not ray.is_initialized()
    address, env = other_ray
    monkeypatch.setenv("RAY_ADDRESS", address)  # ray.init(address=None) would join it
    seen = {}
    real_run_ray = run_mod.run_ray

    def spy(*args, **kwargs):
        seen["gcs"] = ray.get_runtime_context().gcs_address
        seen["nodes"] = len(ray.nodes())
        return real_run_ray(*args, **kwargs)

    monkeypatch.setattr(run_mod, "run_ray", spy)
    spec = SweepSpec.from_dict({"name": "private", "base": {"p": 11, "d": 8, "hidden": [16],
                                                           "steps": 20, "device": "cpu"},
                                "seeds": {"embedding": "0:2"}})
    with ray_temp_dir():
        report = run_sweep(spec, tmp_path / "st", executor="ray", max_batch=1,
                           progress=False)
    assert sorted(report.trained) == sorted(spec.run_ids())
    assert not ray.is_initialized()  # the private Ray is shut down
    assert not seen["gcs"].endswith(":" + address.split(":")[1]) and seen["nodes"] == 1
    status = ray_cli("status", "--address", address, env=env)
    assert status.returncode == 0, status.stderr  # still up,
    assert "0.0/1.0 CPU" in status.stdout, status.stdout  # with its one CPU, idle


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture
def cluster():
    """A head and two worker nodes of 1 CPU each, their session folders removed after."""
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized()
    with ray_temp_dir():
        c = Cluster(initialize_head=True,
                    head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            workers = [c.add_node(num_cpus=1) for _ in range(2)]
            c.wait_for_nodes()
            yield c, workers
        finally:
            c.shutdown()


CLUSTER_SPEC = {"name": "cluster", "base": {"p": 11, "d": 8, "hidden": [16], "steps": 3000,
                                            "device": "cpu"},
                "seeds": {"embedding": "0:10"}}


def test_worker_node_removed_mid_batch(tmp_path, cluster, one_thread):
    c, workers = cluster
    spec = SweepSpec.from_dict(CLUSTER_SPEC)
    store = tmp_path / "st"
    out: dict = {}

    def sweep() -> None:
        try:
            out["report"] = run_sweep(spec, store, executor="ray", address=c.address,
                                      max_batch=2, progress=False, checkpoint_seconds=0.3)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out["error"] = exc

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    # a batch training on a worker node (its claim's process a child of that node's raylet)
    # that has saved a checkpoint
    raylets = {w.all_processes["raylet"][0].process.pid: w for w in workers}
    layout = StoreLayout(store)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        for claim in live_claims(store) if layout.claims.is_dir() else []:
            node = raylets.get(parent_pid(claim.pid))
            partials = layout.partials(claim.batch_id)
            if node is not None and partials and (partials[0] / CHECKPOINT).is_file():
                victim = claim, node, partials[0]
                break
        time.sleep(0.02)
    assert victim is not None, out.get("error") or "no batch was caught training on a worker"
    claim, node, partial = victim
    c.remove_node(node)
    assert not layout.is_complete(claim.batch_id)
    # who holds the batch from now on: never the dead worker again
    holders = set()
    deadline = time.monotonic() + 180
    while thread.is_alive():
        holders |= {h.pid for h in live_claims(store) if h.batch_id == claim.batch_id}
        assert time.monotonic() < deadline, "the sweep did not end within 180 s"
        time.sleep(0.05)
    if "error" in out:
        raise out["error"]
    assert holders - {claim.pid}  # (the dead worker's claim lasts until its zombie is gone)
    report = out["report"]
    assert sorted(report.trained) == sorted(spec.run_ids())
    # every run committed exactly once, in one batch
    counts = Counter(rid for d in layout.batch_dirs()
                     for rid in pq.read_table(d / "runs.parquet").column("run_id").to_pylist())
    assert sorted(counts) == sorted(spec.run_ids()) and set(counts.values()) == {1}
    # the rerun adopted the dead worker's partial batch (renamed it: nothing left in tmp/,
    # no checkpoint set aside)
    assert not partial.exists() and list(layout.tmp.iterdir()) == []
    assert [(s.complete, s.expected) for s in sweep_status(store).sweeps] == [(10, 10)]
    # the same arrays as a sweep nobody interrupted
    run_sweep(spec, tmp_path / "ref", max_batch=2, progress=False)
    a, b = load(tmp_path / "ref"), load(store)
    assert sorted(a.runs.batch_id.unique()) == sorted(b.runs.batch_id.unique())
    for rid in spec.run_ids():
        assert np.array_equal(a.signals(rid)[1], b.signals(rid)[1])
        assert np.array_equal(a.weights(rid)["embedding"], b.weights(rid)["embedding"])
    print(f"removed the node of pid {claim.pid} training batch {claim.batch_id}; then held "
          f"by {sorted(holders)} (this process: {os.getpid()})")
