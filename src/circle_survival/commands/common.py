"""What the commands share: their common arguments and options, opening a store and choosing
its runs (one run, ``--where``), reading lists from the command line, writing tables, figures
and JSON into ``-o/--out DIR``, and formatting numbers, durations and run listings.

Heavy modules (the store, figures, rich) are imported inside the functions that need them, to
keep the CLI's start-up short.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from ..config import DEVICES, one_of
from ..errors import ConfigError, StoreError

Arg, Opt = typer.Argument, typer.Option
log = logging.getLogger(__name__)

# -- arguments and options of many commands ------------------------------------------------
def store_path(text: str | Path) -> Path:
    """A STORE argument as a path; an empty one (which would be the current directory) is
    refused in one line."""
    if isinstance(text, Path):
        return text
    if not text.strip():
        raise typer.BadParameter("the path is empty; name a store directory")
    return Path(text)


#: The annotation of a path given as text and parsed by the command (a STORE): a Path, named
#: ``path`` so that ``--help`` shows it as ``<path>`` like every other path (Typer names a
#: parsed parameter's value by its annotation).
StorePath = type("path", (type(Path()),), {"__module__": __name__})
StoreArg = Annotated[StorePath, Arg(metavar="STORE", help="A store directory.",
                                    parser=store_path)]
QuietOpt = Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")]
MaxBatchOpt = Annotated[int | None, Opt(help="Models per batch.", show_default="from memory")]
RunOpt = Annotated[str | None, Opt(help="Run id.", show_default="the store's only run")]
CIRCLE_RULE_HELP = ("Circle rule: 2x-mean (the authors'), absolute:T (S_k > T), max:F "
                    "(S_k > F x the strongest), start:F (S_k > F x its own S_k at step 0) or "
                    "half-2x-mean (2 x the mean over k = 1 .. (p-1)/2).")
CircleRuleOpt = Annotated[str, Opt("--circle-rule", help=CIRCLE_RULE_HELP)]
WhereOpt = Annotated[list[str] | None, Opt("--where", "-w", help="Keep runs with COL=VALUE "
                                           "(repeatable), e.g. embedding_seed=0.")]
WindowOpt = Annotated[int, Opt(help="Fit over steps 0 .. WINDOW.")]
AlphaOpt = Annotated[float, Opt(help="Lasso penalty (scikit-learn's alpha).")]

#: What ``--device`` accepts (config.DEVICES, and cuda:N for one GPU of several).
DEVICE_CHOICES = one_of((*DEVICES, "cuda:N"))


def device_help(what: str = "Device") -> str:
    """The help of every ``--device`` option: 'WHAT: auto, cpu, cuda or cuda:N ...'."""
    return f"{what}: {DEVICE_CHOICES} (auto: cuda when present)."


def check_device(device: str) -> str:
    """``device`` resolved ("auto": cuda when present); ConfigError for a name outside
    :data:`DEVICE_CHOICES` or for CUDA where there is none."""
    from ..config import resolve_device

    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"--device: expected {DEVICE_CHOICES}, got {device!r}")
    return resolve_device(device)


# -- a store and its runs ------------------------------------------------------------------
def open_store(path: Path):
    """The store at ``path``, opened once; StoreError if it holds no complete run."""
    from ..store import load

    log.info("opening store %s", path)
    store = load(path).require_runs()
    log.debug("%s: %d complete runs", path, len(store.runs))
    return store


def pick_run(store, run: str | None) -> str:
    """``run`` (checked to be in the store), or the store's only run."""
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


#: Columns the ``--where`` error message suggests.
SUGGESTED_COLUMNS = ("embedding_seed", "mlp_seed", "split_seed", "p", "d", "weight_decay", "lr")


def select_where(store, where: Sequence[str] | None) -> list[str]:
    """The run ids matching every COL=VALUE filter (all runs without filters)."""
    runs = store.runs
    keep = np.ones(len(runs), dtype=bool)
    for item in where or []:
        col, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not col:
            raise ConfigError(f"--where: expected COL=VALUE (e.g. embedding_seed=0), got "
                              f"{item!r}")
        if col not in runs.columns:
            known = ", ".join(c for c in SUGGESTED_COLUMNS if c in runs.columns)
            raise ConfigError(f"--where: unknown column {col!r} (config columns such as "
                              f"{known})")
        keep &= _matches(runs[col], value, col)
    ids = [str(r) for r in runs.index[keep]]
    if not ids:
        raise StoreError(f"no run of {store.path} matches {' '.join(where or [])} "
                         f"({len(runs)} runs in all)")
    return ids


def _matches(column: pd.Series, value: str, name: str) -> np.ndarray:
    """Which rows of a run-table column equal ``value`` (given as text)."""
    if pd.api.types.is_bool_dtype(column):
        v = value.lower()
        if v not in ("true", "false", "1", "0"):
            raise ConfigError(f"--where {name}: expected true or false, got {value!r}")
        return column.to_numpy(bool) == (v in ("true", "1"))
    if pd.api.types.is_numeric_dtype(column):
        try:
            x = float(value)
        except ValueError:
            raise ConfigError(f"--where {name}: expected a number, got {value!r}") from None
        return np.isclose(column.to_numpy(float), x, rtol=1e-12, atol=0.0)
    return (column.map(_text) == value).to_numpy(bool)


def _text(v: Any) -> str:
    """A run-table value as the text ``--where`` compares with: lists as '16,16'."""
    if isinstance(v, list | tuple | np.ndarray):
        return ",".join(_text(x) for x in v)
    return str(v.item() if isinstance(v, np.generic) else v)


def group_name(keys: Sequence[str], values: Any) -> str:
    """'d=16' or 'd=16,embedding_seed=0' for a group of runs."""
    values = values if isinstance(values, tuple) else (values,)
    return ",".join(f"{k}={_text(v)}" for k, v in zip(keys, values, strict=True))


# -- the window of the ODE fits -----------------------------------------------------------
def check_window(window: int, alpha: float) -> None:
    if window < 2:
        raise ConfigError(f"--window must be >= 2, got {window}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"--alpha must be a positive number, got {alpha}")


def window_signals(store, run_id: str, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, signals) of a run over steps 0 .. window, reading only those records.

    ConfigError when the run is shorter than the window or records fewer than three signals
    in it (two transitions).
    """
    from ..training.record_plan import RecordPlan

    cfg = store.config(run_id)
    if cfg.steps < window:
        raise ConfigError(f"run {run_id} has {cfg.steps} steps, fewer than the window "
                          f"{window}; choose --window {cfg.steps} or less")
    steps = np.asarray(RecordPlan.of(cfg).signal_steps)
    n = int((steps <= window).sum())
    if n < 3:
        raise ConfigError(f"run {run_id} records signals every {cfg.signal_every} steps: "
                          f"{n} record(s) in steps 0 .. {window}, the fit needs at least 3")
    sig = store.stack("signals", [run_id], steps=slice(0, n))[0]
    return steps[:n], sig


# -- lists on the command line -------------------------------------------------------------
def parse_list(text: str | None, name: str, kind: type = int, *, allow_empty: bool = True
               ) -> tuple | None:
    """'100,100' -> (100, 100) (``kind`` float: numbers); None stays None; a bad value (or no
    value, unless ``allow_empty``) raises ConfigError naming the option."""
    if text is None:
        return None
    try:
        out = tuple(kind(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise ConfigError(f"{name}: expected comma-separated {what}, got {text!r}") from None
    if not out and not allow_empty:
        raise ConfigError(f"{name}: no values in {text!r}")
    return out


def parse_ints(text: str | None, name: str) -> list[int] | None:
    """'5,17' -> [5, 17]; None stays None; anything else (or nothing) raises ConfigError."""
    values = parse_list(text, name, int, allow_empty=False)
    return None if values is None else list(values)


# -- files written into -o/--out DIR -------------------------------------------------------
def check_out_dir(out: Path | None, what: str) -> None:
    """Refuse an ``--out`` that is a file, before anything is computed or written."""
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory to write {what} into")


def out_file(out: Path, name: str) -> Path:
    """The file ``name`` under ``-o/--out DIR``: one plain name, never written through a link
    (:func:`circle_survival.store.layout.safe_path`, the one check of every path a command
    writes)."""
    from ..store.layout import safe_path

    return safe_path(out, name)


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write each table as NAME.csv and NAME.parquet under ``out``; return the paths."""
    paths = [out_file(out, f"{name}.{ext}") for name in tables for ext in ("csv", "parquet")]
    log.info("writing %s (CSV, Parquet) into %s", ", ".join(tables), out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        _csv_ready(df).to_csv(out_file(out, f"{name}.csv"), index=False)
        _parquet_ready(df).to_parquet(out_file(out, f"{name}.parquet"), index=False)
    return paths


def write_csv(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write each table as NAME.csv under ``out`` (as it is); return the paths."""
    paths = [out_file(out, f"{name}.csv") for name in tables]
    log.info("writing %s (CSV) into %s", ", ".join(tables), out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(out_file(out, f"{name}.csv"), index=False)
    return paths


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


def write_json(data: dict, path: Path) -> Path:
    """Write ``data`` as indented JSON (NumPy values as Python ones, NaN as null)."""
    from ..plain import json_ready

    path = out_file(path.parent, path.name)
    log.info("writing %s", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(data), indent=2) + "\n")
    return path


def save_figures(figures: dict[str, Any], out: Path) -> list[Path]:
    """Write each figure as NAME.png and NAME.svg under ``out``; return the paths."""
    paths = []
    for name, fig in figures.items():
        paths += save_checked(fig, out, name)
    return paths


def save_checked(fig: Any, out: Path, stem: str, formats: Sequence[str] = ("png", "svg")
                 ) -> list[Path]:
    """Write ``fig`` as STEM.png and STEM.svg under ``out``, each path checked first
    (:func:`out_file`)."""
    from ..figures.io import save_figure

    for fmt in formats:
        out_file(out, f"{stem}.{fmt}")
    log.info("writing %s.%s into %s", stem, ",".join(formats), out)
    return save_figure(fig, out_file(out, stem), formats)


def report_written(paths: Sequence[Path], out: Path) -> None:
    typer.echo(f"wrote {len(paths)} files to {out}")


def echo_claims(result, path: Path) -> None:
    """An experiment result's title and claims, and where its files are."""
    from ..report.wording import runs_text, verdict_text

    typer.echo(f"{result.title} ({runs_text(result.n_runs)})")
    for c in result.claims:
        verdict = "undecided" if c.holds is None else verdict_text(c.holds)
        typer.echo(f"  [{verdict}] paper: {c.paper}\n      here: {c.observed}")
    typer.echo(f"figures and numbers: {path.parent}")


# -- numbers and listings ------------------------------------------------------------------
def num(x: float, fmt: str = ".3g") -> str:
    """A number for the terminal; NaN and infinities as 'nan', 'inf'."""
    x = float(x)
    return f"{x:{fmt}}" if math.isfinite(x) else str(x)


def human_seconds(s: float) -> str:
    """3.2 s, 4.5 min, 2.1 h, 3.0 days."""
    if s < 90:
        return f"{s:.1f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def human_bytes(n: float) -> str:
    """1.2 kB, 3.4 MB, 5.6 GB (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


@contextlib.contextmanager
def busy(text: str, quiet: bool = False) -> Iterator[None]:
    """A spinner with ``text`` and the elapsed time on stderr while a long phase runs (none
    when ``quiet`` or when stderr is not a terminal)."""
    import sys

    if quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


#: the output formats of a run listing
FORMATS = ("table", "csv", "json")
#: the columns of a run listing: (column, header)
RUN_COLUMNS = (("run_id", "run_id"), ("embedding_seed", "emb"), ("mlp_seed", "mlp"),
               ("split_seed", "split"), ("test_loss", "test_loss"), ("test_acc", "test_acc"),
               ("n_circles", "n"), ("circles", "circles"))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def print_runs(runs: pd.DataFrame, fmt: str = "table") -> None:
    """The runs' ids, seeds, final test loss and accuracy and circles: a table (rich), CSV
    (circles space-separated) or JSON (a list of records). Where ``runs`` has a circle_rule
    column, CSV and JSON carry it and the table names it in the circles header."""
    cols = [c for c, _ in RUN_COLUMNS] + (["circle_rule"] if "circle_rule" in runs else [])
    listing = runs[cols].reset_index(drop=True).copy()
    listing["circles"] = [[int(c) for c in cs] for cs in listing["circles"]]
    listing["n_circles"] = listing["n_circles"].astype(int)
    if check_format(fmt) == "csv":
        csv = listing.assign(circles=[" ".join(map(str, c)) for c in listing["circles"]])
        typer.echo(csv.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        typer.echo(listing.to_json(orient="records", indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    rules = list(dict.fromkeys(listing["circle_rule"])) if "circle_rule" in listing else []
    for col, head in RUN_COLUMNS:
        if col == "circles" and rules:
            head = f"circles ({', '.join(rules)})"
        table.add_column(head, justify="left" if col in ("run_id", "circles") else "right",
                         no_wrap=col == "run_id")
    for r in listing.itertuples(index=False):
        table.add_row(r.run_id, str(r.embedding_seed), str(r.mlp_seed), str(r.split_seed),
                      f"{r.test_loss:.3g}", f"{r.test_acc:.3f}", str(r.n_circles),
                      ", ".join(map(str, r.circles)) or "-")
    Console(width=max(120, len(listing.iloc[0].run_id) + 60) if len(listing) else 120,
            highlight=False, soft_wrap=True).print(table)
