"""``circle-survival analyze``: circles per run and the survival rate of every frequency, per
group of runs.

Every bad request (empty store, unknown group column or rule, an ``--out`` that is a file)
ends with one line and exit status 2, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from .common import (
    CircleRuleOpt,
    Opt,
    StoreArg,
    check_out_dir,
    open_store,
    print_runs,
    report_written,
    write_tables,
)


def group_label(keys: Sequence[str], values) -> str:
    """A group's values as a short label: '3' or '16,0'; 'all' without group columns."""
    if not keys:
        return "all"
    values = values if isinstance(values, tuple) else (values,)
    return ",".join(str(v) for v in values)


def format_rates(rates: pd.DataFrame, circles: pd.DataFrame, group_by: Sequence[str]
                 ) -> list[str]:
    """The survival table as text: a header naming the group columns, one row per k and one
    column per group (survival rate, 2 decimals; '-' where a group has no such k), then the
    number of runs and the mean number of circles per run of each group."""
    groups = list(rates.groupby(list(group_by), sort=True)) if group_by else [((), rates)]
    labels = [group_label(group_by, key) for key, _ in groups]
    widths = [max(5, len(label)) for label in labels]
    if group_by:
        mean_circ = circles.groupby(list(group_by), sort=True)["n_circles"].mean()
        means = [mean_circ.loc[key] for key, _ in groups]
    else:
        means = [circles["n_circles"].mean()]
    lines = [f"groups: {', '.join(group_by) or 'all runs'}",
             "      k  " + "  ".join(f"{lab:>{w}}" for lab, w in zip(labels, widths,
                                                                      strict=True))]
    cells = [dict(zip(g["k"], g["rate"], strict=True)) for _, g in groups]
    for k in sorted(rates["k"].unique()):
        row = "  ".join(f"{c[k]:>{w}.2f}" if k in c else f"{'-':>{w}}"
                        for c, w in zip(cells, widths, strict=True))
        lines.append(f"{int(k):>7}  {row}")
    runs = "  ".join(f"{int(g['n_runs'].max()):>{w}}"
                     for (_, g), w in zip(groups, widths, strict=True))
    lines.append(f"   runs  {runs}")
    circ = "  ".join(f"{m:>{w}.2f}" for m, w in zip(means, widths, strict=True))
    lines.append(f"circles  {circ}")
    return lines


def analyze_command(
    store: StoreArg,
    group_by: Annotated[list[str] | None, Opt("--group-by", "-g", help="Config column to group "
                                              "runs by (repeatable), e.g. embedding_seed or d.")
                        ] = None,
    circle_rule: CircleRuleOpt = "2x-mean",
    out: Annotated[Path | None, Opt("--out", "-o", help="Also write circles, survival and "
                                    "frequencies tables as CSV and Parquet into this "
                                    "directory.")] = None,
) -> None:
    """Circles per run and the survival rate of every frequency (per group of runs)."""
    from ..analysis.survival import analyze, check_group_by
    from ..fourier import circle_rule as parse_rule

    rule = parse_rule(circle_rule)
    check_out_dir(out, "the tables")
    s = open_store(store)
    group_by = check_group_by(s, group_by or [])
    result = analyze(s, group_by=group_by, rule=rule)
    typer.echo(f"circles per run ({rule.describe()})")
    print_runs(result.circles)
    typer.echo("")
    typer.echo(f"survival rate per frequency k ({rule}; "
               f"{len(result.circles)} runs; last rows: runs per group, mean circles per run)")
    for line in format_rates(result.rates, result.circles, group_by):
        typer.echo(line)
    typer.echo("")
    c = result.correlation
    typer.echo(f"Pearson r (initial signal, survival rate) over {c.n_points} (group, k) "
               f"points: {c.r:.3f} (p = {c.p_value:.3g})")
    if out is not None:
        report_written(write_tables({"circles": result.circles, "survival": result.rates,
                                     "frequencies": result.frequencies}, out), out)
