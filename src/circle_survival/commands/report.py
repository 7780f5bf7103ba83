"""``circle-survival report``: one self-contained HTML page of every reproduced experiment in
some stores, and a Markdown summary beside it, written into ``-o/--out DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Arg, Opt, StorePath, store_path


def report_command(
    stores: Annotated[list[StorePath], Arg(metavar="STORE...", parser=store_path,
                                           help="Stores (or result directories).")],
    out: Annotated[Path, Opt("--out", "-o", help="Directory to write report.html and "
                                                 "report.md into.")] = Path("."),
) -> None:
    """Write one self-contained HTML page of every reproduced experiment in the stores
    (OUT/report.html), and a Markdown summary beside it (OUT/report.md)."""
    from ..report.page import write_report

    html_path, md_path = write_report(stores, Path(out) / "report.html")
    typer.echo(f"wrote {html_path} and {md_path}")
