"""``circle-survival show``: the runs of a store, as a table, CSV or JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import Opt, StoreArg, check_format, print_runs


def show_command(
    store: StoreArg,
    fmt: Annotated[str, Opt("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """List the runs of a store: seeds, final test loss and accuracy, circles.

    Every file of every batch is read against its checksum first: the runs of a damaged
    batch are never listed (a warning names the batch; ``train`` sets it aside and trains its
    runs again)."""
    from ..store import load

    check_format(fmt)
    s = load(store, every_byte=True)
    if s.runs.empty:  # a listing of nothing, not an error: scripts read it
        typer.echo(f"{store}: no complete runs", err=fmt != "table")
        if fmt == "json":
            typer.echo("[]")
        return
    print_runs(s.runs.sort_values(["embedding_seed", "mlp_seed", "split_seed"]), fmt)
