"""``circle-survival analyze`` (survival tables) and ``circle-survival plot`` (figures).

Every bad request (empty store, unknown run, figure kind, group column or rule, a step whose
embedding is not stored) ends with one line and exit status 2, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from ..errors import ConfigError, StoreError
from .train import parse_list, print_runs

KINDS = ("signal-evolution", "circles-fft", "circles-pca", "planes", "n-circles",
         "survival-rate")
#: Figure kinds drawn from one run (the others summarise every run of the store).
RUN_KINDS = ("signal-evolution", "circles-fft", "circles-pca", "planes")

Arg, Opt = typer.Argument, typer.Option


def register(app: typer.Typer) -> None:
    """Add ``analyze`` and ``plot`` to the CLI."""
    app.command("analyze")(analyze_command)
    app.command("plot")(plot_command)


# -- helpers -----------------------------------------------------------------------------
def open_store(path: Path):
    """Load a store; an empty one raises StoreError."""
    from ..store import load

    store = load(path)
    if store.runs.empty:
        raise StoreError(f"{path}: no complete runs")
    return store


def parse_ints(text: str | None, name: str) -> list[int] | None:
    """'5,17' -> [5, 17]; None stays None; anything else (or nothing) raises ConfigError."""
    values = parse_list(text, name, int, allow_empty=False)
    return None if values is None else list(values)


def pick_run(store, run: str | None) -> str:
    """The run to draw: ``run``, or the only run of the store."""
    if run is None:
        if len(store.runs) == 1:
            return str(store.runs.index[0])
        raise ConfigError(f"{store.path} holds {len(store.runs)} runs; choose one with --run "
                          f"(e.g. --run {store.runs.index[0]}; 'circle-survival show "
                          f"{store.path}' lists them)")
    if run not in store.runs.index:
        raise StoreError(f"no run {run!r} in {store.path} ('circle-survival show {store.path}' "
                         "lists its runs)")
    return run


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


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Lists and tuples as space-separated text for CSV."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(
                lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            out[col] = out[col].map(lambda v: " ".join(str(x) for x in v)
                                    if isinstance(v, list | tuple | np.ndarray) else v)
    return out


def _parquet_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Tuple-valued group columns as lists (Parquet lists)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, tuple)).any():
            out[col] = out[col].map(lambda v: list(v) if isinstance(v, tuple) else v)
    return out


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write each table as NAME.csv and NAME.parquet under ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        _csv_ready(df).to_csv(out / f"{name}.csv", index=False)
        _parquet_ready(df).to_parquet(out / f"{name}.parquet", index=False)
        paths += [out / f"{name}.csv", out / f"{name}.parquet"]
    return paths


# -- analyze -------------------------------------------------------------------------------
def analyze_command(
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    group_by: Annotated[list[str] | None, Opt("--group-by", "-g", help="Config column to group "
                                              "runs by (repeatable), e.g. embedding_seed or d.")
                        ] = None,
    rule: Annotated[str, Opt(help="Survival rule: 2x-mean (the paper's circles) or absolute "
                                  "(final S_k > threshold).")] = "2x-mean",
    threshold: Annotated[float, Opt(help="Threshold of the absolute rule.")] = 10.0,
    out: Annotated[Path | None, Opt("--out", "-o", help="Also write circles, survival and "
                                    "frequencies "
                                         "tables as CSV and Parquet into this directory.")
                   ] = None,
) -> None:
    """Circles per run and the survival rate of every frequency (per group of runs)."""
    from ..analysis.survival import analyze, check_group_by, check_rule

    check_rule(rule, threshold)
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for the tables")
    s = open_store(store)
    group_by = check_group_by(s, group_by or [])
    result = analyze(s, group_by=group_by, rule=rule, threshold=threshold)
    rule_text = rule if rule == "2x-mean" else f"absolute, S_k > {threshold:g}"
    typer.echo(f"circles per run (rule: {rule_text})")
    print_runs(result.circles)
    typer.echo("")
    typer.echo(f"survival rate per frequency k (rule: {rule_text}; {len(result.circles)} "
               "runs; last rows: runs per group, mean circles per run)")
    for line in format_rates(result.rates, result.circles, group_by):
        typer.echo(line)
    typer.echo("")
    c = result.correlation
    typer.echo(f"Pearson r (initial signal, survival rate) over {c.n_points} (group, k) "
               f"points: {c.r:.3f} (p = {c.p_value:.3g})")
    if out is not None:
        paths = write_tables({"circles": result.circles, "survival": result.rates,
                              "frequencies": result.frequencies}, out)
        typer.echo(f"wrote {len(paths)} files to {out}")


# -- plot ---------------------------------------------------------------------------------
def plot_command(
    kind: Annotated[str, Arg(metavar="KIND", help=f"Figure: {', '.join(KINDS)}.")],
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    run: Annotated[str | None, Opt(help="Run id of a one-run figure (default: the store's "
                                        "only run).")] = None,
    out: Annotated[Path, Opt("--out", "-o", help="Directory to write KIND[-RUN].png and .svg "
                                                 "into.")] = Path("."),
    k: Annotated[str | None, Opt("--k", help="Frequencies, e.g. 5,17 (planes: two; "
                                             "circles-fft: any).")] = None,
    steps: Annotated[str | None, Opt(help="Steps of the planes figure, e.g. 0,15000,30000 "
                                          "(their embeddings must be stored).")] = None,
    group_by: Annotated[list[str] | None, Opt("--group-by", "-g", help="survival-rate: group "
                                              "column (repeatable).")] = None,
    rule: Annotated[str, Opt(help="Survival rule: 2x-mean or absolute.")] = "2x-mean",
    threshold: Annotated[float, Opt(help="Threshold of the absolute rule.")] = 10.0,
) -> None:
    """Draw one figure from a store and write it as PNG and SVG."""
    from .. import plot
    from ..analysis.survival import check_rule
    from ..figures.io import save_figure

    if kind not in KINDS:
        raise ConfigError(f"unknown figure kind {kind!r} (choose from {', '.join(KINDS)})")
    check_rule(rule, threshold)
    ks = parse_ints(k, "--k")
    step_list = parse_ints(steps, "--steps")
    s = open_store(store)
    if kind in RUN_KINDS:
        rid = pick_run(s, run)
        fig = {"signal-evolution": lambda: plot.signal_evolution(s, rid, rule=rule,
                                                                 threshold=threshold),
               "circles-fft": lambda: plot.circles_fft(s, rid, ks),
               "circles-pca": lambda: plot.circles_pca(s, rid),
               "planes": lambda: plot.planes(s, rid, ks, step_list, rule=rule,
                                             threshold=threshold)}[kind]()
        stem = Path(out) / f"{kind}-{rid}"
    else:
        if run is not None:
            raise ConfigError(f"--run applies only to the figures of one run "
                              f"({', '.join(RUN_KINDS)}); {kind} summarises every run")
        if kind == "n-circles":
            fig = plot.n_circles(s, rule=rule, threshold=threshold)
        else:
            fig = plot.survival_rate(s, group_by=group_by or [], rule=rule,
                                     threshold=threshold)
        stem = Path(out) / kind
    paths = save_figure(fig, stem)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
