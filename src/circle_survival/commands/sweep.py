"""``circle-survival sweep``: plan, run and follow grids of runs (see the ``sweep`` package).

    circle-survival sweep plan SPEC [--max-batch N]
    circle-survival sweep run SPEC STORE [--executor local|ray|slurm] [--workers N]
                                   [--address ADDR] [--slurm-* ...] [--max-batch N]
    circle-survival sweep status DIR
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    Arg,
    MaxBatchOpt,
    QuietOpt,
    StoreArg,
    StorePath,
    human_bytes,
    human_seconds,
    store_path,
)
from .executor_options import echo_wall_clock, run_options, with_executor
from .log_options import with_log_options
from .tracking_options import TrackOpt, TrackUriOpt, check_track, track_sweep

app = typer.Typer(no_args_is_help=True, help="Grids of runs: plan, run (resumable; local, "
                  "Ray or SLURM; many at once on one store), status.")


def shape_label(cfg, varying: list[str]) -> str:
    """The batch-key fields that differ between a sweep's batches, as ``name=value``."""
    d = cfg.to_dict()
    parts = [f"{k}={','.join(map(str, d[k])) if isinstance(d[k], list) else d[k]}"
             for k in varying]
    return " ".join(parts) or "one shape"


def varying_fields(batches) -> list[str]:
    """Config fields (outside per-model ones) whose value differs between batches."""
    from ..config import PER_MODEL_FIELDS

    dicts = [b[0].to_dict() for b in batches]
    return [k for k in dicts[0] if k not in PER_MODEL_FIELDS
            and any(d[k] != dicts[0][k] for d in dicts[1:])]


@app.command("plan")
@with_log_options
@with_executor
def plan(
    spec: Annotated[Path, Arg(metavar="SPEC", help="Sweep spec (TOML).")],
    max_batch: MaxBatchOpt = None,
    **executor: Any,
) -> None:
    """Show what a sweep would do: runs, batches, estimated time (serial, and on the chosen
    executor) and disk. Trains nothing."""
    from ..sweep import SweepSpec, batch_all, estimate_disk, estimate_time

    s = SweepSpec.from_toml(spec)
    batches = batch_all(s, max_batch)
    groups: dict[str, list] = {}
    for b in batches:
        groups.setdefault(b[0].batch_key(), []).append(b)
    largest = max(len(b) for b in batches)
    typer.echo(f"sweep {s.name!r}: {len(s)} runs in {len(batches)} batches "
               f"({len(groups)} shape(s), up to {largest} models per batch)")
    varying = varying_fields([bs[0] for bs in groups.values()])
    for bs in groups.values():
        cfg = bs[0][0]
        typer.echo(f"  {shape_label(cfg, varying)}: {sum(len(b) for b in bs)} runs, "
                   f"{len(bs)} batch(es), {cfg.steps} steps, {cfg.dtype}, device {cfg.device}")
    est = estimate_time(batches)
    typer.echo(f"estimated time on this machine: {human_seconds(est.seconds)} "
               "(serial, one process)")
    for c in est.calibrations:
        typer.echo(f"  measured {1000 * c.seconds_per_model_step:.3g} ms per model-step "
                   f"(p={c.cfg.p} d={c.cfg.d}, {c.models} models x {c.steps} steps)")
    echo_wall_clock(batches, est.seconds, executor)
    disk = estimate_disk(batches)
    parts = ", ".join(f"{k} {human_bytes(v)}" for k, v in disk.items() if v)
    typer.echo(f"estimated disk: {human_bytes(sum(disk.values()))} ({parts}; uncompressed)")


@app.command("run")
@with_log_options
@with_executor
def run(
    spec: Annotated[Path, Arg(metavar="SPEC", help="Sweep spec (TOML).")],
    store: Annotated[StorePath, Arg(metavar="STORE", parser=store_path,
            help="Store directory (on storage every node mounts, for Ray or SLURM on a "
                 "cluster; many sweeps may train into one store at once).")],
    max_batch: MaxBatchOpt = None,
    quiet: QuietOpt = False,
    track: TrackOpt = None,
    track_uri: TrackUriOpt = None,
    **executor: Any,
) -> None:
    """Train every run of a sweep not yet complete in the store (resumable; other sweeps on
    the same store share the work)."""
    from ..sweep import SweepSpec, run_sweep

    options = run_options(executor)
    check_track(track, track_uri)
    s = SweepSpec.from_toml(spec)
    report = run_sweep(s, store, max_batch=max_batch, progress=not quiet, **options)
    if options.get("slurm_dry_run"):
        return
    if report.already == report.total:
        typer.echo(f"sweep {s.name!r}: all {report.total} runs already complete in {store}")
    else:
        typer.echo(f"sweep {s.name!r}: trained {len(report.trained)} runs here; "
                   f"{len(report.runs())} of {report.total} complete in {store}")
    track_sweep(report, track, track_uri)


@app.command("status")
@with_log_options
def status(store: StoreArg) -> None:
    """Progress of the sweeps recorded in a store, partial batches and the lock holder."""
    from ..sweep import describe_holder, sweep_status

    st = sweep_status(store)
    typer.echo(f"{store}: {st.runs} complete runs")
    if not st.sweeps:
        typer.echo("no sweeps recorded")
    for sw in st.sweeps:
        pct = 100 * sw.complete / sw.expected if sw.expected else 100.0
        typer.echo(f"sweep {sw.name!r}: {sw.complete} / {sw.expected} runs complete "
                   f"({pct:.0f}%)")
    typer.echo(f"partial batches: {len(st.partial_live) + len(st.partial_stale)} "
               f"({len(st.partial_live)} being written, {len(st.partial_stale)} left by dead "
               "processes; the next run resumes or removes them)")
    typer.echo(f"batches being trained: {len(st.claims)}")
    for c in st.claims:
        typer.echo(f"  batch {c.batch_id}: {c.describe()}")
    typer.echo("setting up: " + (describe_holder(st.lock_holder) if st.lock_holder else "no"))
