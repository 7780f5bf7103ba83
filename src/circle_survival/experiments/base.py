"""What an experiment preset is: the sweeps it trains at each scale, and its analysis.

An :class:`Experiment` names the paper's experiment it reproduces, gives the sweeps to train at
the ``smoke`` scale (minutes on a 2-core CPU, enough to see the trend) and the ``paper`` scale
(the paper's grid and counts), and turns a store holding those runs into an
:class:`ExperimentResult`: figures, the numbers behind them, and the paper's claims next to
what the runs show.

Results are written by :func:`write_result` as ``OUT/result.json`` plus one PNG and one SVG per
figure; the report (``report.py``) reads those files back.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import ConfigError
from ..store import Store
from ..sweep import SweepSpec

SCALES = ("smoke", "paper")
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and what these runs show.

    holds: True / False as judged at this scale, None when the runs cannot decide it.
    """

    paper: str
    observed: str
    holds: bool | None


@dataclass
class ExperimentResult:
    """The outcome of an experiment's analysis on a store.

    numbers: JSON-ready numbers behind the figures (run counts, correlations, p-values, ...).
    figures: name -> matplotlib Figure.
    deviations: how this scale departs from the paper (fewer steps, fewer runs, ...).
    """

    name: str
    number: int
    title: str
    scale: str
    n_runs: int
    numbers: dict[str, Any]
    figures: dict[str, Figure]
    claims: list[Claim]
    deviations: list[str] = field(default_factory=list)


class Experiment(ABC):
    """A preset reproducing one of the paper's experiments (arXiv 2405.17420)."""

    #: short id used on the command line, e.g. "perturbation"
    name: str = ""
    #: the experiment's number (1-11, as in the README)
    number: int = 0
    title: str = ""

    @abstractmethod
    def specs(self, scale: str) -> list[SweepSpec]:
        """The sweeps to train at ``scale`` ("smoke" or "paper")."""

    @abstractmethod
    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        """Analyse the experiment's runs in ``store`` (all of them must be complete)."""

    def deviations(self, scale: str) -> list[str]:
        """How ``scale`` departs from the paper's setup (shown on figures and in reports)."""
        return []

    # -- helpers ------------------------------------------------------------------------
    def run_ids(self, scale: str) -> list[str]:
        return [rid for spec in self.specs(scale) for rid in spec.run_ids()]

    def n_runs(self, scale: str) -> int:
        return sum(len(spec) for spec in self.specs(scale))

    def model_steps(self, scale: str) -> int:
        """Total optimiser model-steps of the experiment at ``scale``."""
        return sum(c.steps for spec in self.specs(scale) for c in spec.configs())

    def check_scale(self, scale: str) -> None:
        if scale not in SCALES:
            raise ConfigError(f"unknown scale {scale!r} (choose from {', '.join(SCALES)})")

    def select(self, store: Store, spec: SweepSpec) -> list[str]:
        """The run ids of ``spec`` present in ``store``; raise if any is missing."""
        ids = spec.run_ids()
        missing = [r for r in ids if r not in store.runs.index]
        if missing:
            raise ConfigError(f"{self.name}: {len(missing)} of {len(ids)} runs of sweep "
                              f"{spec.name!r} are not in {store.path}; run "
                              f"'circle-survival reproduce {self.name}' to train them")
        return ids


def runs_text(n: int) -> str:
    """'1 run' or 'n runs' (thousands separated)."""
    return f"{n:,} run" if n == 1 else f"{n:,} runs"


def scale_note(result: ExperimentResult) -> str:
    """A one-line note for figure titles: scale, runs, deviations."""
    note = f"{result.scale} scale, {runs_text(result.n_runs)}"
    if result.deviations:
        note += "; " + "; ".join(result.deviations)
    return note


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_result(result: ExperimentResult, out: str | Path) -> Path:
    """Write figures (PNG and SVG) and ``result.json`` into ``out``; return the JSON path."""
    from ..figures.io import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    for name, fig in result.figures.items():
        paths = save_figure(fig, out / name)
        figures[name] = [p.name for p in paths]
    doc = {
        "name": result.name,
        "number": result.number,
        "title": result.title,
        "scale": result.scale,
        "n_runs": result.n_runs,
        "numbers": _jsonable(result.numbers),
        "claims": [asdict(c) for c in result.claims],
        "deviations": list(result.deviations),
        "figures": figures,
    }
    path = out / RESULT_FILE
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False))
    tmp.replace(path)
    return path
