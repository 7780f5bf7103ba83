"""``circle-survival reproduce`` (train and analyse a paper experiment) and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .sweep import busy, human_seconds

Opt = typer.Option


def list_experiments(dtype: str, device: str, refresh: bool) -> None:
    """Print every preset with its run count and estimated cost at each scale."""
    from rich.console import Console
    from rich.table import Table

    from ..costs import estimate_seconds
    from ..experiments import SCALES, all_experiments

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("name")
    for scale in SCALES:
        table.add_column(f"{scale} runs", justify="right")
        table.add_column(f"{scale} time", justify="right")
    table.add_column("title")
    for e in all_experiments():
        cells = []
        for scale in SCALES:
            configs = with_fields(e, dtype, device).run_configs(scale)
            cells += [f"{len(configs):,}", human_seconds(estimate_seconds(configs,
                                                                          refresh=refresh))]
            refresh = False
        table.add_row(str(e.number), e.name, *cells, e.title)
    Console(width=160, highlight=False).print(table)
    typer.echo(f"times: serial training on this machine ({dtype}, device {device}), from the "
               "cached calibration (--recalibrate measures again)")


def with_fields(exp, dtype: str | None, device: str | None):
    """``exp`` training its runs with ``dtype`` and on ``device`` (None: the preset's); a dtype
    other than the paper's is listed among the departures of its figures and report."""
    fields = {"dtype": dtype, "device": None if device == "auto" else device}
    return FieldsOverride(exp, {k: v for k, v in fields.items() if v is not None})


class FieldsOverride:
    """An experiment preset whose sweeps set some config fields on every run."""

    def __init__(self, exp, fields: dict):
        self._exp, self._fields = exp, fields

    def __getattr__(self, name):
        return getattr(self._exp, name)

    def specs(self, scale: str):
        return _with_base(self._exp.specs(scale), self._fields)

    def run_configs(self, scale: str) -> list:
        return [c for spec in self.specs(scale) for c in spec.configs()]

    def deviations(self, scale: str) -> list[str]:
        from ..experiments.base import base_deviations

        return [*self._exp.deviations(scale), *base_deviations(self._fields)]

    def analyze(self, store, scale: str):
        """The preset's analysis, reading the runs of the overridden sweeps (its ``specs``
        and ``deviations`` replaced on the instance for the call)."""
        exp = self._exp
        if not self._fields:
            return exp.analyze(store, scale)
        from ..experiments.base import base_deviations

        specs, deviations = exp.specs, exp.deviations  # the preset's own, bound
        exp.specs = lambda sc: _with_base(specs(sc), self._fields)
        exp.deviations = lambda sc: [*deviations(sc), *base_deviations(self._fields)]
        try:
            return exp.analyze(store, scale)
        finally:
            del exp.specs, exp.deviations


def _with_base(specs: list, fields: dict) -> list:
    """The sweeps with ``fields`` set in their base config."""
    import dataclasses

    if not fields:
        return specs
    return [dataclasses.replace(s, base={**s.base, **fields}) for s in specs]


def dry_run(exp, scale: str, store: Path, max_batch: int | None) -> None:
    """Say what ``reproduce`` would train: runs missing, batches, model-steps, time."""
    from ..costs import estimate_seconds
    from ..store import completed_run_ids
    from ..sweep import batch_all, drop_done

    done = completed_run_ids(store)
    todo = [b for spec in exp.specs(scale) for b in drop_done(batch_all(spec, max_batch), done)]
    configs = [c for b in todo for c in b]
    total = exp.n_runs(scale)
    typer.echo(f"{exp.number}. {exp.title} ({scale} scale): {total:,} runs, "
               f"{total - len(configs):,} already in {store}")
    typer.echo(f"would train {len(configs):,} runs in {len(todo):,} batch(es), "
               f"{sum(c.steps for c in configs):,} model-steps, estimated "
               f"{human_seconds(estimate_seconds(configs))} (serial, this machine)")
    for dev in exp.deviations(scale):
        typer.echo(f"  departs from the paper: {dev}")


def register(app: typer.Typer) -> None:
    @app.command()
    def reproduce(
        name: Annotated[str | None, typer.Argument(metavar="NAME",
                help="Experiment preset (see --list).")
                        ] = None,
        store: Annotated[Path | None, typer.Argument(metavar="STORE",
            help="Store to train into (one store can hold every preset).")] = None,
        scale: Annotated[str, Opt(help="smoke (minutes on a CPU) or paper.")] = "smoke",
        out: Annotated[Path | None, Opt("--out", "-o", help="Directory of the figures and "
                                        "numbers [STORE/results/NAME-SCALE].")] = None,
        device: Annotated[str, Opt(help="cpu, cuda, cuda:N or auto.")] = "auto",
        dtype: Annotated[str | None, Opt(help="float64 or float32 (a departure from the paper; "
                                              "listed on its figures) [the preset's].")] = None,
        executor: Annotated[str, Opt(help="local or ray.")] = "local",
        workers: Annotated[int, Opt(help="Local worker processes.")] = 1,
        address: Annotated[str | None, Opt(help="Ray cluster address.")] = None,
        max_batch: Annotated[int | None, Opt(help="Models per batch (default: from memory).")
                             ] = None,
        dry_run_: Annotated[bool, Opt("--dry-run", help="Say what would train (runs, "
                                      "model-steps, estimated time); train nothing.")] = False,
        list_: Annotated[bool, Opt("--list", help="List presets with run counts and "
                                                  "estimated costs.")] = False,
        recalibrate: Annotated[bool, Opt("--recalibrate", help="Measure this machine's "
                                         "training cost again (--list, --dry-run).")] = False,
        quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Reproduce one of the paper's experiments: train what is missing, analyse, write
        figures and a JSON file of the numbers behind them."""
        from ..config import resolve_device
        from ..experiments import get, write_result
        from ..layout import StoreLayout
        from ..store import completed_run_ids, load
        from ..sweep import run_sweep

        resolve_device(device)
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
        exp = with_fields(exp, dtype, device)
        if dry_run_:
            if recalibrate:
                from ..costs import seconds_per_flop

                seconds_per_flop(dtype or "float64", device, refresh=True)
            dry_run(exp, scale, store, max_batch)
            return
        specs = exp.specs(scale)
        done = completed_run_ids(store)  # read once; each sweep adds what it trains
        for spec in specs:
            report = run_sweep(spec, store, executor=executor, workers=workers,
                               address=address, max_batch=max_batch, progress=not quiet,
                               completed=done)
            done |= set(report.trained)
        with busy(f"analysing {exp.name} ({scale} scale)", quiet):
            result = exp.analyze(load(store), scale)
        target = out or StoreLayout(store).result_dir(exp.name, scale)
        path = write_result(result, target)
        typer.echo(f"{exp.number}. {exp.title} ({scale} scale, {result.n_runs} runs)")
        for c in result.claims:
            verdict = {True: "holds", False: "does not hold", None: "undecided"}[c.holds]
            typer.echo(f"  [{verdict}] paper: {c.paper}\n      here: {c.observed}")
        typer.echo(f"figures and numbers: {path.parent}")

    @app.command()
    def report(
        stores: Annotated[list[Path], typer.Argument(metavar="STORE...",
                help="Stores (or result directories).")],
        out: Annotated[Path, Opt("--out", "-o", help="Directory to write report.html and "
                                                     "report.md into.")] = Path("."),
    ) -> None:
        """Write one self-contained HTML page of every reproduced experiment in the stores
        (OUT/report.html), and a Markdown summary beside it (OUT/report.md)."""
        from ..report import write_report

        html_path, md_path = write_report(stores, Path(out) / "report.html")
        typer.echo(f"wrote {html_path} and {md_path}")
