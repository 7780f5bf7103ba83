"""``circle-survival reproduce`` (train and analyse a paper experiment) and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError

Opt = typer.Option


def list_experiments() -> None:
    """Print every preset with its distinct run count, model-steps and training time on this
    project's CPU at each scale."""
    from ..experiments import SCALES, all_experiments
    from ..experiments.base import SECONDS_PER_MODEL_STEP

    head = "".join(f" {scale + ' runs':>11} {'model-steps':>12} {'CPU hours':>10}"
                   for scale in SCALES)
    typer.echo(f"{'#':>2}  {'name':<24}{head}  title")
    for e in all_experiments():
        cells = "".join(f" {e.n_runs(scale):>11,} {e.model_steps(scale):>12,} "
                        f"{e.cpu_hours(scale):>10,.2f}" for scale in SCALES)
        typer.echo(f"{e.number:>2}  {e.name:<24}{cells}  {e.title}")
    typer.echo(f"CPU hours: serial training at {SECONDS_PER_MODEL_STEP * 1000:g} ms per float64 "
               "model-step of the default shape (p = 59, d = 128), measured on this project's "
               "2-core CPU; other shapes scale by their work per step")


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
        list_: Annotated[bool, Opt("--list", help="List presets with run counts, model-steps "
                                                  "and CPU hours at each scale.")] = False,
        quiet: Annotated[bool, Opt(help="No progress bar.")] = False,
    ) -> None:
        """Reproduce one of the paper's experiments: train what is missing, analyse, write
        figures and a JSON file of the numbers behind them."""
        from ..experiments import get, write_result
        from ..experiments.base import train
        from ..layout import StoreLayout
        from ..store import load
        from ..text import verdict_text

        if list_:
            list_experiments()
            return
        if name is None:
            raise ConfigError("name an experiment (see 'circle-survival reproduce --list')")
        exp = get(name)
        exp.check_scale(scale)
        train(exp, scale, store, executor=executor, workers=workers, address=address,
              max_batch=max_batch, progress=not quiet)
        analysed = load(store)
        result = exp.analyze(analysed, scale)
        target = out or StoreLayout(store).result_dir(exp.name, scale)
        ids = [r for spec in exp.specs_after(scale, analysed) for r in spec.run_ids()]
        path = write_result(result, target,
                            runs=analysed.runs.loc[analysed.runs.index.intersection(ids)])
        typer.echo(f"{exp.number}. {exp.title} ({scale} scale, {result.n_runs} runs)")
        for c in result.claims:
            typer.echo(f"  [{verdict_text(c.holds)}] paper: {c.paper}\n"
                       f"      criterion: {c.criterion}\n      here: {c.observed}")
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
