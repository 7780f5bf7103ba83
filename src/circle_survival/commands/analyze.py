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
    store: Annotated[Path, Arg(help="A store directory.")],
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
    kind: Annotated[str, Arg(help=f"Figure: {', '.join(KINDS)}.")],
    store: Annotated[Path, Arg(help="A store directory.")],
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
    from ..analysis.survival import check_group_by, check_rule
    from ..figures.io import save_figure

    if kind not in KINDS:
        raise ConfigError(f"unknown figure kind {kind!r} (choose from {', '.join(KINDS)})")
    check_rule(rule, threshold)
    ks = parse_ints(k, "--k")
    step_list = parse_ints(steps, "--steps")
    s = open_store(store)
    if kind in RUN_KINDS:
        rid = pick_run(s, run)
        fig = _run_figure(kind, s, rid, ks, step_list, rule, threshold)
        stem = Path(out) / f"{kind}-{rid}"
    else:
        if run is not None:
            raise ConfigError(f"--run applies only to the figures of one run "
                              f"({', '.join(RUN_KINDS)}); {kind} summarises every run")
        group_by = check_group_by(s, group_by or [])
        fig = _store_figure(kind, s, None, group_by, rule, threshold)
        stem = Path(out) / kind
    paths = save_figure(fig, stem)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def _check_ks(ks: list[int] | None, p: int) -> None:
    from ..fourier import n_freq

    if ks is None:
        return
    bad = [q for q in ks if not 1 <= q <= n_freq(p)]
    if bad:
        raise ConfigError(f"--k: frequency {bad[0]} is outside 1 .. {n_freq(p)} for p={p}")


def _survivors(sig_final: np.ndarray, p: int, rule: str, threshold: float) -> list[int]:
    from ..analysis.survival import survived
    from ..fourier import n_freq

    alive = survived(sig_final, p, rule, threshold)
    return [q for q in range(1, n_freq(p) + 1) if alive[q]]


def _run_figure(kind: str, s, rid: str, ks: list[int] | None, steps: list[int] | None,
                rule: str, threshold: float):
    from ..figures import runs as rf

    cfg = s.config(rid)
    p = cfg.p
    _check_ks(ks, p)
    if kind == "signal-evolution":
        sig_steps, sig = s.signals(rid)
        return rf.signal_evolution(sig_steps, sig, p, _survivors(sig[-1], p, rule, threshold),
                                   title=f"Signal evolution of {rid}")
    embeddings = s.embeddings(rid)
    final = embeddings[cfg.steps]
    if kind == "circles-fft":
        return rf.circles_fft(final, ks, title=f"Final circles of {rid} on FFT planes")
    if kind == "circles-pca":
        return rf.circles_pca(final, title=f"Final circles of {rid} on PCA planes")
    return _planes_figure(s, rid, embeddings, ks, steps, rule, threshold)


def _planes_figure(s, rid: str, embeddings: dict, ks: list[int] | None,
                   steps: list[int] | None, rule: str, threshold: float):
    from ..figures import runs as rf
    from ..fourier import signal

    cfg = s.config(rid)
    p = cfg.p
    stored = sorted(embeddings)
    if steps is None:
        steps = stored if len(stored) <= 3 else [0, min(stored, key=lambda t: abs(
            t - cfg.steps / 2)), cfg.steps]
    missing = [t for t in steps if t not in embeddings]
    if missing:
        raise ConfigError(f"run {rid} has no stored embedding at step(s) "
                          f"{', '.join(map(str, missing))} (stored: "
                          f"{', '.join(map(str, stored))})")
    sig_final = signal(embeddings[cfg.steps], half=True)
    alive = _survivors(sig_final, p, rule, threshold)
    if ks is None:
        ks = _default_plane_ks(signal(embeddings[0], half=True), alive, p)
    return rf.planes_over_time(embeddings, ks, steps, survivors=alive,
                               title=f"Embedding of {rid} on the planes of k = "
                                     f"{', '.join(map(str, ks))}")


def _default_plane_ks(sig0: np.ndarray, alive: list[int], p: int) -> list[int]:
    """The strongest survivor (by initial signal) and the strongest dead frequency."""
    from ..fourier import n_freq

    order = sorted(range(1, n_freq(p) + 1), key=lambda q: -sig0[q])
    live = [q for q in order if q in alive]
    dead = [q for q in order if q not in alive]
    picks = (live[:1] + dead[:1]) if live and dead else order[:2]
    return picks


def _store_figure(kind: str, s, ids: list[str] | None, group_by: list[str], rule: str,
                  threshold: float):
    from ..analysis.survival import circles_table, frequency_table, survival_rates
    from ..figures import runs as rf

    rule_text = rule if rule == "2x-mean" else f"S_k > {threshold:g}"
    if kind == "n-circles":
        circ = circles_table(s, ids, rule=rule, threshold=threshold)
        n = circ["n_circles"].to_numpy()
        return rf.n_circles_histogram(
            n, title=f"Circles per run ({len(n)} runs, mean {n.mean():.2f}; rule {rule_text})")
    freq = frequency_table(s, ids, group_by=group_by, rule=rule, threshold=threshold)
    rates = survival_rates(freq, group_by)
    n_runs = freq["run_id"].nunique()
    return rf.survival_rate_bars(
        rates, group_by, title=f"Survival rate per frequency ({n_runs} runs; rule {rule_text})")
