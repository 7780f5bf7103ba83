"""What an experiment preset is: the sweeps it trains at each scale, and its analysis.

An :class:`Experiment` names the paper's experiment it reproduces, gives the sweeps to train at
the ``smoke`` scale (minutes on a 2-core CPU, enough to see the trend) and the ``paper`` scale
(the paper's grid and counts), and turns a store holding those runs into an
:class:`~circle_survival.experiments.result.ExperimentResult`. Most presets build on one of
three bases: :class:`Scaled` (sizes that set the run length and config fields),
:class:`GridPreset` (a grid of runs per point) and :class:`InterventionPreset` (an edit of the
initial embedding). :func:`train` trains what a preset needs into a store.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import ConfigError
from ..fourier import AUTHORS_RULE, CircleRule, circle_rule
from ..store import Store
from ..sweep import SweepSpec
from .departures import PAPER_STEPS, base_deviations, steps_deviation
from .result import ExperimentResult

SCALES = ("smoke", "paper")
#: measured training cost on this project's 2-core CPU: seconds per float64 model-step of the
#: paper's default shape (p = 59, d = 128); other shapes scale by their work per step
SECONDS_PER_MODEL_STEP = 0.011


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

    #: the circle rule the preset counts circles by (the authors' unless
    #: :meth:`with_circle_rule` says otherwise; a preset with its own rule keeps it)
    circle_rule: CircleRule = AUTHORS_RULE

    def with_circle_rule(self, rule: CircleRule | str | None) -> Experiment:
        """A copy of this preset that counts circles by ``rule`` (its text or a CircleRule;
        None or the authors' rule: the preset itself). The rule is recorded in the result's
        numbers and listed among its departures."""
        rule = circle_rule(rule)
        if rule == self.circle_rule:
            return self
        out = copy.copy(self)
        out.circle_rule = rule
        return out

    def rule_deviations(self) -> list[str]:
        """The departure a rule other than the authors' makes (shown on figures, in reports)."""
        return [] if self.circle_rule.is_authors else [
            f"circles counted by {self.circle_rule.describe()} instead of the authors' 2x-mean"]

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
        return self.deviations_at(self.sized(scale)) + self.rule_deviations()

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


class Scaled(Experiment):
    """A preset whose sizes set the run length and may change config fields
    (:attr:`Sizes.base`)."""

    def base(self, sizes: Sizes, **fields_: Any) -> dict[str, Any]:
        """The sweep base: ``fields_``, the steps and the sizes' config fields."""
        return {**fields_, "steps": sizes.steps, **sizes.base}

    def _result(self, sizes: Sizes, n_runs: int, numbers: dict[str, Any]) -> ExperimentResult:
        numbers = {**numbers, "circle_rule": str(self.circle_rule)}
        return ExperimentResult(name=self.name, number=self.number, title=self.title,
                                scale=sizes.scale, n_runs=n_runs, numbers=numbers, figures={},
                                claims=[], deviations=self.deviations_at(sizes)
                                + self.rule_deviations())


@dataclass(frozen=True, kw_only=True)
class GridSizes(Sizes):
    """Sizes of a grid preset: ``runs`` per point of the grid."""

    runs: int = 1


class GridPreset(Scaled):
    """A grid of runs per point; its sizes (:class:`GridSizes` or an extension) give the
    steps, the runs per point and extra config fields; departures are listed against the
    authors' sizes (``authors``)."""

    #: the authors' sizes (what departures are measured against)
    authors: GridSizes
    #: what "runs per point" counts, in the deviation text
    per_point = "point"
    #: what more steps could change (None: circles can still die late)
    short_steps_note: str | None = None

    def seeds(self, sizes: GridSizes) -> dict[str, list[int]]:
        """Everything redrawn: run i uses seed i for the embedding, the MLP and the split."""
        ids = list(range(sizes.runs))
        return {"embedding": ids, "mlp": ids, "split": ids}

    def deviations_at(self, sizes: GridSizes) -> list[str]:
        paper = self.authors
        out = steps_deviation(sizes.steps, paper.steps, self.short_steps_note)
        if sizes.runs < paper.runs:
            out.append(f"{sizes.runs} runs per {self.per_point} instead of {paper.runs}")
        return out + base_deviations(sizes.base)

    def _spec(self, sizes: Sizes, suffix: str = "", **kwargs: Any) -> SweepSpec:
        name = f"{self.name}-{sizes.scale}" + (f"-{suffix}" if suffix else "")
        return SweepSpec(name=name, **kwargs)


class InterventionPreset(Scaled):
    """Steps and extra config fields of the sizes, shared by the presets."""

    def deviations_at(self, sizes: Sizes) -> list[str]:
        why = (f"circles can still die later, so survival can differ from "
               f"{PAPER_STEPS:,}-step runs")
        return (steps_deviation(sizes.steps, PAPER_STEPS, why) + base_deviations(sizes.base))

    def spec_name(self, sizes: Sizes) -> str:
        return f"{self.name}-{sizes.scale}"
