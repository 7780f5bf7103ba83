"""Many writers on one store: several ``sweep run`` processes share the batches, each killed
(SIGKILL) at random moments and started again; the store ends with every run exactly once,
bit-identical to a store one process trained without interruption."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from circle_survival import load
from circle_survival.sweep import SweepSpec, run_sweep, sweep_status

SPEC = """
name = "shared"
[base]
p = 11
d = 6
hidden = [12]
steps = 400
device = "cpu"
embedding_steps = [200]
[seeds]
embedding = "0:8"
mlp = "0:8"
split = "0:8"
"""


def worker(spec_file, store):
    """One ``sweep run`` process of one thread, one model per batch."""
    return subprocess.Popen(
        [sys.executable, "-m", "circle_survival", "sweep", "run", str(spec_file), str(store),
         "--max-batch", "1", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"})


def rows_per_run(store):
    """How many times each run id appears over every committed batch's table."""
    counts: dict[str, int] = {}
    for b in (store / "batches").iterdir():
        for rid in pq.read_table(b / "runs.parquet").column("run_id").to_pylist():
            counts[rid] = counts.get(rid, 0) + 1
    return counts


@pytest.mark.parametrize("n_workers", [3])
def test_workers_killed_at_random_share_one_store_exactly_once(tmp_path, n_workers):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    spec = SweepSpec.from_toml(spec_file)
    reference = tmp_path / "reference"
    run_sweep(spec, reference, max_batch=1, progress=False)
    store = tmp_path / "store"
    rng = random.Random(7)
    procs = [worker(spec_file, store) for _ in range(n_workers)]
    kills, deadline = 0, time.monotonic() + 240
    try:
        while kills < 6 and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 2.5))
            i = rng.randrange(n_workers)
            if procs[i].poll() is None:
                procs[i].send_signal(signal.SIGKILL)
                procs[i].wait(10)
                procs[i].stderr.close()
                kills += 1
            elif procs[i].returncode != 0:
                pytest.fail(procs[i].stderr.read().decode())
            procs[i] = worker(spec_file, store)
        errors = [p.communicate(timeout=240)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * n_workers, errors
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert kills == 6
    counts = rows_per_run(store)
    assert sorted(counts) == sorted(spec.run_ids()) and set(counts.values()) == {1}
    status = sweep_status(store)
    assert status.claims == [] and status.sweeps[0].complete == len(spec)
    got, ref = load(store, verify=True), load(reference)
    for rid in spec.run_ids():
        assert np.array_equal(got.signals(rid)[1], ref.signals(rid)[1])
        assert np.array_equal(got.embeddings(rid)[200], ref.embeddings(rid)[200])
        assert np.array_equal(got.weights(rid)["embedding"], ref.weights(rid)["embedding"])


def test_a_second_sweep_shares_the_work_of_the_first(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    store = tmp_path / "store"
    procs = [worker(spec_file, store), worker(spec_file, store)]
    errors = [p.communicate(timeout=240)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    counts = rows_per_run(store)
    assert len(counts) == 8 and set(counts.values()) == {1}
