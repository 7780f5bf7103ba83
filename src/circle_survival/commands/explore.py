"""``circle-survival explore``: one self-contained interactive HTML page of a store, written as
``explore.html`` into ``-o/--out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .common import CircleRuleOpt, Opt, StoreArg, check_out_dir, open_store


def explore_command(
    store: StoreArg,
    run: Annotated[str | None, Opt(help="Run shown first.", show_default="the first by seeds")
                   ] = None,
    out: Annotated[Path, Opt("--out", "-o", help="Directory to write explore.html into.")
                   ] = Path("."),
    max_embedding_runs: Annotated[int, Opt(help="Runs whose embeddings the page carries "
                                                "(the shown run first).")] = 8,
    collaboration: Annotated[bool, Opt(help="Compute collaboration losses of runs with "
                                            "snapshots.")] = True,
    circle_rule: CircleRuleOpt = "2x-mean",
) -> None:
    """Write an interactive page (Plotly, no server, no network) of a store's runs: signals,
    embeddings on frequency and PCA planes over the stored steps, losses, collaboration
    losses, and survival across the runs."""
    from ..fourier import circle_rule as parse_rule
    from ..report.explorer import write_explorer

    rule = parse_rule(circle_rule)
    if max_embedding_runs < 0:
        raise ConfigError(f"max-embedding-runs must be >= 0, got {max_embedding_runs}")
    check_out_dir(out, "explore.html")
    s = open_store(store)
    path = write_explorer(s, out / "explore.html", run, max_embedding_runs=max_embedding_runs,
                          collaboration=collaboration, rule=rule)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {len(s)} runs)")
