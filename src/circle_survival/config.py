"""Run configuration: one frozen dataclass per run, validated in one place.

A :class:`RunConfig` holds everything that determines a training run: the task (``p``,
``train_fraction``), the model (``d``, ``hidden``, ``activation``), the optimiser, the three seeds
(embedding, MLP, split), what to record, and how the initial state is drawn. Defaults are the
paper's (arXiv 2405.17420): p = 59, d = 128, MLP 2d -> 100 -> 100 -> p with SiLU, AdamW with
lr 0.01, weight decay 0.5 and betas (0.9, 0.999), 30,000 full-batch steps in float64.

Every invalid value raises :class:`ConfigError` with one line naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .plain import is_int, is_num, plain
from .variants import DEFAULTS, MODELS, OPTIMIZERS, TASKS, validate_variant

ACTIVATIONS = ("silu", "relu", "gelu", "tanh")
DTYPES = ("float64", "float32")
DEVICES = ("auto", "cpu", "cuda")
INIT_SCHEMES = ("reference", "reference_fresh_embedding", "independent")

#: Fields that may differ between the models of one batch (they only change the initial state
#: or enter the optimiser as per-model tensors).
PER_MODEL_FIELDS = frozenset(
    {"embedding_seed", "mlp_seed", "split_seed", "lr", "weight_decay", "intervention"}
)
SEED_FIELDS = ("embedding_seed", "mlp_seed", "split_seed")
#: Fields added after the first store format, with their defaults: a field at its default is
#: left out of the ids (run_id, batch and base keys), so runs made before it existed keep theirs.
LATER_FIELDS: dict[str, Any] = {"signal_dense_until": 0, **DEFAULTS}
#: The most runs one request may expand to (a sweep, a seed list); more is refused up front.
MAX_RUNS = 1_000_000
#: The most rows one kind of record (signals, metrics, embeddings, snapshots) may take per run.
MAX_RECORD_ROWS = 2_000_000


def _field(default: Any, text: str, choices: tuple[str, ...] = ()) -> Any:
    """A RunConfig field: its default, and its help (one line, written here once) and accepted
    values in its metadata, where the ``train`` command reads them (:func:`field_help`)."""
    return field(default=default, metadata={"help": text, "choices": choices})


def field_help(f: dataclasses.Field) -> str:
    """The help text of a RunConfig field: "Modulus (>= 3).", or with its accepted values,
    "Activation: silu, relu, gelu or tanh."."""
    text, choices = f.metadata["help"], f.metadata.get("choices", ())
    return f"{text}: {one_of(choices)}." if choices else text


def one_of(values: tuple[str, ...] | list[str]) -> str:
    """'a, b or c'."""
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else "".join(values)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run.

    Task and model:
        p: modulus; the task is all p*p pairs (a, b) labelled (a + b) mod p. Any p >= 3.
        d: embedding width; the embedding E has shape (p, d).
        hidden: widths of the MLP's hidden layers (depth = len(hidden)); the MLP maps the
            concatenation [E[a], E[b]] (length 2d) through them to p logits.
        activation: nonlinearity after each hidden layer ("silu", "relu", "gelu", "tanh").
        train_fraction: the first int(train_fraction * p*p) indices of the split are trained on.

    Optimiser (AdamW, full batch, no schedule; decay applies to every parameter):
        lr, weight_decay, betas, eps, steps.

    Numerics and placement:
        dtype: "float64" (the paper's) or "float32".
        device: "cpu", "cuda", or "auto" (cuda when present).

    Randomness (see ``init.py``):
        embedding_seed, mlp_seed, split_seed: the three independent sources of randomness.
        init_scheme: "reference" draws exactly as the authors' code does (the embedding after
            the three Linear layers under ``torch.manual_seed(embedding_seed)``);
            "reference_fresh_embedding" draws the embedding as a fresh
            ``torch.normal(0, 1, (p, d))`` right after seeding (the authors' "fixed MLP" runs);
            "independent" uses a separate ``torch.Generator`` per source.
        freeze_embedding, freeze_mlp: keep that part at its initial value (no updates, no decay).
        intervention: an edit of the initial embedding in Fourier space, as a mapping with a
            "kind" key (see ``interventions.py``); empty for none.

    Recording (steps count optimiser updates; step 0 is the initial state):
        signal_every: record S_k, k = 0 .. p//2, every this many steps (1 = every step).
        signal_dense_until: also record S_k at every step 0 .. this one (0 = off): the
            initial-gradient and ODE analyses need step resolution only early in training, so
            ``signal_every=100, signal_dense_until=1000`` keeps 1,291 of a 30,000-step run's
            30,001 signal rows (about 1/23 of the rows and of the signal bytes).
        metrics_every: record train/test loss and accuracy every this many steps.
        embedding_every / embedding_steps: also store the embedding at these steps.
        snapshot_every / snapshot_steps: also store every parameter at these steps.
        The initial and final embeddings and final parameters are always stored.
    Beyond the paper (``variants.py``): model, n_heads, d_mlp, attention_rate, task,
    task_table (a file read into its labels), optimizer, momentum.
    """

    p: int = _field(59, "Modulus (>= 3).")
    d: int = _field(128, "Embedding width.")
    hidden: tuple[int, ...] = _field((100, 100), "Hidden widths, e.g. 100,100.")
    activation: str = _field("silu", "Activation", ACTIVATIONS)
    train_fraction: float = _field(0.8, "Fraction of pairs trained on.")
    lr: float = _field(0.01, "AdamW learning rate.")
    weight_decay: float = _field(0.5, "AdamW weight decay.")
    betas: tuple[float, float] = _field((0.9, 0.999), "AdamW betas, e.g. 0.9,0.999.")
    eps: float = _field(1e-8, "AdamW epsilon.")
    steps: int = _field(30_000, "Optimiser steps.")
    dtype: str = _field("float64", "Floating-point type", DTYPES)
    device: str = _field("auto", "Device to train on", DEVICES)
    embedding_seed: int = _field(0, "Seed of the embedding.")
    mlp_seed: int = _field(0, "Seed of the MLP.")
    split_seed: int = _field(0, "Seed of the train/test split.")
    init_scheme: str = _field("reference", "How the initial state is drawn", INIT_SCHEMES)
    freeze_embedding: bool = _field(False, "Keep the embedding fixed.")
    freeze_mlp: bool = _field(False, "Keep the MLP fixed.")
    intervention: Mapping[str, Any] = field(
        default_factory=dict, metadata={"help": "An edit of the initial embedding in Fourier "
                                                "space (a table with a kind key; none: {})."})
    signal_every: int = _field(1, "Record signals every N steps.")
    signal_dense_until: int = _field(0, "Also record signals at every step up to this one "
                                        "(0: off).")
    metrics_every: int = _field(10, "Record losses every N steps.")
    embedding_every: int = _field(0, "Store embeddings every N steps (0: off).")
    embedding_steps: tuple[int, ...] = _field((), "Store embeddings at these steps.")
    snapshot_every: int = _field(0, "Store all parameters every N steps (0: off).")
    snapshot_steps: tuple[int, ...] = _field((), "Store all parameters at these steps.")
    model: str = _field("mlp", "Model", MODELS)
    n_heads: int = _field(4, "Transformer: attention heads (d_head = d / n_heads).")
    d_mlp: int = _field(512, "Transformer: MLP width.")
    attention_rate: float = _field(1.0, "Transformer: rate * attention + (1 - rate) * uniform.")
    task: str = _field("add", "Task mod p (multiply: p prime; table: task_table)", TASKS)
    task_table: str = _field("", "Task table: a CSV or TOML file of (a, b) -> c.")
    optimizer: str = _field("adamw", "Optimiser", OPTIMIZERS)
    momentum: float = _field(0.9, "SGD momentum.")

    def __post_init__(self) -> None:
        _coerce_sequences(self)
        validate(self)

    # -- derived quantities -------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        return self.p * self.p

    @property
    def n_train(self) -> int:
        return int(self.train_fraction * self.p * self.p)

    @property
    def n_freq(self) -> int:
        """Number of recorded signal frequencies, k = 0 .. p//2."""
        return self.p // 2 + 1

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, Mapping):
                v = plain(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}")
        return cls(**dict(data))

    def identity(self) -> dict[str, Any]:
        """The config as the ids hash it: :meth:`to_dict` without the fields added after the
        first store format while they hold their defaults, so earlier runs keep their ids."""
        return {k: v for k, v in self.to_dict().items()
                if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}

    def batch_key(self) -> str:
        """Configs with equal keys can train in one batch (same shapes, dtype, device, steps)."""
        d = {k: v for k, v in self.identity().items() if k not in PER_MODEL_FIELDS}
        return _digest(d)

    def base_key(self) -> str:
        """Digest of everything but the three seeds (what a store's runs must share)."""
        d = {k: v for k, v in self.identity().items() if k not in SEED_FIELDS}
        return _digest(d)

    @functools.cached_property
    def run_id(self) -> str:
        """A stable, readable id derived from the whole config (computed once per config)."""
        return (
            f"p{self.p}-d{self.d}-e{self.embedding_seed}-m{self.mlp_seed}-s{self.split_seed}"
            f"-{_digest(self.identity())[:10]}"
        )


def _digest(d: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plain(d), sort_keys=True).encode()).hexdigest()


def _coerce_sequences(cfg: RunConfig) -> None:
    """Lists from TOML/JSON become tuples; mappings become plain sorted dicts."""
    for name in ("hidden", "betas", "embedding_steps", "snapshot_steps"):
        v = getattr(cfg, name)
        if isinstance(v, list | tuple):
            object.__setattr__(cfg, name, tuple(v))
    iv = cfg.intervention
    if iv is None:
        object.__setattr__(cfg, "intervention", {})
    elif isinstance(iv, Mapping):
        object.__setattr__(cfg, "intervention", plain(iv))


def _require(ok: bool, msg: str) -> None:
    if not ok:
        raise ConfigError(msg)


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError naming the first invalid field."""
    for name in ("p", "d", "steps", "signal_every", "signal_dense_until", "metrics_every",
                 "embedding_every", "snapshot_every") + SEED_FIELDS:
        _require(is_int(getattr(cfg, name)), f"{name} must be an integer, got "
                 f"{getattr(cfg, name)!r}")
    _require(cfg.p >= 3, f"p must be an integer >= 3, got {cfg.p}")
    for name in ("p", "d"):
        _require(getattr(cfg, name) < 2**31, f"{name} must be < 2**31, got {getattr(cfg, name)}")
    _require(cfg.d >= 1, f"d must be >= 1, got {cfg.d}")
    _require(cfg.steps >= 1, f"steps must be >= 1, got {cfg.steps}")
    _require(isinstance(cfg.hidden, tuple) and len(cfg.hidden) >= 1
             and all(is_int(h) and h >= 1 for h in cfg.hidden),
             f"hidden must be a non-empty list of positive widths, got {cfg.hidden!r}")
    _require(all(h < 2**31 for h in cfg.hidden), f"hidden widths must be < 2**31, got "
             f"{cfg.hidden!r}")
    _require(cfg.activation in ACTIVATIONS,
             f"unknown activation {cfg.activation!r} (choose from {', '.join(ACTIVATIONS)})")
    _require(cfg.dtype in DTYPES, f"unknown dtype {cfg.dtype!r} (choose from {', '.join(DTYPES)})")
    _require(cfg.device in DEVICES or str(cfg.device).startswith("cuda:"),
             f"unknown device {cfg.device!r} (choose from {', '.join(DEVICES)})")
    _require(cfg.init_scheme in INIT_SCHEMES,
             f"unknown init_scheme {cfg.init_scheme!r} (choose from {', '.join(INIT_SCHEMES)})")
    _require(is_num(cfg.train_fraction) and 0 < cfg.train_fraction < 1,
             f"train_fraction must be in (0, 1), got {cfg.train_fraction!r}")
    n_train = int(cfg.train_fraction * cfg.p * cfg.p)
    _require(1 <= n_train < cfg.p * cfg.p,
             f"train_fraction {cfg.train_fraction} leaves no train or no test pairs for p={cfg.p}")
    _require(is_num(cfg.lr) and cfg.lr > 0, f"lr must be > 0, got {cfg.lr!r}")
    _require(is_num(cfg.weight_decay) and cfg.weight_decay >= 0,
             f"weight_decay must be >= 0, got {cfg.weight_decay!r}")
    _require(isinstance(cfg.betas, tuple) and len(cfg.betas) == 2
             and all(is_num(b) and 0 <= b < 1 for b in cfg.betas),
             f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
    _require(is_num(cfg.eps) and cfg.eps > 0, f"eps must be > 0, got {cfg.eps!r}")
    for name in SEED_FIELDS:
        _require(0 <= getattr(cfg, name) < 2**32,
                 f"{name} must be in [0, 2**32), got {getattr(cfg, name)}")
    for name in ("freeze_embedding", "freeze_mlp"):
        _require(isinstance(getattr(cfg, name), bool), f"{name} must be true or false")
    for name in ("signal_every", "metrics_every"):
        _require(getattr(cfg, name) >= 1, f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("embedding_every", "snapshot_every", "signal_dense_until"):
        _require(getattr(cfg, name) >= 0, f"{name} must be >= 0 (0 = off)")
    dense = min(cfg.signal_dense_until, cfg.steps) + 1
    for name, extra in (("signal_every", dense), ("metrics_every", 0), ("embedding_every", 0),
                        ("snapshot_every", 0)):
        every = getattr(cfg, name)
        rows = (cfg.steps // every + 1 if every else 0) + extra
        _require(rows <= MAX_RECORD_ROWS,
                 f"steps={cfg.steps} with {name}={every} records {rows:,} rows per run, more "
                 f"than {MAX_RECORD_ROWS:,}: raise {name} or lower steps")
    for name in ("embedding_steps", "snapshot_steps"):
        v = getattr(cfg, name)
        _require(isinstance(v, tuple) and all(is_int(s) and 0 <= s <= cfg.steps for s in v),
                 f"{name} must be a list of steps in 0 .. {cfg.steps}, got {v!r}")
    _require(isinstance(cfg.intervention, Mapping),
             f"intervention must be a table/mapping, got {cfg.intervention!r}")
    if cfg.intervention:
        from .interventions import validate_intervention

        validate_intervention(cfg.intervention, cfg.p)
    validate_variant(cfg)


def record_steps(every: int, explicit: tuple[int, ...], steps: int, *,
                 always_ends: bool) -> list[int]:
    """The sorted steps at which something is recorded.

    ``every`` > 0 gives 0, every, 2*every, ...; ``explicit`` adds chosen steps; with
    ``always_ends`` step 0 and the final step are always included.
    """
    out = set(explicit)
    if every > 0:
        out.update(range(0, steps + 1, every))
    if always_ends:
        out.update((0, steps))
    return sorted(s for s in out if 0 <= s <= steps)


def require_type(name: str, value: Any, kind: type) -> Any:
    """``value`` if it is of ``kind`` (a bool is not an int, an int is a float), else
    ConfigError naming the field and the type it wants."""
    wants = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    ok = {bool: isinstance(value, bool), int: is_int(value), float: is_num(value),
          str: isinstance(value, str)}.get(kind, isinstance(value, kind))
    if not ok:
        raise ConfigError(f"{name} must be {wants.get(kind, kind.__name__)}, got {value!r}")
    return value


def parse_seed_list(value: Any, name: str) -> tuple[int, ...]:
    """Seeds from an int, a list of ints, or a string: "5", "0:50", "0:50:5", "1,3,7"."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected seeds, got {value!r}")
    if isinstance(value, int):
        seeds: list[int] = [value]
    elif isinstance(value, list | tuple):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            raise ConfigError(f"{name}: seeds must be integers, got {list(value)!r}")
        seeds = list(value)
    elif isinstance(value, str):
        seeds = _parse_seed_string(value, name)
    else:
        raise ConfigError(f"{name}: expected a list, an integer or a range 'a:b', got "
                          f"{value!r}")
    if not seeds:
        raise ConfigError(f"{name}: no seeds in {value!r}")
    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise ConfigError(f"{name}: seeds must be in [0, 2**32), got {bad[0]}")
    return tuple(seeds)


def _parse_seed_string(text: str, name: str) -> list[int]:
    out: list[int] = []
    too_many = False
    try:
        for part in text.split(","):
            part = part.strip()
            if ":" in part:
                bounds = [int(x) for x in part.split(":")]
                if len(bounds) not in (2, 3) or (len(bounds) == 3 and bounds[2] == 0):
                    raise ValueError
                seeds = range(*bounds)
                if len(out) + len(seeds) > MAX_RUNS:
                    too_many = True
                    break
                out += list(seeds)
            else:
                out.append(int(part))
    except ValueError:
        raise ConfigError(f"{name}: cannot read seeds {text!r} (use 5, 0:10, 0:10:2 or "
                          "1,3,7)") from None
    if too_many:
        raise ConfigError(f"{name}: {text!r} gives more than {MAX_RUNS:,} seeds")
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict; a missing or malformed file raises ConfigError."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); TOML files are "
                          "UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None


def resolve_device(device: str) -> str:
    """Turn "auto" into "cuda" or "cpu"; refuse cuda where there is none."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine")
    return device
