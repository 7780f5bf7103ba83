"""``circle-survival plot``: one figure from a store, as PNG and SVG.

Every bad request (empty store, unknown run, figure kind or rule, a step whose embedding is
not stored) ends with one line and exit status 2, before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .common import (
    Arg,
    CircleRuleOpt,
    Opt,
    StoreArg,
    check_out_dir,
    open_store,
    parse_ints,
    pick_run,
    save_checked,
)

KINDS = ("signal-evolution", "circles-fft", "circles-pca", "planes", "n-circles",
         "survival-rate", "loss-curves")
#: Figure kinds drawn from one run (the others summarise every run of the store).
RUN_KINDS = ("signal-evolution", "circles-fft", "circles-pca", "planes")


def plot_command(
    kind: Annotated[str, Arg(metavar="KIND", help=f"Figure: {', '.join(KINDS)}.")],
    store: StoreArg,
    run: Annotated[str | None, Opt(help="Run id of a one-run figure.",
                                   show_default="the store's only run")] = None,
    out: Annotated[Path, Opt("--out", "-o", help="Directory to write KIND[-RUN].png and .svg "
                                                 "into.")] = Path("."),
    k: Annotated[str | None, Opt("--k", help="Frequencies, e.g. 5,17 (planes: two; "
                                             "circles-fft: any).")] = None,
    steps: Annotated[str | None, Opt(help="Steps of the planes figure, e.g. 0,15000,30000 "
                                          "(their embeddings must be stored).")] = None,
    group_by: Annotated[list[str] | None, Opt("--group-by", "-g", help="survival-rate: group "
                                              "column (repeatable).")] = None,
    circle_rule: CircleRuleOpt = "2x-mean",
    pdf: Annotated[bool, Opt("--pdf", help="Also write the figure as PDF.")] = False,
) -> None:
    """Draw one figure from a store and write it as PNG and SVG (and PDF). loss-curves:
    one run's with --run, else every run's."""
    from .. import plot
    from ..figures.io import figure_formats
    from ..fourier import circle_rule as parse_rule

    if kind not in KINDS:
        raise ConfigError(f"unknown figure kind {kind!r} (choose from {', '.join(KINDS)})")
    rule = parse_rule(circle_rule)
    ks = parse_ints(k, "--k")
    if kind == "planes":
        plot.check_plane_ks(ks)
    step_list = parse_ints(steps, "--steps")
    check_out_dir(out, "the figure")
    s = open_store(store)
    if kind in RUN_KINDS:
        rid = pick_run(s, run)
        fig = {"signal-evolution": lambda: plot.signal_evolution(s, rid, rule=rule),
               "circles-fft": lambda: plot.circles_fft(s, rid, ks, rule=rule),
               "circles-pca": lambda: plot.circles_pca(s, rid, rule=rule),
               "planes": lambda: plot.planes(s, rid, ks, step_list, rule=rule)}[kind]()
        stem = f"{kind}-{rid}"
    elif kind == "loss-curves":
        fig = plot.loss_curves(s, [pick_run(s, run)] if run is not None else None)
        stem = f"{kind}-{run}" if run is not None else kind
    else:
        if run is not None:
            raise ConfigError(f"--run applies only to the figures of one run "
                              f"({', '.join(RUN_KINDS)}); {kind} summarises every run")
        if kind == "n-circles":
            fig = plot.n_circles(s, rule=rule)
        else:
            fig = plot.survival_rate(s, group_by=group_by or [], rule=rule)
        stem = kind
    paths = save_checked(fig, Path(out), stem, figure_formats(pdf))
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
