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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..config import RunConfig
from ..errors import ConfigError
from ..store import Store
from ..sweep import SweepSpec

SCALES = ("smoke", "paper")
RESULT_FILE = "result.json"
#: the paper's run length
PAPER_STEPS = RunConfig().steps
#: significance level of every statistical criterion
ALPHA = 0.05
#: recording for runs of which only the initial and final states are analysed
SPARSE_RECORDING = {"signal_every": 100, "metrics_every": 100}
#: config fields that are not part of the paper's setup (recording, placement)
NOT_SETUP = frozenset({"device", "signal_every", "signal_dense_until", "metrics_every",
                       "embedding_every", "embedding_steps", "snapshot_every",
                       "snapshot_steps"})


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
                              f"'circle-survival reproduce {self.name} {store.path}' to train "
                              "them")
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


def base_deviations(base: Mapping[str, Any]) -> list[str]:
    """How config fields in ``base`` depart from the paper's defaults (recording and device
    fields are not departures)."""
    defaults = {f.name: f.default for f in fields(RunConfig)}
    out = []
    for key, value in base.items():
        if key in NOT_SETUP or key not in defaults:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if value != defaults[key]:
            out.append(f"{key} = {value} instead of {defaults[key]}")
    return out


def steps_deviation(steps: int, paper_steps: int, why: str | None = None) -> list[str]:
    """The note for shortened runs; ``why`` says what more steps could change (default:
    circles can still die late)."""
    if steps >= paper_steps:
        return []
    why = why or (f"circles can still die later, so counts can be higher than after "
                  f"{paper_steps:,} steps")
    return [f"{steps:,} steps instead of {paper_steps:,} ({why})"]


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's r and its p-value; NaN for fewer than three points or a constant column."""
    from scipy import stats

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    res = stats.spearmanr(a, b)
    return float(res.statistic), float(res.pvalue)


def r_text(r: float, p_value: float) -> str:
    """'+0.123 (p = 0.045)', or 'undefined (no variation)' for a NaN r."""
    return "undefined (no variation)" if not math.isfinite(r) else f"{r:+.3f} (p = {p_value:.2g})"


class SmokeScaled(Experiment):
    """A preset whose smoke scale shortens its runs (``smoke_steps``) and may change config
    fields (``smoke_base``); the paper scale runs ``paper_steps``."""

    paper_steps = PAPER_STEPS

    def __init__(self, *, smoke_steps: int, smoke_base: Mapping[str, Any] | None = None):
        self.smoke_steps = int(smoke_steps)
        self.smoke_base = dict(smoke_base or {})

    def steps(self, scale: str) -> int:
        self.check_scale(scale)
        return self.smoke_steps if scale == "smoke" else self.paper_steps

    def base(self, scale: str, **fields_: Any) -> dict[str, Any]:
        """The sweep base: ``fields_``, the steps and, at smoke scale, ``smoke_base``."""
        out = {**fields_, "steps": self.steps(scale)}
        if scale == "smoke":
            out.update(self.smoke_base)
        return out

    def _result(self, scale: str, n_runs: int, numbers: dict[str, Any]) -> ExperimentResult:
        return ExperimentResult(name=self.name, number=self.number, title=self.title,
                                scale=scale, n_runs=n_runs, numbers=numbers, figures={},
                                claims=[], deviations=self.deviations(scale))
