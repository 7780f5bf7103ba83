"""The paper's experiments as named presets, each at a ``smoke`` and a ``paper`` scale.

``get(name)`` returns a preset; ``all_experiments()`` lists them in the paper's order. Each
experiment is one module listed in ``MODULES`` (experiment 4's two series share one): its
sizes at each scale, its sweeps, its analysis and claims, and its figures. What they share:

- ``preset.py``: what a preset is (sizes per scale, sweeps, analysis), its bases and ``train``
- ``result.py``: claims, the result of an analysis, and its files (``write_result``)
- ``design.py``: run designs several presets share (sparse recording, the authors' runs)
- ``departures.py``: how a scale departs from the paper's setup
- ``verdicts.py``: how a claim is judged at a scale
- ``texts.py``: short texts of grids, values and correlations
- ``run_table.py``: what the presets read from a store's run table
"""
from __future__ import annotations

from ..errors import ConfigError
from . import (
    ablation,
    beyond_setups,
    circle_counts,
    circle_rule_study,
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
from .preset import SCALES, SECONDS_PER_MODEL_STEP, Experiment, train
from .result import Claim, ExperimentResult, write_result

#: modules defining presets (each exposes ``EXPERIMENTS``: a list of Experiment instances)
MODULES = (signal_evolution, dimension, frozen_embedding, circle_counts, circle_rule_study,
           initial_signal,
           perturbation, two_circles, initial_gradient, ablation, collaboration, ode, beyond_setups)


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


__all__ = ["MODULES", "SCALES", "SECONDS_PER_MODEL_STEP", "Claim", "Experiment",
           "ExperimentResult", "all_experiments", "get", "train", "write_result"]
