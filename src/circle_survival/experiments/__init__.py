"""The paper's experiments as named presets, each at a ``smoke`` and a ``paper`` scale.

``get(name)`` returns a preset; ``all_experiments()`` lists them in the paper's order. Each
module here defines one or more :class:`Experiment` subclasses and is listed in ``MODULES``.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import SCALES, Claim, Experiment, ExperimentResult, write_result

#: modules defining presets (each exposes ``EXPERIMENTS``: a list of Experiment instances)
MODULES: list[str] = ["landscape", "dynamics", "interventions"]


def all_experiments() -> list[Experiment]:
    """Every preset, in the order of the paper's experiments."""
    out: list[Experiment] = []
    for name in MODULES:
        out += importlib.import_module(f"{__name__}.{name}").EXPERIMENTS
    return sorted(out, key=lambda e: (e.number, e.name))


def get(name: str) -> Experiment:
    """The preset called ``name``; ConfigError listing the names if there is none."""
    exps = all_experiments()
    for e in exps:
        if e.name == name:
            return e
    raise ConfigError(f"no experiment {name!r} (choose from "
                      f"{', '.join(e.name for e in exps)})")


__all__ = ["SCALES", "Claim", "Experiment", "ExperimentResult", "all_experiments", "get",
           "write_result"]
