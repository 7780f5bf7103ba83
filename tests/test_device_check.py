"""The prepared device check runs every section on the CPU in smoke mode."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "device_check.py"


def test_device_check_smoke(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "device_check.json").read_text())
    sections = result["sections"]
    assert list(sections) == ["env", "agreement", "determinism", "speed", "store",
                              "projection"]
    for name, entry in sections.items():
        assert entry["status"] in ("ok", "skipped"), (name, entry)
    assert sections["env"]["circle_survival_import"] == "ok"
    assert sections["agreement"]["float64"]["max_rel_err"] <= 1e-9
    assert sections["determinism"]["repeat_bit_identical"]
    rows = [r for r in sections["speed"]["rows"] if "us_per_model_step" in r]
    assert {r["dtype"] for r in rows} == {"float64", "float32"}
    assert all(r["us_per_model_step"] > 0 for r in rows)
    if sections["store"]["status"] == "ok":
        assert sections["store"]["runs_read_back"] == sections["store"]["models"]
    assert sections["projection"]["float64"]["hours"] > 0
    log = (tmp_path / "device_check.log").read_text()
    assert "== projection" in log


def test_device_check_without_cuda_says_so(tmp_path):
    import pytest
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "CUDA is not available" in proc.stderr and "Traceback" not in proc.stderr
