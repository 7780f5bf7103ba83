"""Benchmark: bytes per run in a store, by part, for two signal schedules.

Trains M models of the paper's default config for a few steps under each schedule, writes each
to a fresh store, and prints the bytes per run of every part (weights, embeddings, signals,
metrics, the rest), measured on disk. Signals and metrics grow with the number of records and
everything else does not, so it also prints the size a run of ``--project`` steps would have
with the same bytes per record (a projection, marked as such).

    python benchmarks/bench_store.py                       # 3,000 steps, project to 30,000
    python benchmarks/bench_store.py --steps 30000         # measure a full-length run
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from circle_survival import RunConfig, train_to_store
from circle_survival.training.trainer import RecordPlan

SCHEDULES = {
    "every step": {"signal_every": 1},
    "every 100, every step to 1,000": {"signal_every": 100, "signal_dense_until": 1000},
}


def part_bytes(store: Path) -> dict[str, int]:
    """Bytes on disk of each part of a store's batches: {part: bytes}."""
    parts = {"weights": 0, "embeddings": 0, "signals": 0, "metrics": 0, "rest": 0}
    for f in store.rglob("*"):
        if not f.is_file():
            continue
        rel = f.relative_to(store).parts
        name = rel[3] if len(rel) > 3 and rel[2] == "arrays.zarr" else f.name
        if name.endswith(".safetensors"):
            key = "weights"
        elif name.startswith("embedding"):
            key = "embeddings"
        elif name in ("signals", "signal_steps"):
            key = "signals"
        elif name in ("metrics", "metric_steps"):
            key = "metrics"
        else:
            key = "rest"
        parts[key] += f.stat().st_size
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--project", type=int, default=30_000, help="steps of the projected run")
    args = ap.parse_args()
    print(f"M = {args.models} runs of the default config, {args.steps:,} steps; kB per run")
    head = ["schedule", "weights", "embeddings", "signals", "metrics", "rest", "total",
            f"projected to {args.project:,} steps"]
    print(" | ".join(head))
    for label, fields_ in SCHEDULES.items():
        cfgs = [RunConfig(steps=args.steps, embedding_seed=i, mlp_seed=i, split_seed=i,
                          **fields_) for i in range(args.models)]
        with tempfile.TemporaryDirectory() as tmp:
            train_to_store(cfgs, Path(tmp) / "store", progress=False)
            parts = {k: v / args.models for k, v in part_bytes(Path(tmp) / "store").items()}
        long = cfgs[0].replace(steps=args.project)
        grow = {"signals": (len(RecordPlan.of(long).signal_steps),
                            len(RecordPlan.of(cfgs[0]).signal_steps)),
                "metrics": (len(RecordPlan.of(long).metric_steps),
                            len(RecordPlan.of(cfgs[0]).metric_steps))}
        projected = sum(v * (grow[k][0] / grow[k][1] if k in grow else 1.0)
                        for k, v in parts.items())
        cells = [label, *(f"{parts[k] / 1e3:,.0f}" for k in head[1:6]),
                 f"{sum(parts.values()) / 1e3:,.0f}", f"{projected / 1e3:,.0f} (projection)"]
        print(" | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
