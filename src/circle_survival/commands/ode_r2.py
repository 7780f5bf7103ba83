"""``circle-survival ode-r2``: the R^2 of experiment 11's linear ODE fits (Lasso, the authors'
Lasso(alpha=0), exact least squares) of every run, by embedding width d; with ``-o/--out DIR``
also the tables (CSV), the figure (PNG, SVG) and the numbers (JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from .common import (
    AlphaOpt,
    Opt,
    StoreArg,
    WhereOpt,
    WindowOpt,
    check_window,
    num,
    open_store,
    report_written,
    save_figures,
    select_where,
    window_signals,
    write_csv,
    write_json,
)


def format_r2(summary: pd.DataFrame) -> list[str]:
    """One row per d: number of runs, then the R^2 of each fit (Lasso, Lasso(alpha=0), exact
    least squares) as mean ± SD."""
    heads = {"lasso": "Lasso", "lasso0": "Lasso(0)", "ols": "least squares"}
    lines = [f"{'d':>5}  {'runs':>4}  " + "  ".join(f"{h:>17}" for h in heads.values())]
    for d, g in summary.groupby("d", sort=True):
        cell = {r.method: f"{num(r.mean, '.4f')} ± {num(r.sd, '.4f')}"
                for r in g.itertuples(index=False)}
        lines.append(f"{int(d):>5}  {int(g['runs'].max()):>4}  "
                     + "  ".join(f"{cell.get(m, '-'):>17}" for m in heads))
    return lines


def ode_r2_command(
    store: StoreArg,
    window: WindowOpt = 1000,
    alpha: AlphaOpt = 0.01,
    where: WhereOpt = None,
    out: Annotated[Path | None, Opt("--out", "-o", help="Write the R^2 tables (CSV), the "
                                    "figure (PNG, SVG) and the numbers (JSON) into this "
                                    "directory.")] = None,
) -> None:
    """R^2 of the linear ODE fits (experiment 11's Lasso, the authors' Lasso(alpha=0) and the
    exact least squares) of every run, by embedding width d."""
    from ..experiments.ode import r2_by_d, r2_table

    check_window(window, alpha)
    st = open_store(store)
    ids = select_where(st, where)
    for rid in ids:  # enough recorded signals in the window, before the first (slow) fit
        window_signals(st, rid, window)
    results = r2_table(st, ids, window, alpha)
    summary = r2_by_d(results)
    typer.echo(f"R^2 of the linear ODE over steps 0 .. {window} (Lasso alpha = {alpha:g}, "
               f"Lasso(alpha = 0), exact least squares), mean ± SD over runs; {len(ids)} runs")
    for line in format_r2(summary):
        typer.echo(line)
    bad = results.loc[~results["identifiable"] & (results["method"] == "ols"), "run_id"]
    if len(bad):
        typer.echo(f"note: {len(bad)} of {len(ids)} runs are not identifiable (rank-deficient "
                   f"design; e.g. {bad.iloc[0]})")
    if out is None:
        return
    from ..experiments.ode import FITS
    from ..figures.dynamics import r2_vs_d

    paths = write_csv({"ode_r2": results, "ode_r2_by_d": summary}, out)
    plot = results.assign(method=results["method"].map(FITS))
    paths += save_figures({"ode_r2_vs_d": r2_vs_d(plot)}, out)
    numbers = {"store": str(store), "window": window, "alpha": alpha, "runs": len(ids),
               "by_d": summary.to_dict(orient="records")}
    paths.append(write_json(numbers, out / "ode_r2.json"))
    report_written(paths, out)
