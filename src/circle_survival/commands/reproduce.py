"""``circle-survival reproduce`` (train and analyse a paper experiment) and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .sweep import human_seconds

Opt = typer.Option


def seconds_per_flop() -> float:
    """This machine's training cost per unit of model-step work (one short calibration at the
    paper's default shape)."""
    from ..config import RunConfig
    from ..sweep import calibrate, model_step_flops

    cfg = RunConfig(steps=10)
    cal = calibrate([cfg.replace(embedding_seed=i) for i in range(4)], budget_s=1.5)
    return cal.seconds_per_model_step / model_step_flops(cfg)


def list_experiments() -> None:
    """Print every preset with its run count and estimated cost at each scale."""
    from ..experiments import SCALES, all_experiments
    from ..sweep import model_step_flops

    per_flop = seconds_per_flop()
    typer.echo(f"{'#':>2}  {'name':<16} {'smoke runs':>10} {'smoke time':>10} "
               f"{'paper runs':>10} {'paper time':>10}  title")
    for e in all_experiments():
        cells = []
        for scale in SCALES:
            configs = [c for spec in e.specs(scale) for c in spec.configs()]
            secs = per_flop * sum(model_step_flops(c) * c.steps for c in configs)
            cells += [f"{len(configs):>10}", f"{human_seconds(secs):>10}"]
        typer.echo(f"{e.number:>2}  {e.name:<16} {' '.join(cells)}  {e.title}")
    typer.echo("times: serial training on this machine, from a short calibration")


def register(app: typer.Typer) -> None:
    @app.command()
    def reproduce(
        name: Annotated[str | None, typer.Argument(help="Experiment preset (see --list).")
                        ] = None,
        scale: Annotated[str, Opt(help="smoke (minutes on a CPU) or paper.")] = "smoke",
        store: Annotated[Path, Opt(help="Store to train into (shared by all presets).")
                         ] = Path("reproduce-store"),
        out: Annotated[Path | None, Opt(help="Where to write figures and numbers "
                                             "[STORE/results/NAME-SCALE].")] = None,
        executor: Annotated[str, Opt(help="local or ray.")] = "local",
        workers: Annotated[int, Opt(help="Local worker processes.")] = 1,
        address: Annotated[str | None, Opt(help="Ray cluster address.")] = None,
        max_batch: Annotated[int | None, Opt(help="Models per batch.")] = None,
        list_: Annotated[bool, Opt("--list", help="List presets with run counts and "
                                                  "estimated costs.")] = False,
        quiet: Annotated[bool, Opt(help="No progress bar.")] = False,
    ) -> None:
        """Reproduce one of the paper's experiments: train what is missing, analyse, write
        figures and a JSON file of the numbers behind them."""
        from ..experiments import get, write_result
        from ..layout import StoreLayout
        from ..store import completed_run_ids, load
        from ..sweep import run_sweep

        if list_:
            list_experiments()
            return
        if name is None:
            raise ConfigError("name an experiment (see 'circle-survival reproduce --list')")
        exp = get(name)
        exp.check_scale(scale)
        specs = exp.specs(scale)
        done = completed_run_ids(store)  # read once; each sweep adds what it trains
        for spec in specs:
            report = run_sweep(spec, store, executor=executor, workers=workers,
                               address=address, max_batch=max_batch, progress=not quiet,
                               completed=done)
            done |= set(report.trained)
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
        stores: Annotated[list[Path], typer.Argument(help="Stores (or result directories).")],
        out: Annotated[Path, Opt("--out", "-o", help="HTML file to write (a .md summary is "
                                                     "written beside it).")
                       ] = Path("report.html"),
    ) -> None:
        """Write one self-contained HTML page of every reproduced experiment in the stores,
        and a Markdown summary beside it."""
        from ..report import write_report

        html_path, md_path = write_report(stores, out)
        typer.echo(f"wrote {html_path} and {md_path}")
