"""Benchmark: the cost estimate of ``reproduce --list`` / ``--dry-run`` against a measured run.

Measures this machine's cost afresh (the calibration that is then cached per machine), then
trains ``--runs`` runs of the paper's default shape for ``--steps`` steps into a fresh store
(the sweep machinery, as ``reproduce`` trains), and prints the estimated and the measured
wall-clock time and their ratio. The project's target: within 30% on an idle machine.

    python benchmarks/bench_estimate.py                    # 4 runs x 1,000 steps, float64
    python benchmarks/bench_estimate.py --dtype float32 --runs 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from circle_survival import RunConfig, train_to_store
from circle_survival.sweep import costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault(costs.CACHE_ENV, str(Path(tmp) / "cache"))
        cfg = RunConfig(steps=args.steps, dtype=args.dtype, device=args.device)
        configs = [cfg.replace(embedding_seed=s) for s in range(args.runs)]
        t0 = time.perf_counter()
        costs.seconds_per_flop(args.dtype, args.device, refresh=True)
        calibration = time.perf_counter() - t0
        estimate = costs.estimate_seconds(configs)
        t0 = time.perf_counter()
        train_to_store(configs, Path(tmp) / "store")
        measured = time.perf_counter() - t0
    print(f"machine key: {costs.machine_key(args.dtype, args.device)}")
    print(f"calibration: {calibration:.1f} s (then cached)")
    print(f"{args.runs} runs x {args.steps:,} steps ({args.dtype}): estimated {estimate:.1f} s, "
          f"measured {measured:.1f} s, ratio measured/estimated {measured / estimate:.2f}")


if __name__ == "__main__":
    main()
