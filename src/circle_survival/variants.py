"""Beyond the paper's setup: the model, task and optimiser choices of a run, their checks,
the task given as a table, and the discrete-log relabelling of multiplication.

Config fields (all later fields, see :data:`DEFAULTS`: at their defaults they stay out of the
run ids, so every earlier run keeps its id):

    model           "mlp" (the paper's embedding + MLP) or "transformer" (the one-layer
                    transformer of Nanda et al., :mod:`circle_survival.training.transformer`)
    n_heads, d_mlp  the transformer's heads (d_model = d, d_head = d / n_heads) and MLP width
    attention_rate  the transformer's attention mixed with uniform attention: rate * softmax +
                    (1 - rate) * uniform (Zhong et al.; 1 = standard, 0 = constant attention)
    task            "add" (a + b), "subtract" (a - b), "multiply" (a * b, p prime) mod p, or
                    "table" (the labels of ``task_table``)
    task_table      the table's labels c of pairs i = a + p*b (i = 0 .. p*p - 1), as text
                    "c_0,c_1,..."; a path to a CSV (rows a,b,c, an optional header) or a TOML
                    file (``table = [[a, b, c], ...]``) is read into that text when the config
                    is made, so the run id digests the table itself
    optimizer       "adamw" (the paper's) or "sgd" (with ``momentum``; torch.optim.SGD's
                    coupled weight decay, on every parameter)

Log coordinates. For p prime the nonzero residues form a cyclic group of order p - 1 with a
generator g; a * b = g^(i + j) for a = g^i, b = g^j, so multiplication is addition of discrete
logs and its circles live on the rows reordered as E[g^0], E[g^1], ..., E[g^(p-2)] (row 0,
the residue 0, left out). :func:`fourier_rows` gives that order (None where the rows are
read as they are); every signal recorded or analysed for the task goes through it, over
:func:`fourier_size` rows (p, or p - 1), which give the same p//2 + 1 half-spectrum entries
for odd p.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .plain import is_int, is_num

MODELS = ("mlp", "transformer")
TASKS = ("add", "subtract", "multiply", "table")
OPTIMIZERS = ("adamw", "sgd")
#: the fields this module adds, with their defaults
DEFAULTS: dict[str, Any] = {"model": "mlp", "n_heads": 4, "d_mlp": 512, "attention_rate": 1.0,
                            "task": "add", "task_table": "", "optimizer": "adamw",
                            "momentum": 0.9}


def is_prime(n: int) -> bool:
    """Whether n is prime (trial division; n < 2**31)."""
    if n < 2:
        return False
    return all(n % q for q in range(2, int(n**0.5) + 1))


def primitive_root(p: int) -> int:
    """The smallest generator of the multiplicative group mod the prime p."""
    factors = [q for q in range(2, p) if (p - 1) % q == 0 and is_prime(q)]
    for g in range(1, p):
        if all(pow(g, (p - 1) // q, p) != 1 for q in factors):
            return g
    raise ValueError(f"{p} has no primitive root")


def log_order(p: int) -> np.ndarray:
    """Rows g^0, g^1, ..., g^(p-2) mod p (int64, (p - 1,)) for the smallest generator g."""
    g = primitive_root(p)
    return np.array([pow(g, k, p) for k in range(p - 1)], dtype=np.int64)


def fourier_rows(task: str, p: int) -> np.ndarray | None:
    """The embedding rows the Fourier analysis reads, in order: None (rows 0 .. p-1 as they
    are) for every task but "multiply", whose rows are in discrete-log order."""
    return log_order(p) if task == "multiply" else None


def fourier_size(task: str, p: int) -> int:
    """The number of rows the Fourier analysis reads: p - 1 for "multiply", else p."""
    return p - 1 if task == "multiply" else p


def relabel(embedding: Any, rows: np.ndarray | None) -> Any:
    """``embedding`` (..., p, d) with its token axis reordered by ``rows`` (..., len(rows), d);
    the embedding itself when ``rows`` is None. Works on numpy arrays and torch tensors."""
    if rows is None:
        return embedding
    if isinstance(embedding, np.ndarray):
        return embedding[..., rows, :]
    import torch

    return embedding.index_select(-2, torch.as_tensor(rows, device=embedding.device))


def labels(task: str, p: int, table: str = "") -> np.ndarray:
    """The label of every pair index i = a + p*b: int64 (p*p,)."""
    i = np.arange(p * p, dtype=np.int64)
    a, b = i % p, i // p
    if task == "add":
        return (a + b) % p
    if task == "subtract":
        return (a - b) % p
    if task == "multiply":
        return (a * b) % p
    return np.array([int(c) for c in table.split(",")], dtype=np.int64)


def _triples(path: Path) -> list[tuple[Any, Any, Any]]:
    """(a, b, c) rows of a CSV or TOML task table (one-line ConfigError otherwise)."""
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as fh:
                rows = tomllib.load(fh).get("table")
            if not isinstance(rows, list):
                raise ConfigError(f"task table {path}: expected table = [[a, b, c], ...]")
        else:
            with path.open(newline="") as fh:
                rows = [r for r in csv.reader(fh) if r and any(x.strip() for x in r)]
            if rows and not all(x.strip().lstrip("-").isdigit() for x in rows[0]):
                rows = rows[1:]  # a header
    except FileNotFoundError:
        raise ConfigError(f"task table not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read task table {path}: {exc}") from None
    out = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, list | tuple) or len(row) != 3:
            raise ConfigError(f"task table {path}, row {n}: expected three values a, b, c")
        try:
            out.append(tuple(int(str(x).strip()) if not is_int(x) else x for x in row))
        except ValueError:
            raise ConfigError(f"task table {path}, row {n}: {row!r} is not three "
                              "integers") from None
    return out


def read_task_table(value: str, p: int) -> str:
    """The canonical text of a task table: ``value`` itself when it is already the labels'
    text, else the file it names read and checked (every pair once, labels in 0 .. p-1)."""
    if not value or Path(value).suffix.lower() not in (".csv", ".toml"):
        return value
    table: dict[tuple[int, int], int] = {}
    path = Path(value)
    for a, b, c in _triples(path):
        if not (0 <= a < p and 0 <= b < p and 0 <= c < p):
            raise ConfigError(f"task table {path}: ({a}, {b}) -> {c} is outside 0 .. {p - 1}")
        if table.setdefault((a, b), c) != c:
            raise ConfigError(f"task table {path} is not a function of (a, b): ({a}, {b}) "
                              f"maps to both {table[(a, b)]} and {c}")
    missing = [(a, b) for b in range(p) for a in range(p) if (a, b) not in table]
    if missing:
        raise ConfigError(f"task table {path} gives no c for {len(missing)} of the {p * p} "
                          f"pairs, e.g. (a, b) = {missing[0]}")
    return ",".join(str(table[(a, b)]) for b in range(p) for a in range(p))


def validate_variant(cfg: Any) -> None:
    """ConfigError naming the first invalid field this module adds (``cfg``: a RunConfig,
    whose other fields are valid); a ``task_table`` naming a file is read into its labels."""
    if isinstance(cfg.task_table, str | Path):
        object.__setattr__(cfg, "task_table", read_task_table(str(cfg.task_table), cfg.p))

    def require(ok: bool, msg: str) -> None:
        if not ok:
            raise ConfigError(msg)

    for name, choices in (("model", MODELS), ("task", TASKS), ("optimizer", OPTIMIZERS)):
        value = getattr(cfg, name)
        require(value in choices, f"unknown {name} {value!r} (choose from {', '.join(choices)})")
    for name in ("n_heads", "d_mlp"):
        value = getattr(cfg, name)
        require(is_int(value) and 1 <= value < 2**31, f"{name} must be a positive integer, got "
                f"{value!r}")
    require(cfg.model != "transformer" or cfg.d % cfg.n_heads == 0,
            f"the transformer needs d divisible by n_heads, got d={cfg.d}, n_heads={cfg.n_heads}")
    require(is_num(cfg.attention_rate) and 0 <= cfg.attention_rate <= 1,
            f"attention_rate must be in [0, 1], got {cfg.attention_rate!r}")
    require(is_num(cfg.momentum) and 0 <= cfg.momentum < 1,
            f"momentum must be in [0, 1), got {cfg.momentum!r}")
    require(cfg.task != "multiply" or is_prime(cfg.p),
            f"task multiply needs a prime p (its circles live in discrete-log coordinates), "
            f"got p={cfg.p}")
    require(isinstance(cfg.task_table, str), "task_table must be a file name or the labels' text")
    require((cfg.task == "table") == bool(cfg.task_table),
            "task table needs task_table (a CSV or TOML file)" if cfg.task == "table"
            else f"task_table is given but task is {cfg.task!r} (set task = \"table\")")
    if cfg.task == "table":
        values = cfg.task_table.split(",")
        require(len(values) == cfg.p * cfg.p and all(v.isdigit() and int(v) < cfg.p
                                                      for v in values),
                f"task_table must hold {cfg.p * cfg.p} labels in 0 .. {cfg.p - 1}")
    require(cfg.model == "mlp" or not cfg.intervention,
            "interventions edit the MLP's embedding; model transformer takes none")
