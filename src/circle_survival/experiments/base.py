"""What an experiment preset is: the sweeps it trains at each scale, and its analysis.

An :class:`Experiment` names the paper's experiment it reproduces, gives the sweeps to train at
the ``smoke`` scale (minutes on a 2-core CPU, enough to see the trend) and the ``paper`` scale
(the paper's grid and counts), and turns a store holding those runs into an
:class:`ExperimentResult`: figures, the numbers behind them, and the paper's claims next to
what the runs show.

Results are written by :func:`write_result` as ``OUT/result.json`` (with its provenance) plus
one PNG and one SVG (and on request a PDF) per figure; the report (``report.py``) reads those
files back.
"""

from __future__ import annotations

import copy
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..config import RunConfig
from ..errors import ConfigError
from ..plain import json_ready
from ..report.wording import DIFFERENCES_PAGE, runs_text, verdict_text  # noqa: F401 (re-exported)
from ..store import Store
from ..store.layout import RESULT_FILE
from ..sweep import SweepSpec

SCALES = ("smoke", "paper")
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


#: measured training cost on this project's 2-core CPU: seconds per float64 model-step of the
#: paper's default shape (p = 59, d = 128); other shapes scale by their work per step
SECONDS_PER_MODEL_STEP = 0.011
#: the authors' "seed-10 run" (experiments 1 and 10) and "seed-1 run" (experiment 11): MLP and
#: split from seed 0, the embedding a fresh torch.normal(0, 1, (p, d)) after seeding
FRESH_EMBEDDING = {"init_scheme": "reference_fresh_embedding"}


def fresh_embedding_seeds(embedding_seed: int) -> dict[str, list[int]]:
    """Sweep seeds of the authors' "fixed MLP" run with this embedding seed."""
    return {"embedding": [int(embedding_seed)], "mlp": [0], "split": [0]}


def seed10_recording(steps: int) -> dict[str, Any]:
    """Recording of the seed-10 run shared by experiments 1 and 10: every step's signal,
    metrics every 10 steps, the embedding at the middle step, parameters every 100 steps."""
    return {"signal_every": 1, "metrics_every": 10, "embedding_steps": (steps // 2,),
            "snapshot_every": 100}


def seed10_spec(name: str, scale: str, base: Mapping[str, Any], embedding_seed: int = 10
                ) -> SweepSpec:
    """The sweep of the authors' seed-10 run (MLP and split seed 0, fresh embedding)."""
    return SweepSpec(name=f"{name}-{scale}", base={**FRESH_EMBEDDING, **base},
                     seeds=fresh_embedding_seeds(embedding_seed))


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and what these runs show.

    paper: what the paper states. observed: what these runs show. holds: True / False as
    judged at this scale, None when the runs cannot decide it. criterion: how this tool
    decides (the test and its threshold), shown in its own column of the report.
    """

    paper: str
    observed: str
    holds: bool | None
    criterion: str = ""


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


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """What an experiment trains at one scale; each experiment extends it with its grids,
    run counts and recording (one instance per scale, e.g. its module's ``SMOKE`` and
    ``PAPER``).

    scale: the scale's name, in sweep and result names. steps: the run length. base: config
    fields changed from the paper's (listed among the departures). refutes: whether a missed
    claim is refuted; False where a few runs can confirm a trend but not refute it (the smoke
    scale: a miss is then undecided, as the claims' criteria say).
    """

    scale: str
    steps: int = PAPER_STEPS
    base: Mapping[str, Any] = field(default_factory=dict)
    refutes: bool = True


class Experiment(ABC):
    """A preset reproducing one of the paper's experiments (arXiv 2405.17420).

    Its sizes at each scale (``sizes``: scale -> :class:`Sizes`) are given to the
    constructor; the scale-keyed methods (:meth:`specs`, :meth:`analyze`,
    :meth:`deviations`, ...) look the sizes up in one place (:meth:`sized`) and call the
    preset's ``*_at(sizes)`` methods.
    """

    #: short id used on the command line, e.g. "perturbation"
    name: str = ""
    #: the experiment's number (1-11, as in the README)
    number: int = 0
    title: str = ""

    def __init__(self, *, smoke: Sizes, paper: Sizes) -> None:
        self.sizes: dict[str, Sizes] = {"smoke": smoke, "paper": paper}
        for scale, sizes in self.sizes.items():
            if sizes.scale != scale:
                raise ConfigError(f"{self.name}: the {scale} sizes are named "
                                  f"{sizes.scale!r}")

    def with_base(self, **fields: Any) -> Experiment:
        """A copy of this preset whose runs, at every scale, set config ``fields`` (e.g.
        ``dtype="float32"``, ``device="cuda"``); a field of the paper's setup is listed among
        the departures (through :attr:`Sizes.base`). No fields: the preset itself."""
        if not fields:
            return self
        out = copy.copy(self)
        out.sizes = {scale: replace(sizes, base={**sizes.base, **fields})
                     for scale, sizes in self.sizes.items()}
        return out

    def sized(self, scale: str) -> Sizes:
        """The sizes of ``scale`` ("smoke" or "paper"); ConfigError for another name."""
        self.check_scale(scale)
        return self.sizes[scale]

    def specs(self, scale: str) -> list[SweepSpec]:
        """The sweeps to train at ``scale`` ("smoke" or "paper")."""
        return self.specs_at(self.sized(scale))

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        """Analyse the experiment's runs in ``store`` (all of them must be complete)."""
        return self.analyze_at(store, self.sized(scale))

    def deviations(self, scale: str) -> list[str]:
        """How ``scale`` departs from the paper's setup (shown on figures and in reports)."""
        return self.deviations_at(self.sized(scale))

    @abstractmethod
    def specs_at(self, sizes: Sizes) -> list[SweepSpec]:
        """The sweeps to train at these sizes."""

    @abstractmethod
    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        """Analyse the runs of these sizes in ``store``."""

    def deviations_at(self, sizes: Sizes) -> list[str]:
        """How these sizes depart from the paper's setup."""
        return []

    # -- helpers ------------------------------------------------------------------------
    def run_ids(self, scale: str) -> list[str]:
        return [rid for spec in self.specs(scale) for rid in spec.run_ids()]

    def n_runs(self, scale: str) -> int:
        return len(self.planned_configs(scale))

    def specs_after(self, scale: str, store: Store | None) -> list[SweepSpec]:
        """The sweeps to train given what ``store`` holds: :meth:`specs` for most presets; a
        preset whose runs depend on earlier ones (experiment 9) adds them once those are in
        the store."""
        return self.specs_after_at(self.sized(scale), store)

    def specs_after_at(self, sizes: Sizes, store: Store | None) -> list[SweepSpec]:
        return self.specs_at(sizes)

    def planned_configs(self, scale: str) -> list[RunConfig]:
        """Every distinct run the experiment trains at ``scale`` (a run shared by two sweeps
        counts once); presets whose later sweeps depend on earlier runs give stand-ins of the
        same shape."""
        return self.planned_configs_at(self.sized(scale))

    def planned_configs_at(self, sizes: Sizes) -> list[RunConfig]:
        out: dict[str, RunConfig] = {}
        for spec in self.specs_at(sizes):
            for c, rid in zip(spec.configs(), spec.run_ids(), strict=True):
                out.setdefault(rid, c)
        return list(out.values())

    def model_steps(self, scale: str) -> int:
        """Total optimiser model-steps of the experiment at ``scale``."""
        return sum(c.steps for c in self.planned_configs(scale))

    def cpu_hours(self, scale: str, configs: list[RunConfig] | None = None) -> float:
        """Training time on this project's CPU at the measured rate
        (:data:`SECONDS_PER_MODEL_STEP` per float64 model-step of the default shape, scaled
        by each run's work per step); ``configs``: the planned configs, when at hand."""
        from ..sweep import model_step_flops

        unit = model_step_flops(RunConfig())
        configs = self.planned_configs(scale) if configs is None else configs
        return sum(SECONDS_PER_MODEL_STEP * c.steps * model_step_flops(c) / unit
                   for c in configs) / 3600

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


def train(exp: Experiment, scale: str, store: str | Path, **run_options: Any) -> None:
    """Train what ``exp`` needs at ``scale`` into ``store``: its sweeps, then any sweep that
    depends on runs already trained (experiment 9 trains A-D after O), until none is new.
    ``run_options`` go to :func:`circle_survival.sweep.run_sweep` (executor, workers, ...)."""
    from ..store import completed_run_ids, is_store, load
    from ..sweep import run_sweep

    trained_specs: set[str] = set()
    complete = completed_run_ids(store)  # read once; each sweep adds what it trains
    while True:
        current = load(store) if is_store(store) else None
        todo = [spec for spec in exp.specs_after(scale, current)
                if spec.name not in trained_specs]
        if not todo:
            return
        for spec in todo:
            report = run_sweep(spec, store, completed=complete, **run_options)
            complete |= set(report.trained)
            trained_specs.add(spec.name)


def scale_note(result: ExperimentResult) -> str:
    """A one-line note for figure titles: scale, runs, deviations."""
    note = f"{result.scale} scale, {runs_text(result.n_runs)}"
    if result.deviations:
        note += "; " + "; ".join(result.deviations)
    return note


def _not_finite(v: Any, path: str = "") -> dict[str, str]:
    """Where ``v`` (nested numbers) holds NaN or an infinity: dotted key path -> "nan", "inf"
    or "-inf" (list items as ``key.3``); ``result.json`` stores them as null."""
    if isinstance(v, Mapping):
        items = ((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
    elif isinstance(v, list | tuple | np.ndarray):
        items = ((f"{path}.{i}", x) for i, x in enumerate(v))
    else:
        x = v.item() if isinstance(v, np.generic) else v
        return {path: str(x)} if isinstance(x, float) and not math.isfinite(x) else {}
    out: dict[str, str] = {}
    for key, x in items:
        out.update(_not_finite(x, key))
    return out


def write_result(result: ExperimentResult, out: str | Path, *, runs: Any = None,
                 formats: tuple[str, ...] = ("png", "svg")) -> Path:
    """Write figures (in ``formats``: png, svg, pdf) and ``result.json`` into ``out``; return
    the JSON path. ``runs`` is the runs table the result was computed from; its device and
    dtype go into the provenance record (:func:`circle_survival.provenance.provenance`)."""
    from ..figures.io import save_figure
    from ..report.provenance import provenance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    for name, fig in result.figures.items():
        paths = save_figure(fig, out / name, formats)
        figures[name] = [p.name for p in paths]
    doc = {
        "name": result.name,
        "number": result.number,
        "title": result.title,
        "scale": result.scale,
        "n_runs": result.n_runs,
        "numbers": json_ready(result.numbers),
        "claims": [asdict(c) for c in result.claims],
        "deviations": list(result.deviations),
        "figures": figures,
        "not_finite": _not_finite(result.numbers),
        "provenance": provenance(runs),
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


def r_text(r: float, p_value: float) -> str:
    """'+0.123 (p = 0.045)', or 'undefined (no variation)' for a NaN r."""
    return "undefined (no variation)" if not math.isfinite(r) else f"{r:+.3f} (p = {p_value:.2g})"


class Scaled(Experiment):
    """A preset whose sizes set the run length and may change config fields
    (:attr:`Sizes.base`)."""

    def base(self, sizes: Sizes, **fields_: Any) -> dict[str, Any]:
        """The sweep base: ``fields_``, the steps and the sizes' config fields."""
        return {**fields_, "steps": sizes.steps, **sizes.base}

    def _result(self, sizes: Sizes, n_runs: int, numbers: dict[str, Any]) -> ExperimentResult:
        return ExperimentResult(name=self.name, number=self.number, title=self.title,
                                scale=sizes.scale, n_runs=n_runs, numbers=numbers, figures={},
                                claims=[], deviations=self.deviations_at(sizes))
