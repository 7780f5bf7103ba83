"""``circle-survival collaboration``: the loss with a run's embedding restricted to one circle,
to the strongest and one more, and to the two strongest and one more (experiment 10), at every
parameter snapshot; with ``-o/--out DIR`` also the figure (PNG, SVG) and the losses (CSV,
Parquet)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from ..errors import ConfigError, StoreError
from .common import (
    CircleRuleOpt,
    Opt,
    RunOpt,
    StoreArg,
    check_device,
    device_help,
    num,
    open_store,
    pick_run,
    report_written,
    save_figures,
    write_tables,
)


def read_snapshots(store, run_id: str) -> dict[int, dict[str, np.ndarray]]:
    """Every parameter snapshot of a run (step -> state dict); StoreError if it has none."""
    steps = store.snapshot_steps(run_id)
    if not steps:
        raise StoreError(f"run {run_id} has no parameter snapshots; record them when training "
                         "(circle-survival train ... --snapshot-every 100)")
    return {s: store.snapshot(run_id, s) for s in steps}


def format_collaboration(losses: pd.DataFrame, survivors: Sequence[int],
                         strongest: Sequence[int]) -> list[str]:
    """Loss at the last snapshot: one row per k, one column per mode (* marks survivors)."""
    from ..analysis.collaboration import MODES

    last = losses[losses["step"] == losses["step"].max()]
    heads = {"single": "k alone", "strongest+k": f"{strongest[0]} + k",
             "pair+k": f"{strongest[0]}, {strongest[1]} + k"}
    cells = {m: dict(zip(g["k"], g["loss"], strict=True)) for m, g in last.groupby("mode")}
    widths = [max(10, len(heads[m])) for m in MODES]
    lines = ["    k   " + "  ".join(f"{heads[m]:>{w}}" for m, w in zip(MODES, widths,
                                                                    strict=True))]
    for k in sorted(last["k"].unique()):
        mark = "*" if k in survivors else " "
        row = "  ".join(f"{num(cells[m][k]):>{w}}" if k in cells.get(m, {}) else f"{'-':>{w}}"
                        for m, w in zip(MODES, widths, strict=True))
        lines.append(f"{int(k):>5}{mark}  {row}")
    return lines


def collaboration_command(
    store: StoreArg,
    run: RunOpt = None,
    out: Annotated[Path | None, Opt("--out", "-o", help="Write the figure (PNG, SVG) and the "
                                    "losses (CSV, Parquet) into this directory.")] = None,
    device: Annotated[str, Opt(help=device_help("Device of the forward passes"))] = "auto",
    circle_rule: CircleRuleOpt = "2x-mean",
) -> None:
    """Loss with the embedding restricted to one circle, {strongest, k}, {two strongest, k}."""
    from ..analysis.collaboration import collaboration_losses, full_loss
    from ..fourier import circle_rule as parse_rule
    from ..fourier import n_freq

    rule = parse_rule(circle_rule)
    device = check_device(device)
    st = open_store(store)
    rid = pick_run(st, run)
    cfg = st.config(rid)
    if n_freq(cfg.p) < 3:
        raise ConfigError(f"run {rid}: the collaboration analysis needs at least 3 circles, "
                          f"p = {cfg.p} has {n_freq(cfg.p)}")
    snaps = read_snapshots(st, rid)
    sig = st.signals(rid)[1]
    res = collaboration_losses(snaps, cfg.activation, final_signal=sig[-1], device=device,
                               rule=rule, start_signal=sig[0])
    full = full_loss(snaps, cfg.activation, device=device)
    steps = res.steps
    last = int(steps[-1])
    typer.echo(f"run {rid}: {len(steps)} snapshots (steps {int(steps[0])} .. {last}), "
               f"p = {cfg.p}, d = {cfg.d}")
    typer.echo(f"survivors (circles of the final signal, {rule}): "
               f"{', '.join(map(str, res.survivors)) or '-'}")
    typer.echo(f"strongest (final signal): {', '.join(map(str, res.strongest))}")
    note = "" if last == cfg.steps else f", the last snapshot of {cfg.steps} steps"
    typer.echo(f"loss on all p^2 pairs at step {last}{note} (* survivor); full model "
               f"{num(full['loss'].iloc[-1])}")
    for line in format_collaboration(res.losses, res.survivors, res.strongest):
        typer.echo(line)
    if out is None:
        return
    from ..figures.dynamics import collaboration_figure

    paths = write_tables({"collaboration_losses": res.losses, "full_loss": full}, out)
    paths += save_figures({"collaboration": collaboration_figure(
        res.losses, res.survivors, res.strongest, full=full)}, out)
    report_written(paths, out)
