"""The ``circle-survival`` command.

Every user error (bad config, bad store, unknown run) ends with one line on stderr naming the
problem and exit status 2; nothing is written before the input has been checked.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Annotated

import typer

from .config import RunConfig, load_toml, parse_seed_list, resolve_device
from .errors import CircleSurvivalError, ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train modular-addition networks in batches and study which Fourier circles survive.",
)


def _int_list(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated integers, got {text!r}") from None


def _float_list(text: str | None, name: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated numbers, got {text!r}") from None


def combine_seeds(emb: list[int], mlp: list[int], split: list[int], grid: bool
                  ) -> list[tuple[int, int, int]]:
    """Zip the three seed lists (length-1 lists broadcast), or take their product."""
    if grid:
        return list(itertools.product(emb, mlp, split))
    n = max(len(emb), len(mlp), len(split))
    for name, lst in (("embedding seeds", emb), ("mlp seeds", mlp), ("split seeds", split)):
        if len(lst) not in (1, n):
            raise ConfigError(f"{name}: {len(lst)} values, but other seed lists have {n} "
                              "(give 1 or the same number, or use --grid)")
    return [(emb[i % len(emb)], mlp[i % len(mlp)], split[i % len(split)]) for i in range(n)]


def build_configs(base: dict, seeds: str | None, embedding_seeds: str | None,
                  mlp_seeds: str | None, split_seeds: str | None, grid: bool
                  ) -> list[RunConfig]:
    """Configs for every seed combination, from a dict of config fields."""
    base = dict(base)
    file_seeds = {k: base.pop(k, None) for k in ("seeds", "embedding_seeds", "mlp_seeds",
                                                  "split_seeds", "grid")}
    grid = grid or bool(file_seeds["grid"])

    def pick(cli: str | None, key: str, field: str) -> list[int]:
        for src in (cli, file_seeds[key], seeds, file_seeds["seeds"]):
            if src is not None:
                return list(parse_seed_list(src, key))
        return [int(base.pop(field, 0))]

    emb = pick(embedding_seeds, "embedding_seeds", "embedding_seed")
    mlp = pick(mlp_seeds, "mlp_seeds", "mlp_seed")
    split = pick(split_seeds, "split_seeds", "split_seed")
    for f in ("embedding_seed", "mlp_seed", "split_seed"):
        base.pop(f, None)
    RunConfig.from_dict(base)  # validate once before expanding
    return [RunConfig.from_dict({**base, "embedding_seed": e, "mlp_seed": m, "split_seed": s})
            for e, m, s in combine_seeds(emb, mlp, split, grid)]


Opt = typer.Option


@app.command()
def train(
    store: Annotated[Path, Opt("--store", "-o", help="Output store directory.")] = Path("runs"),
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
    grid: Annotated[bool, Opt(help="Every combination of the seed lists (default: zip).")
                    ] = False,
    max_batch: Annotated[int | None, Opt(help="Models per batch (default: from memory).")
                         ] = None,
    quiet: Annotated[bool, Opt(help="No progress bar.")] = False,
) -> None:
    """Train runs (one per seed combination) into a store, then print their circles.

    Runs already complete in the store are skipped.
    """
    from .runner import check_same_base, plan_batches, train_to_store
    from .store import load

    base = load_toml(config) if config is not None else {}
    if not isinstance(base, dict):
        raise ConfigError(f"{config}: expected a table of config fields")
    cli_values = {
        "p": p, "d": d, "hidden": _int_list(hidden, "hidden"), "activation": activation,
        "lr": lr, "weight_decay": weight_decay, "betas": _float_list(betas, "betas"),
        "steps": steps, "train_fraction": train_fraction, "dtype": dtype, "device": device,
        "init_scheme": init_scheme, "freeze_embedding": freeze_embedding,
        "freeze_mlp": freeze_mlp, "signal_every": signal_every,
        "signal_dense_until": signal_dense_until, "metrics_every": metrics_every,
        "embedding_every": embedding_every,
        "embedding_steps": _int_list(embedding_steps, "embedding_steps"),
        "snapshot_every": snapshot_every,
        "snapshot_steps": _int_list(snapshot_steps, "snapshot_steps"),
    }
    if record is not None:
        from .recording import recording_preset

        base.update(recording_preset(record, steps or base.get("steps", RunConfig().steps)))
    base.update({k: v for k, v in cli_values.items() if v is not None})
    configs = build_configs(base, seeds, embedding_seeds, mlp_seeds, split_seeds, grid)
    resolve_device(configs[0].device)
    if max_batch is not None and max_batch < 1:
        raise ConfigError("max-batch must be >= 1")
    check_same_base(store, configs[0])

    from .store import completed_run_ids

    done = completed_run_ids(store)
    todo = [c for c in configs if c.run_id not in done]
    batches = plan_batches(todo, max_batch)
    if len(todo) < len(configs):
        typer.echo(f"{len(configs) - len(todo)} of {len(configs)} runs already in {store}; "
                   f"training {len(todo)}", err=True)
    bar = None
    if todo and not quiet:
        from tqdm import tqdm

        total = sum(b[0].steps for b in batches)
        bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr,
                   desc=f"{len(todo)} runs in {len(batches)} batch(es)")

    def progress(n: int, m: int) -> None:
        bar.update(n)
        rate = bar.format_dict.get("rate")
        if rate:
            bar.set_postfix_str(f"{rate * m:,.0f} model-steps/s, {m} models")

    try:
        train_to_store(configs, store, max_batch=max_batch,
                       progress=progress if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    runs = load(store).runs
    print_runs(runs[runs.run_id.isin({c.run_id for c in configs})])


def print_runs(runs) -> None:
    """One line per run: id, seeds, final test loss and accuracy, circles."""
    header = (f"{'run_id':<42} {'emb':>4} {'mlp':>4} {'split':>5} {'test_loss':>10} "
              f"{'test_acc':>8}  circles")
    typer.echo(header)
    for _, r in runs.iterrows():
        circ = ", ".join(str(int(c)) for c in r["circles"]) or "-"
        typer.echo(f"{r['run_id']:<42} {r['embedding_seed']:>4} {r['mlp_seed']:>4} "
                   f"{r['split_seed']:>5} {r['test_loss']:>10.3g} {r['test_acc']:>8.3f}  "
                   f"{int(r['n_circles'])}: {circ}")


@app.command()
def show(store: Annotated[Path, typer.Argument(help="A store directory.")]) -> None:
    """List the runs of a store: seeds, final test loss and accuracy, circles."""
    from .store import load

    s = load(store)
    if s.runs.empty:
        typer.echo(f"{store}: no complete runs")
        return
    print_runs(s.runs.sort_values(["embedding_seed", "mlp_seed", "split_seed"]))


def _register_commands() -> None:
    from .commands import register_all

    register_all(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except CircleSurvivalError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted; completed batches are kept in the store", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Command-line parsing errors (click's UsageError family, vendored by Typer).
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message())
            sys.exit(0)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            msg = " ".join(exc.format_message().split())
            typer.echo(f"error: {msg}", err=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
