"""``circle-survival ablate``: ablation-then-train (experiment 9) in one command.

From one seed (embedding, MLP and split), train the five runs O (nothing removed), A (the
strongest circle), B (the two strongest), C (one random circle) and D (two random circles,
both drawn among the frequencies outside the two strongest), the constant term removed, into
a store (runs already there are skipped, so an interrupted command resumes), then plot their
test losses on log–log axes into ``-o/--out DIR`` (default: the store) and print the key
numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .common import (
    Arg,
    MaxBatchOpt,
    Opt,
    QuietOpt,
    StorePath,
    check_device,
    device_help,
    store_path,
)


def ablate_command(
    store: Annotated[StorePath, Arg(metavar="STORE", parser=store_path,
            help="Store to train into (runs already there are reused).")],
    seeds: Annotated[str, Opt(help="Seeds (each the seed of the embedding, the MLP and the "
                                   "split), e.g. 0 or 0:3; five runs and one figure each.")
                     ] = "0",
    steps: Annotated[int, Opt(help="Optimiser steps per run.")] = 30_000,
    out: Annotated[Path | None, Opt("--out", "-o", help="Directory of the figures "
                                    "(ablation-seedS.png and .svg).", show_default="STORE")
                   ] = None,
    p: Annotated[int, Opt(help="Modulus.")] = 59,
    d: Annotated[int, Opt(help="Embedding width.")] = 128,
    dtype: Annotated[str, Opt(help="float64 or float32.")] = "float64",
    device: Annotated[str, Opt(help=device_help())] = "auto",
    max_batch: MaxBatchOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train O, A, B, C, D from each seed and plot their test loss (experiment 9)."""
    from ..config import parse_seed_list
    from ..experiments.ablation import ablation_configs

    seed_list = parse_seed_list(seeds, "--seeds")
    if any(seed < 0 for seed in seed_list):
        raise ConfigError(f"--seeds: seeds must be >= 0, got {seeds!r}")
    opened = None  # the store as the last seed's sweep left it: each sweep reads it once
    for seed in seed_list:
        configs = ablation_configs(seed, steps=steps, p=p, d=d, dtype=dtype, device=device)
        check_device(configs["O"].device)
        opened = train(list(configs.values()), opened or store, quiet, seed, max_batch)
        stem = Path(out if out is not None else store) / f"ablation-seed{seed}"
        report(opened, {name: c.run_id for name, c in configs.items()}, stem,
               note=f"seed {seed}, p = {p}, d = {d}, {steps:,} steps, {dtype}")


def train(configs: list, store, quiet: bool, seed: int, max_batch: int | None = None):
    """Train the runs not yet in ``store`` (its path, or the Store just read there) as a
    one-spec sweep named ``ablate-seedS-<digest>``, with a progress bar; return the store
    with them."""
    from ..sweep import run_sweep
    from ..sweep.run import configs_spec

    def announce(total: int, already: int) -> None:
        if already:
            typer.echo(f"{already} of {total} runs already in {path}", err=True)

    path = getattr(store, "path", store)
    report = run_sweep(configs_spec(configs, prefix=f"ablate-seed{seed}"), store,
                       max_batch=max_batch, progress=not quiet, on_start=announce)
    return report.after()


def report(store, ids: dict[str, str], stem: Path, note: str) -> None:
    """Write the figure and print, per variant, the kept circles, the final test loss, the
    spikes and the final circles, then the claims."""
    from ..experiments.ablation import analyze_ablation
    from ..figures.interventions import ablation_test_loss
    from ..report.wording import verdict_text
    from .common import save_checked

    numbers, claims, fig_data = analyze_ablation(store, ids)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = save_checked(ablation_test_loss(**fig_data, note=note), stem.parent, stem.name)
    typer.echo(f"{'':2}{'kept':<14} {'final test loss':>15} {'spikes':>6} {'reaches 10x O':>13}"
               f"  final circles")
    for name, v in numbers["variants"].items():
        kept = "all" if v["kept"] is None else ",".join(str(k) for k in v["kept"])
        conv = "never" if v["converge_step"] is None else str(v["converge_step"])
        circ = ",".join(str(c) for c in v["final_circles"]) or "-"
        typer.echo(f"{name:<2}{kept:<14} {v['final_test_loss']:>15.3g} {v['n_spikes']:>6} "
                   f"{conv:>13}  {circ}")
    for c in claims:
        typer.echo(f"[{verdict_text(c.holds)}] {c.paper}\n    criterion: {c.criterion}\n"
                   f"    here: {c.observed}")
    typer.echo(f"figure: {', '.join(str(p) for p in paths)}")
