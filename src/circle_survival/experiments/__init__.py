"""The paper's experiments as named presets, each at a ``smoke`` and a ``paper`` scale.

``get(name)`` returns a preset; ``all_experiments()`` lists them in the paper's order. Each
experiment is one module listed in ``MODULES`` (experiment 4's two series share one): its
sizes at each scale, its sweeps, its analysis and claims, and its figures; ``shared.py`` holds
the preset bases and helpers they share, ``base.py`` what a preset is.
"""

from __future__ import annotations

from ..errors import ConfigError
from . import (
    ablation,
    circle_counts,
    collaboration,
    dimension,
    frozen_embedding,
    initial_gradient,
    initial_signal,
    ode,
    perturbation,
    signal_evolution,
    two_circles,
)
from .base import SCALES, Claim, Experiment, ExperimentResult, write_result

#: modules defining presets (each exposes ``EXPERIMENTS``: a list of Experiment instances)
MODULES = (signal_evolution, dimension, frozen_embedding, circle_counts, initial_signal,
           perturbation, two_circles, initial_gradient, ablation, collaboration, ode)


def all_experiments() -> list[Experiment]:
    """Every preset, in the order of the paper's experiments."""
    out: list[Experiment] = [e for module in MODULES for e in module.EXPERIMENTS]
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
