"""Where a sweep trains: the options ``sweep run`` and ``reproduce`` share (executor, local
workers, Ray, SLURM), written once.

A command takes them as ``**executor`` and sets its signature with :func:`with_executor`;
:func:`run_options` turns what was given into keywords of
:func:`circle_survival.sweep.run_sweep`, refusing options of another executor in one line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from ..errors import ConfigError
from .common import Opt

#: (name, type, default, help, executor it belongs to: None for all)
OPTIONS: tuple[tuple[str, Any, Any, str, str | None], ...] = (
    ("executor", str, "local", "local, ray or slurm.", None),
    ("workers", int, 1, "Local worker processes.", "local"),
    ("address", str | None, None, "Ray cluster address, e.g. auto.", "ray"),
    ("ray_cpus", float, 1.0, "CPUs per Ray task.", "ray"),
    ("ray_gpus", float | None, None, "GPUs per Ray task for cuda runs (a fraction shares a "
     "GPU).", "ray"),
    ("slurm_partition", str | None, None, "SLURM partition.", "slurm"),
    ("slurm_time", str, "60", "Time limit of each array task: minutes or [D-]HH:MM:SS; a "
     "task that reaches it is requeued and resumes from its checkpoint.", "slurm"),
    ("slurm_cpus", int, 1, "CPUs per array task.", "slurm"),
    ("slurm_gpus", int | None, None, "GPUs per array task.", "slurm"),
    ("slurm_mem", str | None, None, "Memory per array task, e.g. 8G.", "slurm"),
    ("slurm_account", str | None, None, "SLURM account to charge.", "slurm"),
    ("slurm_qos", str | None, None, "SLURM quality of service.", "slurm"),
    ("slurm_batches_per_task", int, 1, "Batches trained one after another by each array "
     "task.", "slurm"),
    ("slurm_max_parallel", int | None, None, "At most this many array tasks at once.",
     "slurm"),
    ("slurm_log_dir", Path | None, None, "Folder of the tasks' logs.", "slurm"),
    ("slurm_opt", list[str] | None, None, "Any other sbatch option as KEY=VALUE (or KEY for "
     "a flag); repeatable.", "slurm"),
    ("slurm_dry_run", bool, False, "Print the sbatch script that would be submitted; submit "
     "and train nothing.", "slurm"),
    ("parallel", int | None, None, "For the time estimate (sweep plan, reproduce --dry-run): "
     "Ray tasks or SLURM array tasks running at once.", None),
)
#: what a default of None stands for, as --help shows it: [default: (...)]
DEFAULT_TEXT = {
    "address": "a private local Ray, started and stopped here",
    "ray_gpus": "one GPU",
    "slurm_partition": "the cluster's",
    "slurm_log_dir": "STORE-slurm-logs beside the store",
    "parallel": "every array task; 1 Ray task",
}


def executor_parameters() -> list[inspect.Parameter]:
    """The options of :data:`OPTIONS` as keyword parameters Typer reads."""
    out = []
    for name, kind, default, text, _ in OPTIONS:
        flag = (Opt(f"--{name.replace('_', '-')}", help=text) if kind is bool
                else Opt(help=text, show_default=DEFAULT_TEXT.get(name, True)))
        out.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                     default=default, annotation=Annotated[kind, flag]))
    return out


def with_executor(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` (whose last parameter is ``**executor``) the executor options in
    place of it: Typer reads the command's options from its signature."""
    own = list(inspect.signature(command, eval_str=True).parameters.values())[:-1]
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *executor_parameters()])
    return command


def run_options(given: dict[str, Any]) -> dict[str, Any]:
    """Keywords of ``run_sweep`` from the executor options: ``executor``, ``workers``,
    ``address``, ``ray_cpus``, ``ray_gpus``, ``slurm`` (a SlurmOptions) and
    ``slurm_dry_run``. An option of another executor than the one chosen (given a value other
    than its default) is refused with one line."""
    executor = given.get("executor", "local")
    for name, _, default, _, belongs in OPTIONS:
        if belongs not in (None, executor) and given.get(name, default) != default:
            raise ConfigError(f"--{name.replace('_', '-')} applies only with --executor "
                              f"{belongs}")
    out: dict[str, Any] = {"executor": executor}
    if executor == "local":
        out["workers"] = given.get("workers", 1)
    elif executor == "ray":
        out.update(address=given.get("address"), ray_cpus=given.get("ray_cpus", 1.0),
                   ray_gpus=given.get("ray_gpus"))
    elif executor == "slurm":
        out.update(slurm=slurm_options(given), slurm_dry_run=given.get("slurm_dry_run", False))
    return out


def slurm_options(given: dict[str, Any]):
    """A :class:`~circle_survival.sweep.slurm.SlurmOptions` from the ``--slurm-*`` options
    (each checked there, in one line)."""
    from ..sweep.slurm import SlurmOptions, parse_slurm_opt

    return SlurmOptions(
        partition=given.get("slurm_partition"), time=given.get("slurm_time", "60"),
        cpus_per_task=given.get("slurm_cpus", 1), gpus_per_task=given.get("slurm_gpus"),
        mem=given.get("slurm_mem"), account=given.get("slurm_account"),
        qos=given.get("slurm_qos"), batches_per_task=given.get("slurm_batches_per_task", 1),
        max_array_parallel=given.get("slurm_max_parallel"),
        log_dir=given.get("slurm_log_dir"),
        extra=dict(parse_slurm_opt(o) for o in given.get("slurm_opt") or ()))


def echo_wall_clock(batches, serial_seconds: float, given: dict[str, Any]) -> None:
    """Say how long the chosen executor would take for ``batches``, given their serial
    time on this machine: its workers, Ray tasks or SLURM array tasks each taking the next
    batch (or group of batches) as they finish one, each as fast as this machine."""
    import typer

    from ..sweep import batch_seconds, per_task, wall_clock
    from .common import human_seconds

    options = run_options(given)
    seconds = batch_seconds(batches, serial_seconds)
    executor, parallel = options["executor"], given.get("parallel")
    if parallel is not None and parallel < 1:
        raise ConfigError(f"--parallel must be >= 1, got {parallel}")
    if executor == "local":
        workers = options["workers"]
        typer.echo(f"wall-clock here: about {human_seconds(serial_seconds)}"
                   + (f" ({workers} workers share this machine's cores)" if workers > 1 else ""))
        return
    if executor == "ray":
        slots = parallel or 1
        jobs, what = seconds, f"{len(seconds)} Ray tasks, {slots} at once"
    else:
        jobs = per_task(seconds, options["slurm"].batches_per_task)
        slots = min(parallel or len(jobs), options["slurm"].max_array_parallel or len(jobs))
        what = f"{len(jobs)} array tasks, {min(slots, len(jobs))} at once"
    typer.echo(f"wall-clock on {executor}: about {human_seconds(wall_clock(jobs, slots))} "
               f"({what}; each as fast as this machine)")
