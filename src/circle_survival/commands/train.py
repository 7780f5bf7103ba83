"""``circle-survival train`` (runs from config fields and seed lists) and ``show``.

``train`` is a one-spec sweep: its runs go through the same lock, record, resume and executors
as ``sweep run`` (:func:`circle_survival.sweep.run_sweep`). Runs already complete in the store
are skipped; a store holding runs of another config (beyond the seeds) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError

Opt, Arg = typer.Option, typer.Argument
SEED_KEYS = ("embedding_seeds", "mlp_seeds", "split_seeds")


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``show`` to the CLI."""
    app.command("train")(train_command)
    app.command("show")(show_command)


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


def train_spec(fields: dict, seeds: dict[str, str | None], grid: bool):
    """The one-spec sweep of a train command: ``fields`` (config fields, with the TOML file's
    ``seeds``, ``embedding_seeds``, ``mlp_seeds``, ``split_seeds`` and ``grid`` keys if any)
    and the command line's seed lists ``seeds`` (keys "seeds" and :data:`SEED_KEYS`), which
    win over the file's. A source without a list keeps its ``<source>_seed`` field (or 0)."""
    import hashlib
    import json

    from ..config import RunConfig, require_type
    from ..plain import plain
    from ..sweep import SweepSpec

    base = dict(fields)
    file_seeds = {k: base.pop(k, None) for k in ("seeds", *SEED_KEYS, "grid")}
    lists = {}
    for key in SEED_KEYS:
        for value in (seeds.get(key), file_seeds[key], seeds.get("seeds"), file_seeds["seeds"]):
            if value is not None:
                lists[key.removesuffix("_seeds")] = value
                base.pop(key.removesuffix("s"), None)
                break
    RunConfig.from_dict(base)  # a bad field: its own message, before the seeds are expanded
    if file_seeds["grid"] is not None:
        require_type("grid", file_seeds["grid"], bool)
    mode = "grid" if grid or file_seeds["grid"] else "zip"
    text = json.dumps(plain({"base": base, "seeds": lists, "mode": mode}), default=str)
    return SweepSpec(name=f"train-{hashlib.sha256(text.encode()).hexdigest()[:10]}",
                     base=base, seeds=lists, seeds_combine=mode)


def train_command(
    store: Annotated[Path, Arg(metavar="STORE",
            help="Store directory to train into (created if needed).")],
    config: Annotated[Path | None, Opt(help="TOML file of config fields (options override "
                                            "it).")] = None,
    p: Annotated[int | None, Opt(help="Modulus (>= 3). [59]")] = None,
    d: Annotated[int | None, Opt(help="Embedding width. [128]")] = None,
    hidden: Annotated[str | None, Opt(help="Hidden widths, e.g. 100,100. [100,100]")] = None,
    activation: Annotated[str | None, Opt(help="silu, relu, gelu or tanh. [silu]")] = None,
    lr: Annotated[float | None, Opt(help="AdamW learning rate. [0.01]")] = None,
    weight_decay: Annotated[float | None, Opt(help="AdamW weight decay. [0.5]")] = None,
    betas: Annotated[str | None, Opt(help="AdamW betas, e.g. 0.9,0.999.")] = None,
    steps: Annotated[int | None, Opt(help="Optimiser steps. [30000]")] = None,
    train_fraction: Annotated[float | None, Opt(help="Fraction of pairs trained on. [0.8]")
                              ] = None,
    dtype: Annotated[str | None, Opt(help="float64 or float32. [float64]")] = None,
    device: Annotated[str | None, Opt(help="cpu, cuda or auto. [auto]")] = None,
    init_scheme: Annotated[str | None, Opt(help="reference, reference_fresh_embedding or "
                                                "independent. [reference]")] = None,
    freeze_embedding: Annotated[bool | None, Opt(help="Keep the embedding fixed.")] = None,
    freeze_mlp: Annotated[bool | None, Opt(help="Keep the MLP fixed.")] = None,
    signal_every: Annotated[int | None, Opt(help="Record signals every N steps. [1]")] = None,
    signal_dense_until: Annotated[int | None, Opt(help="Also record signals at every step up "
                                                       "to this one (0: off). [0]")] = None,
    metrics_every: Annotated[int | None, Opt(help="Record losses every N steps. [10]")] = None,
    embedding_every: Annotated[int | None, Opt(help="Store embeddings every N steps (0: off)."
                                               )] = None,
    embedding_steps: Annotated[str | None, Opt(help="Store embeddings at these steps.")] = None,
    snapshot_every: Annotated[int | None, Opt(help="Store all parameters every N steps (0: off)."
                                              )] = None,
    snapshot_steps: Annotated[str | None, Opt(help="Store all parameters at these steps.")
                              ] = None,
    record: Annotated[str | None, Opt(help="Recording preset: explore (embeddings on ~60 "
                                           "log-spaced steps; options override it).")] = None,
    seeds: Annotated[str | None, Opt(help="Seeds for all three sources, e.g. 0:8.")] = None,
    embedding_seeds: Annotated[str | None, Opt(help="Embedding seeds, e.g. 0 or 0:8.")] = None,
    mlp_seeds: Annotated[str | None, Opt(help="MLP seeds.")] = None,
    split_seeds: Annotated[str | None, Opt(help="Split seeds.")] = None,
    grid: Annotated[bool, Opt("--grid", help="Every combination of the seed lists (default: "
                                             "zip).")] = False,
    max_batch: Annotated[int | None, Opt(help="Models per batch (default: from memory).")
                         ] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train runs (one per seed combination) into a store, then print their circles.

    Runs already complete in the store are skipped.
    """
    from ..config import load_toml
    from ..store import check_same_base, is_store, load
    from ..sweep import run_sweep

    fields = load_toml(config) if config is not None else {}
    if not isinstance(fields, dict):
        raise ConfigError(f"{config}: expected a table of config fields")
    cli_values = {
        "p": p, "d": d, "hidden": parse_list(hidden, "hidden"), "activation": activation,
        "lr": lr, "weight_decay": weight_decay, "betas": parse_list(betas, "betas", float),
        "steps": steps, "train_fraction": train_fraction, "dtype": dtype, "device": device,
        "init_scheme": init_scheme, "freeze_embedding": freeze_embedding,
        "freeze_mlp": freeze_mlp, "signal_every": signal_every,
        "signal_dense_until": signal_dense_until, "metrics_every": metrics_every,
        "embedding_every": embedding_every,
        "embedding_steps": parse_list(embedding_steps, "embedding_steps"),
        "snapshot_every": snapshot_every,
        "snapshot_steps": parse_list(snapshot_steps, "snapshot_steps"),
    }
    if record is not None:
        from ..config import RunConfig
        from ..training.record_plan import recording_preset

        fields.update(recording_preset(record, steps or fields.get("steps", RunConfig().steps)))
    fields.update({k: v for k, v in cli_values.items() if v is not None})
    spec = train_spec(fields, {"seeds": seeds, "embedding_seeds": embedding_seeds,
                               "mlp_seeds": mlp_seeds, "split_seeds": split_seeds}, grid)
    configs = spec.configs()
    done: set[str] = set()
    if is_store(store):
        before = load(store)
        check_same_base(before, configs[0])
        done = set(before.runs.index) & set(spec.run_ids())
    if done:
        typer.echo(f"{len(done)} of {len(configs)} runs already in {store}; "
                   f"training {len(configs) - len(done)}", err=True)
    run_sweep(spec, store, max_batch=max_batch, progress=not quiet, completed=done,
              same_base=True)
    runs = load(store).runs
    print_runs(runs[runs.run_id.isin(spec.run_ids())])


#: show's output formats
FORMATS = ("table", "csv", "json")
#: the columns of the run listing: (column, header)
RUN_COLUMNS = (("run_id", "run_id"), ("embedding_seed", "emb"), ("mlp_seed", "mlp"),
               ("split_seed", "split"), ("test_loss", "test_loss"), ("test_acc", "test_acc"),
               ("n_circles", "n"), ("circles", "circles"))


def run_listing(runs):
    """The run listing as a DataFrame: :data:`RUN_COLUMNS`, circles as lists of ints."""
    out = runs[[c for c, _ in RUN_COLUMNS]].reset_index(drop=True).copy()
    out["circles"] = [[int(c) for c in cs] for cs in out["circles"]]
    out["n_circles"] = out["n_circles"].astype(int)
    return out


def print_runs(runs, fmt: str = "table") -> None:
    """The runs' ids, seeds, final test loss and accuracy and circles: a table (rich), CSV
    (circles space-separated) or JSON (a list of records)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    listing = run_listing(runs)
    if fmt == "csv":
        csv = listing.assign(circles=[" ".join(map(str, c)) for c in listing["circles"]])
        typer.echo(csv.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        typer.echo(listing.to_json(orient="records", indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, head in RUN_COLUMNS:
        table.add_column(head, justify="left" if col in ("run_id", "circles") else "right",
                         no_wrap=col == "run_id")
    for r in listing.itertuples(index=False):
        table.add_row(r.run_id, str(r.embedding_seed), str(r.mlp_seed), str(r.split_seed),
                      f"{r.test_loss:.3g}", f"{r.test_acc:.3f}", str(r.n_circles),
                      ", ".join(map(str, r.circles)) or "-")
    Console(width=max(120, len(listing.iloc[0].run_id) + 60) if len(listing) else 120,
            highlight=False, soft_wrap=True).print(table)


def show_command(
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    fmt: Annotated[str, Opt("--format", "-f", help="table, csv or json.")] = "table",
) -> None:
    """List the runs of a store: seeds, final test loss and accuracy, circles."""
    from ..store import load

    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    s = load(store)
    if s.runs.empty:
        typer.echo(f"{store}: no complete runs", err=fmt != "table")
        if fmt == "json":
            typer.echo("[]")
        return
    print_runs(s.runs.sort_values(["embedding_seed", "mlp_seed", "split_seed"]), fmt)
