"""A sweep's spec: a base config, axes and seed lists, expanded into its runs.

A :class:`SweepSpec` names a base config, axes (any :class:`RunConfig` field, each with a list
of values) combined as a grid (every combination) or zipped (value i of every axis together),
and the three seed lists, which zip with each other by default (a length-1 list broadcasts)
or form a grid. It loads from TOML with the same shape as the Python object::

    name = "circles-vs-d"
    seeds_combine = "zip"      # or "grid"; also accepted as [combine] seeds = ...
    [base]
    steps = 30000
    [axes]
    d = [16, 32, 64, 128]
    [seeds]                    # each a list, an integer or a range "a:b" / "a:b:step"
    embedding = "0:50"
    mlp = "0:50"
    split = "0:50"
    [combine]
    mode = "grid"              # or "zip": axes must then have equal lengths

Runs are ordered axis point by axis point (in the order of the axes), seeds innermost; their
ids come from :attr:`RunConfig.run_id`, so re-expanding a spec gives the same ids. This is the
one place where seed lists are expanded into runs.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import MAX_RUNS, SEED_FIELDS, RunConfig, load_toml, parse_seed_list
from ..errors import ConfigError
from ..plain import plain
from ..store.layout import NAME_RE

SEED_SOURCES = ("embedding", "mlp", "split")
COMBINE_MODES = ("grid", "zip")
SPEC_FIELDS = ("name", "base", "axes", "seeds", "combine", "seeds_combine")
CONFIG_FIELDS = tuple(f.name for f in fields(RunConfig))
#: a sweep's name: the pattern its record's file name is checked against when read back
_NAME_RE = NAME_RE


@dataclass(frozen=True)
class SweepSpec:
    """A grid of runs.

    Args:
        name: the sweep's name (letters, digits, ``.``, ``_``, ``-``); its record in a store is
            ``STORE/sweeps/<name>.json``.
        base: config fields shared by every run (anything else takes RunConfig's default).
        axes: field -> list of values, in order; any RunConfig field may be an axis
            (``intervention`` values are tables, ``hidden`` values are lists).
        seeds: source ("embedding", "mlp", "split") -> list of seeds (or an int, or a range
            string "a:b" / "a:b:step" / "1,3,7"); an omitted source uses ``base``'s
            ``<source>_seed`` or 0.
        combine: "grid" (every combination of the axes) or "zip" (axes of equal length,
            value i of each together).
        seeds_combine: "zip" (seed lists of equal length, length-1 lists broadcast) or "grid".

    Every run is validated when the spec is made; a bad spec raises :class:`ConfigError`
    naming the field.
    """

    name: str = "sweep"
    base: Mapping[str, Any] = field(default_factory=dict)
    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    seeds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    combine: str = "grid"
    seeds_combine: str = "zip"

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "name", _check_name(self.name))
        _set(self, "base", _check_base(self.base))
        _set(self, "axes", _check_axes(self.axes))
        _set(self, "seeds", _check_seeds(self.seeds))
        require_choice("combine", self.combine, COMBINE_MODES)
        require_choice("seeds_combine", self.seeds_combine, COMBINE_MODES)
        _check_seed_conflicts(self)
        if self.combine == "zip":
            _check_zip_lengths(self.axes)
        _check_size(self)
        configs, ids = _expand(self)
        _set(self, "_configs", configs)
        _set(self, "_run_ids", ids)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, default_name: str = "sweep") -> SweepSpec:
        """A spec from a dict shaped like the TOML file (or like :meth:`to_dict`).

        ``combine`` may be a string or a table ``{mode = ..., seeds = ...}``; ``seeds`` may be
        a table by source or one value for all three sources.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a sweep spec must be a table, got {type(data).__name__}")
        unknown = sorted(set(data) - set(SPEC_FIELDS))
        if unknown:
            raise ConfigError(f"unknown sweep field {unknown[0]!r} (expected one of "
                              f"{', '.join(SPEC_FIELDS)})")
        combine, seeds_combine = _split_combine(data.get("combine", "grid"),
                                                data.get("seeds_combine"))
        seeds = data.get("seeds", {})
        if not isinstance(seeds, Mapping):
            seeds = dict.fromkeys(SEED_SOURCES, seeds)
        return cls(name=data.get("name", default_name), base=data.get("base", {}),
                   axes=data.get("axes", {}), seeds=seeds, combine=combine,
                   seeds_combine=seeds_combine)

    @classmethod
    def from_toml(cls, path: str | Path) -> SweepSpec:
        """Read a spec from TOML; ``name`` defaults to the file's stem. A file that gives
        none of ``base``, ``axes`` and ``seeds`` (an empty one) is refused: it would plan one
        run at the defaults without a word."""
        data = load_toml(path)
        if not set(data) - set(SPEC_FIELDS) and not any(  # (an unknown field: said first)
                k in data and data[k] != {} for k in ("base", "axes", "seeds")):
            raise ConfigError(f"{path}: the sweep gives no runs (no [base], [axes] or "
                              "[seeds]); write at least one of them")
        return cls.from_dict(data, default_name=Path(path).stem)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` turns back into an equal spec."""
        return {
            "name": self.name,
            "base": plain(self.base),
            "axes": {k: [plain(v) for v in vals] for k, vals in self.axes.items()},
            "seeds": {k: list(v) for k, v in self.seeds.items()},
            "combine": self.combine,
            "seeds_combine": self.seeds_combine,
        }

    # -- expansion --------------------------------------------------------------------------
    def configs(self) -> list[RunConfig]:
        """Every run of the sweep, in order (duplicates removed)."""
        return list(self._configs)  # type: ignore[attr-defined]

    def run_ids(self) -> list[str]:
        """The run ids, in the order of :meth:`configs`."""
        return list(self._run_ids)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._configs)  # type: ignore[attr-defined]

    def points(self) -> list[dict[str, Any]]:
        """The axis points: one dict of field values per combination of the axes."""
        names = list(self.axes)
        if not names:
            return [{}]
        columns = [self.axes[n] for n in names]
        combos = (itertools.product(*columns) if self.combine == "grid"
                  else zip(*columns, strict=True))
        return [dict(zip(names, c, strict=True)) for c in combos]

    def seed_triples(self) -> list[tuple[int, int, int]]:
        """(embedding, mlp, split) seeds of each run at one axis point."""
        lists = [self.seeds.get(src, (self.base.get(f"{src}_seed", 0),))
                 for src in SEED_SOURCES]
        if self.seeds_combine == "grid":
            return list(itertools.product(*lists))
        n = max(len(v) for v in lists)
        for src, v in zip(SEED_SOURCES, lists, strict=True):
            if len(v) not in (1, n):
                raise ConfigError(f"seeds.{src}: {len(v)} values, but another seed list has "
                                  f"{n} (give 1 or {n}, or combine the seed lists as a grid)")
        return [tuple(v[i % len(v)] for v in lists) for i in range(n)]  # type: ignore[misc]


def _expand(spec: SweepSpec) -> tuple[tuple[RunConfig, ...], tuple[str, ...]]:
    """Build and validate every run (and its id); the first invalid one raises ConfigError
    naming it."""
    triples = spec.seed_triples()
    out: list[RunConfig] = []
    seen: dict[str, None] = {}
    for point in spec.points():
        for seeds in triples:
            data = {**spec.base, **dict(zip(SEED_FIELDS, seeds, strict=True)), **point}
            try:
                cfg = RunConfig.from_dict(data)
            except ConfigError as exc:
                raise ConfigError(f"{_where(spec, point)}: {exc}") from None
            rid = cfg.run_id
            if rid not in seen:
                seen[rid] = None
                out.append(cfg)
    return tuple(out), tuple(seen)


def _where(spec: SweepSpec, point: Mapping[str, Any]) -> str:
    """Which part of a spec an invalid run comes from: the base alone, or an axis point."""
    try:
        RunConfig.from_dict(spec.base)
    except ConfigError:
        return "base"
    if not point:
        return "base"
    return "axes (" + ", ".join(f"{k}={plain(v)!r}" for k, v in point.items()) + ")"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(f"name must be letters, digits, '.', '_' or '-', got {name!r}")
    return name


def _check_base(base: Any) -> dict[str, Any]:
    if not isinstance(base, Mapping):
        raise ConfigError(f"base must be a table of config fields, got {base!r}")
    unknown = sorted(set(base) - set(CONFIG_FIELDS))
    if unknown:
        raise ConfigError(f"base: unknown config field {unknown[0]!r}")
    return plain(base)


def _check_axes(axes: Any) -> dict[str, tuple[Any, ...]]:
    if not isinstance(axes, Mapping):
        raise ConfigError(f"axes must be a table of field = [values], got {axes!r}")
    out = {}
    for name, values in axes.items():
        if name not in CONFIG_FIELDS:
            raise ConfigError(f"axes: unknown config field {name!r}")
        if not isinstance(values, list | tuple):
            raise ConfigError(f"axes.{name}: expected a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"axes.{name}: empty axis (give at least one value)")
        out[name] = tuple(plain(v) for v in values)
    return out


def _check_seeds(seeds: Any) -> dict[str, tuple[int, ...]]:
    if not isinstance(seeds, Mapping):
        raise ConfigError(f"seeds must be a table (embedding, mlp, split), got {seeds!r}")
    out = {}
    for src, value in seeds.items():
        if src not in SEED_SOURCES:
            raise ConfigError(f"seeds: unknown seed source {src!r} (expected one of "
                              f"{', '.join(SEED_SOURCES)})")
        out[src] = parse_seed_list(value, f"seeds.{src}")
    return out


def require_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _split_combine(combine: Any, seeds_combine: Any) -> tuple[Any, Any]:
    """``combine`` as a string or a table {mode, seeds}; returns (mode, seeds mode)."""
    if isinstance(combine, Mapping):
        unknown = sorted(set(combine) - {"mode", "seeds"})
        if unknown:
            raise ConfigError(f"combine: unknown field {unknown[0]!r} (expected mode, seeds)")
        if "seeds" in combine and seeds_combine is not None:
            raise ConfigError("seeds_combine: given twice (as combine.seeds and "
                              "seeds_combine)")
        seeds_combine = combine.get("seeds", seeds_combine)
        combine = combine.get("mode", "grid")
    return combine, ("zip" if seeds_combine is None else seeds_combine)


def _check_seed_conflicts(spec: SweepSpec) -> None:
    for src in spec.seeds:
        name = f"{src}_seed"
        if name in spec.base:
            raise ConfigError(f"seeds.{src}: also given as base.{name}; give it once")
        if name in spec.axes:
            raise ConfigError(f"seeds.{src}: also given as axes.{name}; give it once")


def _check_size(spec: SweepSpec) -> None:
    """Refuse a spec of more than :data:`MAX_RUNS` runs before any run is built."""
    lengths = [len(v) for v in spec.axes.values()]
    points = (math.prod(lengths) if spec.combine == "grid" else max(lengths)) if lengths else 1
    seeds = [len(spec.seeds.get(src, (0,))) for src in SEED_SOURCES]
    triples = math.prod(seeds) if spec.seeds_combine == "grid" else max(seeds)
    if points * triples > MAX_RUNS:
        raise ConfigError(f"the sweep has {points * triples:,} runs, more than the "
                          f"{MAX_RUNS:,} one sweep may hold; split it")


def _check_zip_lengths(axes: Mapping[str, tuple]) -> None:
    lengths = {k: len(v) for k, v in axes.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ConfigError(f"combine: zip axes must have equal lengths ({desc})")


def spec_from_configs(name: str, configs: Sequence[RunConfig]) -> SweepSpec:
    """A spec whose runs are exactly ``configs``, in order: the fields they share form the
    base, those that differ zipped axes (one value per run). Raises ConfigError for no
    configs."""
    configs = list(configs)
    if not configs:
        raise ConfigError("no runs to train")
    dicts = [c.to_dict() for c in configs]
    first = dicts[0]
    varying = [k for k in first if any(d[k] != first[k] for d in dicts[1:])]
    base = {k: v for k, v in first.items() if k not in varying}
    axes = {k: [d[k] for d in dicts] for k in varying}
    return SweepSpec(name=name, base=base, axes=axes, combine="zip")
