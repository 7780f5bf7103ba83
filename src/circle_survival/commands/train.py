"""``circle-survival train``: runs from config fields and seed lists, then their circles.

``train`` is a one-spec sweep: its runs go through the same lock, record, resume and executors
as ``sweep run`` (:func:`circle_survival.sweep.run_sweep`), which reads the store once. Runs
already complete in the store are skipped; a store holding runs of another config (beyond the
seeds) is refused.

Its config options are made from the fields of :class:`~circle_survival.config.RunConfig`
(:func:`config_options`): each option's name, type, help and default come from the field, so
they are written once, in ``config.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import SEED_FIELDS, RunConfig, field_help
from ..errors import ConfigError
from .common import (
    Arg,
    MaxBatchOpt,
    Opt,
    QuietOpt,
    StorePath,
    device_help,
    parse_list,
    print_runs,
    store_path,
)
from .tracking_options import TrackOpt, TrackUriOpt, check_track, track_sweep

SEED_KEYS = ("embedding_seeds", "mlp_seeds", "split_seeds")
#: RunConfig fields without an option: the seeds come from the seed lists (--seeds,
#: --embedding-seeds, ...), eps and an intervention from a TOML file (--config).
NOT_OPTIONS = (*SEED_FIELDS, "eps", "intervention")


def option_fields() -> list[dataclasses.Field]:
    """The RunConfig fields offered as options, in the dataclass's order."""
    return [f for f in dataclasses.fields(RunConfig) if f.name not in NOT_OPTIONS]


def list_kind(f: dataclasses.Field) -> type | None:
    """The element type of a tuple-valued field (int for ``hidden``), else None."""
    hint = typing.get_type_hints(RunConfig)[f.name]
    return typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None


def default_text(value: Any) -> str:
    """A field's default as its help shows it: 59, 100,100, off, none."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value) or "none"


def with_default(text: str, value: Any) -> str:
    """A field's help with its default as every option shows one, ``[default: 59]`` (the
    options default to None, "not given", so Typer cannot show the field's default)."""
    return f"{text}  [default: {default_text(value)}]"


def config_options() -> list[inspect.Parameter]:
    """One ``--name`` option per field of :func:`option_fields`: its type (comma-separated
    text for a list), its help and its default from the dataclass; each defaults to None
    (not given), so a TOML file's value or the field's default stands."""
    params = []
    for f in option_fields():
        hint = typing.get_type_hints(RunConfig)[f.name]
        kind = str if list_kind(f) is not None else hint
        text = device_help(f.metadata["help"]) if f.name == "device" else field_help(f)
        params.append(inspect.Parameter(
            f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
            annotation=Annotated[kind | None, Opt(help=with_default(text, f.default))]))
    return params


def given_fields(options: dict[str, Any]) -> dict[str, Any]:
    """The config fields given as options (lists parsed from 'a,b'; a bad one raises
    ConfigError naming the field)."""
    out = {}
    for f in option_fields():
        value = options.get(f.name)
        if value is not None and list_kind(f) is not None:
            value = parse_list(value, f.name, list_kind(f))
        if value is not None:
            out[f.name] = value
    return out


def train_spec(fields: dict, seeds: dict[str, str | None], grid: bool):
    """The one-spec sweep of a train command: ``fields`` (config fields, with the TOML file's
    ``seeds``, ``embedding_seeds``, ``mlp_seeds``, ``split_seeds`` and ``grid`` keys if any)
    and the command line's seed lists ``seeds`` (keys "seeds" and :data:`SEED_KEYS`), which
    win over the file's. A source without a list keeps its ``<source>_seed`` field (or 0)."""
    import hashlib
    import json

    from ..config import require_type
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
    store: Annotated[StorePath, Arg(metavar="STORE", parser=store_path,
            help="Store directory to train into (created if needed).")],
    config: Annotated[Path | None, Opt(help="TOML file of config fields (options override "
                                            "it).")] = None,
    record: Annotated[str | None, Opt(help="Recording preset: explore (embeddings on ~60 "
                                           "log-spaced steps; options override it).")] = None,
    seeds: Annotated[str | None, Opt(help="Seeds for all three sources, e.g. 0:8.")] = None,
    embedding_seeds: Annotated[str | None, Opt(help="Embedding seeds, e.g. 0 or 0:8.")] = None,
    mlp_seeds: Annotated[str | None, Opt(help="MLP seeds.")] = None,
    split_seeds: Annotated[str | None, Opt(help="Split seeds.")] = None,
    grid: Annotated[bool, Opt("--grid", help="Every combination of the seed lists (without "
                                             "it they are zipped).")] = False,
    max_batch: MaxBatchOpt = None,
    quiet: QuietOpt = False,
    track: TrackOpt = None,
    track_uri: TrackUriOpt = None,
    **options: Any,
) -> None:
    """Train runs (one per seed combination) into a store, then print their circles.

    Runs already complete in the store are skipped.
    """
    from ..config import load_toml
    from ..sweep import run_sweep

    check_track(track, track_uri)
    fields = load_toml(config) if config is not None else {}
    if not isinstance(fields, dict):
        raise ConfigError(f"{config}: expected a table of config fields")
    given = given_fields(options)
    if record is not None:
        from ..training.record_plan import recording_preset

        steps = given.get("steps") or fields.get("steps", RunConfig().steps)
        fields.update(recording_preset(record, steps))
    fields.update(given)
    spec = train_spec(fields, {"seeds": seeds, "embedding_seeds": embedding_seeds,
                               "mlp_seeds": mlp_seeds, "split_seeds": split_seeds}, grid)

    def announce(total: int, already: int) -> None:
        if already:
            typer.echo(f"{already} of {total} runs already in {store}; training "
                       f"{total - already}", err=True)

    report = run_sweep(spec, store, max_batch=max_batch, progress=not quiet, same_base=True,
                       on_start=announce)
    print_runs(report.runs())
    track_sweep(report, track, track_uri)


def _signature() -> inspect.Signature:
    """train_command's parameters with :func:`config_options` in place of ``**options``,
    after ``--config`` (Typer reads the command's options from its signature)."""
    own = list(inspect.signature(train_command, eval_str=True).parameters.values())[:-1]
    return inspect.Signature([*own[:2], *config_options(), *own[2:]])


train_command.__signature__ = _signature()  # type: ignore[attr-defined]
