"""The Ray executor on a private local Ray instance (CPU only): same store contents as
local."""

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from circle_survival import load
from circle_survival.sweep import SweepSpec, run_sweep, sweep_status

ray = pytest.importorskip("ray", reason="ray is not installed (pip install "
                                        "'circle-survival[ray]')")

SPEC = {"name": "ray-tiny", "base": {"p": 11, "d": 8, "hidden": [16], "steps": 30,
                                     "device": "cpu"},
        "axes": {"d": [8, 12]}, "seeds": {"embedding": "0:3", "mlp": "0:3"}}


@contextlib.contextmanager
def ray_temp_dir() -> Iterator[Path]:
    """Ray's session folders (which it leaves behind) in a private folder, removed after: short,
    for the unix sockets in it, and never the /tmp/ray of any other Ray on the machine."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", str(folder))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def local_ray():
    """A private local Ray (address "local": never one already running on the machine)."""
    with ray_temp_dir():
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 logging_level="WARNING")
        try:
            yield ray
        finally:
            ray.shutdown()


def test_ray_matches_local(tmp_path, local_ray):
    spec = SweepSpec.from_dict(SPEC)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # Ray tasks train on one thread (num_cpus=1)
    try:
        run_sweep(spec, tmp_path / "local", max_batch=2, progress=False)
    finally:
        torch.set_num_threads(before)
    report = run_sweep(spec, tmp_path / "ray", executor="ray", max_batch=2, progress=False)
    assert sorted(report.trained) == sorted(spec.run_ids())
    a, b = load(tmp_path / "local"), load(tmp_path / "ray")
    assert sorted(a.runs.index) == sorted(b.runs.index) == sorted(spec.run_ids())
    assert sorted(a.runs.batch_id.unique()) == sorted(b.runs.batch_id.unique())
    for rid in spec.run_ids():
        assert np.array_equal(a.signals(rid)[1], b.signals(rid)[1])
        assert np.array_equal(a.weights(rid)["embedding"], b.weights(rid)["embedding"])
    st = sweep_status(tmp_path / "ray")
    assert [(s.name, s.complete, s.expected) for s in st.sweeps] == [("ray-tiny", 6, 6)]
    # resuming through Ray trains nothing more
    again = run_sweep(spec, tmp_path / "ray", executor="ray", max_batch=2, progress=False)
    assert again.trained == [] and again.already == 6


def test_cli_ray_executor(tmp_path, local_ray, capsys):
    from circle_survival.cli import main

    spec = tmp_path / "s.toml"
    spec.write_text('name = "cli"\n[base]\np = 11\nd = 8\nhidden = [16]\nsteps = 20\n'
                    'device = "cpu"\n[seeds]\nembedding = "0:2"\n')
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "run", str(spec), str(tmp_path / "st"), "--executor", "ray",
              "--quiet"])
        raise SystemExit(0)
    out = capsys.readouterr()
    assert exc.value.code == 0, out.err
    assert re.search(r"trained 2 runs( here)?; 2 of 2 complete", out.out), out.out
    assert len(load(tmp_path / "st")) == 2


def test_without_address_ray_starts_a_private_local_instance():
    """address None -> "local" (a new Ray, never one running on the machine, whatever
    RAY_ADDRESS says), without the dashboard; a given address is passed as it is."""
    from circle_survival.sweep.executors import _ray_init

    class FakeRay:
        def init(self, **kwargs):
            self.kwargs = kwargs

    fake = FakeRay()
    _ray_init(fake, None)
    assert fake.kwargs["address"] == "local" and fake.kwargs["include_dashboard"] is False
    _ray_init(fake, "auto")
    assert fake.kwargs["address"] == "auto" and "include_dashboard" not in fake.kwargs
