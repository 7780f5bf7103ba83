"""``circle-survival ablate``: ablation-then-train (experiment 9) in one command.

From one seed (embedding, MLP and split), train the five runs O (nothing removed), A (the
strongest circle), B (the two strongest), C (one random circle) and D (two random circles,
both drawn among the frequencies outside the two strongest), the constant term removed, into
a store (runs already there are skipped, so an interrupted command resumes), then plot their
test losses on log–log axes and print the key numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError

Opt, Arg = typer.Option, typer.Argument


def register(app: typer.Typer) -> None:
    """Add ``ablate`` to the CLI."""
    app.command("ablate")(ablate_command)


def ablate_command(
    store: Annotated[Path, Arg(metavar="STORE",
            help="Store to train into (runs already there are reused).")],
    seeds: Annotated[str, Opt(help="Seeds (each the seed of the embedding, the MLP and the "
                                   "split), e.g. 0 or 0:3; five runs and one figure each.")
                     ] = "0",
    steps: Annotated[int, Opt(help="Optimiser steps per run.")] = 30_000,
    out: Annotated[Path | None, Opt("--out", "-o", help="Directory of the figures "
                                    "(ablation-seedS.png and .svg) [STORE].")] = None,
    p: Annotated[int, Opt(help="Modulus.")] = 59,
    d: Annotated[int, Opt(help="Embedding width.")] = 128,
    dtype: Annotated[str, Opt(help="float64 or float32.")] = "float64",
    device: Annotated[str, Opt(help="cpu, cuda, cuda:N or auto.")] = "auto",
    max_batch: Annotated[int | None, Opt(help="Models per batch (default: from memory).")
                         ] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train O, A, B, C, D from each seed and plot their test loss (experiment 9)."""
    from ..config import parse_seed_list, resolve_device
    from ..experiments.ablation import ablation_configs

    seed_list = parse_seed_list(seeds, "--seeds")
    if any(seed < 0 for seed in seed_list):
        raise ConfigError(f"--seeds: seeds must be >= 0, got {seeds!r}")
    for seed in seed_list:
        configs = ablation_configs(seed, steps=steps, p=p, d=d, dtype=dtype, device=device)
        resolve_device(configs["O"].device)
        train(list(configs.values()), store, quiet, seed, max_batch)
        stem = Path(out if out is not None else store) / f"ablation-seed{seed}"
        report(store, {name: c.run_id for name, c in configs.items()}, stem,
               note=f"seed {seed}, p = {p}, d = {d}, {steps:,} steps, {dtype}")


def train(configs: list, store: Path, quiet: bool, seed: int, max_batch: int | None = None
          ) -> None:
    """Train the runs not yet in ``store`` (a one-spec sweep named ``ablate-seedS-<digest>``),
    with a progress bar."""
    from ..store import completed_run_ids
    from ..sweep import run_sweep
    from ..sweep.run import configs_spec

    spec = configs_spec(configs, prefix=f"ablate-seed{seed}")
    done = completed_run_ids(store) & set(spec.run_ids())
    if done:
        typer.echo(f"{len(done)} of {len(configs)} runs already in {store}", err=True)
    run_sweep(spec, store, max_batch=max_batch, progress=not quiet, completed=done)


def report(store: Path, ids: dict[str, str], stem: Path, note: str) -> None:
    """Write the figure and print, per variant, the kept circles, the final test loss, the
    spikes and the final circles, then the claims."""
    from ..experiments.ablation import analyze_ablation
    from ..figures.interventions import ablation_test_loss
    from ..figures.io import save_figure
    from ..store import load

    numbers, claims, fig_data = analyze_ablation(load(store), ids)
    paths = save_figure(ablation_test_loss(**fig_data, note=note), stem)
    typer.echo(f"{'':2}{'kept':<14} {'final test loss':>15} {'spikes':>6} {'reaches 10x O':>13}"
               f"  final circles")
    for name, v in numbers["variants"].items():
        kept = "all" if v["kept"] is None else ",".join(str(k) for k in v["kept"])
        conv = "never" if v["converge_step"] is None else str(v["converge_step"])
        circ = ",".join(str(c) for c in v["final_circles"]) or "-"
        typer.echo(f"{name:<2}{kept:<14} {v['final_test_loss']:>15.3g} {v['n_spikes']:>6} "
                   f"{conv:>13}  {circ}")
    from ..report.wording import verdict_text

    for c in claims:
        typer.echo(f"[{verdict_text(c.holds)}] {c.paper}\n    criterion: {c.criterion}\n"
                   f"    here: {c.observed}")
    typer.echo(f"figure: {', '.join(str(p) for p in paths)}")
