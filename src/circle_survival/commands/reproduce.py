"""``circle-survival reproduce``: train what one of the paper's experiments needs, analyse it,
and write its figures and numbers into ``-o/--out DIR`` (default ``STORE/results/NAME-SCALE``,
where ``report`` finds them); ``--list`` lists the presets, ``--dry-run`` says what would
train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from .common import (
    CIRCLE_RULE_HELP,
    Arg,
    MaxBatchOpt,
    Opt,
    QuietOpt,
    StorePath,
    busy,
    check_device,
    device_help,
    human_seconds,
    store_path,
)
from .executor_options import echo_wall_clock, run_options, with_executor
from .tracking_options import TrackOpt, TrackUriOpt, check_track


def list_experiments(dtype: str, device: str, refresh: bool) -> None:
    """Print every preset with, at each scale, its distinct run count, its model-steps, its
    training time on this project's CPU (the measured rate) and on this machine (the cached
    calibration)."""
    from rich.console import Console
    from rich.table import Table

    from ..experiments import SCALES, SECONDS_PER_MODEL_STEP, all_experiments
    from ..sweep.costs import calibration, estimate_seconds

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("name")
    for scale in SCALES:
        for head in (f"{scale} runs", "model-steps", "CPU hours", "here"):
            table.add_column(head, justify="right")
    table.add_column("title")
    for e in all_experiments():
        e = with_fields(e, dtype, device)
        cells = []
        for scale in SCALES:
            configs = e.planned_configs(scale)
            here = estimate_seconds(configs, refresh=refresh)
            refresh = False
            cells += [f"{len(configs):,}", f"{sum(c.steps for c in configs):,}",
                      f"{e.cpu_hours(scale, configs):,.2f}", human_seconds(here).replace(" ", "")]
        table.add_row(str(e.number), e.name, *cells, e.title)
    Console(width=200, highlight=False).print(table)
    typer.echo(f"CPU hours: serial training at {SECONDS_PER_MODEL_STEP * 1000:g} ms per float64 "
               "model-step of the default shape (p = 59, d = 128), measured on this project's "
               "2-core CPU; other shapes scale by their work per step. here: serial training "
               f"on this machine ({dtype}, device {device}) at "
               f"{calibration(dtype, device).describe()} (--recalibrate measures again)")


def with_fields(exp, dtype: str | None, device: str | None):
    """``exp`` training its runs with ``dtype`` and on ``device`` (None or "auto": the
    preset's); a dtype other than the paper's is listed among its departures."""
    fields = {"dtype": dtype, "device": None if device == "auto" else device}
    return exp.with_base(**{k: v for k, v in fields.items() if v is not None})


def dry_run(exp, scale: str, store: Path, max_batch: int | None,
            executor: dict[str, Any]) -> None:
    """Say what ``reproduce`` would train: runs missing, batches, model-steps, time (serial
    here, and on the chosen executor)."""
    from ..store import is_store, load
    from ..sweep import plan_batches
    from ..sweep.costs import costs_for, estimate_seconds

    runs = load(store).runs if is_store(store) else None
    done = set(runs.index) if runs is not None else set()
    planned = exp.planned_configs(scale)
    configs = [c for c in planned if c.run_id not in done]
    batches = plan_batches(configs, max_batch)
    typer.echo(f"{exp.number}. {exp.title} ({scale} scale): {len(planned):,} runs, "
               f"{len(planned) - len(configs):,} already in {store}")
    serial = estimate_seconds(configs, runs=runs)
    typer.echo(f"would train {len(configs):,} runs in {len(batches):,} batch(es), "
               f"{sum(c.steps for c in configs):,} model-steps, estimated "
               f"{human_seconds(serial)} (serial, this machine)")
    for (dtype, device), cost in costs_for(configs, runs=runs).items():
        typer.echo(f"  cost ({dtype}, {device}): {cost.describe()}")
    echo_wall_clock(batches, serial, executor)
    for dev in exp.deviations(scale):
        typer.echo(f"  departs from the paper: {dev}")


@with_executor
def reproduce_command(
    name: Annotated[str | None, Arg(metavar="NAME", help="Experiment preset (see --list).")
                    ] = None,
    store: Annotated[StorePath | None, Arg(metavar="STORE", parser=store_path,
        help="Store to train into (one store can hold every preset).")] = None,
    scale: Annotated[str, Opt(help="smoke (minutes on a CPU) or paper.")] = "smoke",
    out: Annotated[Path | None, Opt("--out", "-o", help="Directory of the figures and "
                                    "numbers.", show_default="STORE/results/NAME-SCALE")
                   ] = None,
    device: Annotated[str, Opt(help=device_help())] = "auto",
    dtype: Annotated[str | None, Opt(help="float64 or float32 (a departure from the paper; "
                                          "listed on its figures).",
                                     show_default="the preset's")] = None,
    max_batch: MaxBatchOpt = None,
    dry_run_: Annotated[bool, Opt("--dry-run", help="Say what would train (runs, "
                                  "model-steps, estimated time); train nothing.")] = False,
    list_: Annotated[bool, Opt("--list", help="List presets with run counts, model-steps "
                                              "and training times at each scale.")] = False,
    recalibrate: Annotated[bool, Opt("--recalibrate", help="Measure this machine's "
                                     "training cost again (--list, --dry-run).")] = False,
    pdf: Annotated[bool, Opt("--pdf", help="Also write each figure as PDF.")] = False,
    circle_rule: Annotated[str, Opt("--circle-rule", help=CIRCLE_RULE_HELP + " Another rule "
                                    "than the authors' is a departure, listed on the figures; "
                                    "its results go to STORE/results/NAME-SCALE-rule-RULE.")
                           ] = "2x-mean",
    quiet: QuietOpt = False,
    track: TrackOpt = None,
    track_uri: TrackUriOpt = None,
    **executor: Any,
) -> None:
    """Reproduce one of the paper's experiments: train what is missing, analyse, write
    figures and a JSON file of the numbers behind them."""
    from ..experiments import get, train, write_result
    from ..report.wording import runs_text, verdict_text
    from ..store import load
    from ..store.layout import StoreLayout

    check_device(device)
    if dtype is not None:
        from ..config import DTYPES

        if dtype not in DTYPES:
            raise ConfigError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    if list_:
        list_experiments(dtype or "float64", device, recalibrate)
        return
    if name is None:
        raise ConfigError("name an experiment (see 'circle-survival reproduce --list')")
    exp = get(name)
    exp.check_scale(scale)
    if store is None:
        raise ConfigError(f"name a store: circle-survival reproduce {name} STORE")
    exp = with_fields(exp, dtype, device).with_circle_rule(circle_rule)
    if dry_run_:
        if recalibrate:
            from ..sweep.costs import seconds_per_flop

            seconds_per_flop(dtype or "float64", device, refresh=True)
        dry_run(exp, scale, store, max_batch, executor)
        return
    options = run_options(executor)
    check_track(track, track_uri)
    train(exp, scale, store, max_batch=max_batch, progress=not quiet, **options)
    if options.get("slurm_dry_run"):
        return
    analysed = load(store)
    with busy(f"analysing {exp.name} ({scale} scale)", quiet):
        result = exp.analyze(analysed, scale)
    rule = exp.circle_rule
    target = out or StoreLayout(store).result_dir(
        exp.name, scale if rule.is_authors else f"{scale}-rule-{rule.slug}")
    ids = [r for spec in exp.specs_after(scale, analysed) for r in spec.run_ids()]
    path = write_result(result, target,
                        runs=analysed.runs.loc[analysed.runs.index.intersection(ids)],
                        formats=("png", "svg", "pdf") if pdf else ("png", "svg"))
    typer.echo(f"{exp.number}. {exp.title} ({scale} scale, {runs_text(result.n_runs)})")
    for c in result.claims:
        typer.echo(f"  [{verdict_text(c.holds)}] paper: {c.paper}\n"
                   f"      criterion: {c.criterion}\n      here: {c.observed}")
    typer.echo(f"figures and numbers: {path.parent}")
    if track is not None:
        from ..report.tracking import track_runs

        typer.echo(track_runs(analysed, list(analysed.runs.index.intersection(ids)),
                              tracker=track, uri=track_uri).summary())
