"""Experiment 4's circle-rule study: which count of circles draws the paper's weight-decay
figure.

The figure (p = 59, d = 128, 50 runs per value, 30,000 steps) shows about 29 circles at
wd ≈ 0.002 (nothing dying), a gradual fall to about 5.8 at wd = 0.01 and about 5 from 0.1
to 1.5. The authors' code counts the pairs of FFT entries above twice the mean of all p of
them, which for p = 59 can never give more than 14 circles (2n entries above twice the mean
need 4n < p), so it cannot have drawn the left of that figure. The study trains the
weight-decay series once, to the longest length, and counts circles under every candidate
rule (:data:`CANDIDATES`: the authors', absolute thresholds, relative to the strongest
frequency, relative to the run's own start, the authors' threshold over the half spectrum)
at each length, then says which rule, if any, gives the figure (:func:`fit`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.rule_counts import counts_by_rule, mean_counts
from ..figures import circle_rules as figs
from ..fourier import circle_rule, n_freq
from ..store import Store
from ..sweep import SweepSpec
from .circle_counts import (
    NEAREST_FACTOR,
    PAPER_SHAPE,
    PAPER_WD_LOG,
    PAPER_WD_RUNS,
    nearest,
    tolerance,
)
from .departures import PAPER_STEPS, base_deviations, grid_deviation, steps_deviation
from .preset import GridPreset, Sizes
from .result import Claim, ExperimentResult, scale_note
from .verdicts import scale_verdict

#: the circle rules compared, the authors' first
CANDIDATES = ("2x-mean", "half-2x-mean", "absolute:1", "absolute:10", "absolute:30",
              "absolute:50", "max:0.05", "max:0.2", "max:0.5", "start:0.25", "start:0.5",
              "start:1")
#: the plateau's values beyond the log series (from the linear one)
PLATEAU_WD = (0.1, 0.5, 1.0, 1.5)


@dataclass(frozen=True, kw_only=True)
class StudySizes(Sizes):
    """The study at one scale: ``weight_decays``, ``runs`` per value (run i with seed i for
    everything), and the ``lengths`` counted at (the runs train to the longest)."""

    weight_decays: tuple[float, ...] = ()
    runs: int = 1
    lengths: tuple[int, ...] = (PAPER_STEPS,)


PAPER = StudySizes(scale="paper", weight_decays=PAPER_WD_LOG + PLATEAU_WD, runs=PAPER_WD_RUNS,
                   lengths=(10_000, 30_000, 100_000), steps=100_000)
SMOKE = StudySizes(scale="smoke", weight_decays=tuple(PAPER_WD_LOG[i] for i in (0, 10, 12, 15))
                   + (0.1,), runs=2, lengths=(1000, 3000), steps=3000, refutes=False)


def fit(means: pd.DataFrame, shape: Mapping[float, float] = PAPER_SHAPE) -> dict[str, Any]:
    """How the mean counts of one rule at one length (rows: weight_decay, n, mean, low,
    high) match the figure: per level the grid value standing for it and its mean; whether
    every level is matched within :func:`tolerance`; whether the fall is gradual (a value
    strictly between the first two levels' weight decays has a mean strictly between their
    levels, when the grid has one); and the RMS distance over the levels."""
    wd = means["weight_decay"].to_numpy(float)
    levels, misses = {}, []
    for x, level in shape.items():
        i = nearest(wd, x)
        if i is None:
            levels[x] = {"weight_decay": None, "mean": None, "level": level}
            continue
        m = float(means["mean"].iloc[i])
        levels[x] = {"weight_decay": float(wd[i]), "mean": m, "level": level}
        misses.append(abs(m - level))
    measured = [v for v in levels.values() if v["mean"] is not None]
    matched = bool(measured) and len(measured) == len(shape) and all(
        abs(v["mean"] - v["level"]) <= tolerance(v["level"]) for v in measured)
    (x0, y0), (x1, y1) = list(shape.items())[:2]
    inner = means[(means["weight_decay"] > x0 * NEAREST_FACTOR)
                  & (means["weight_decay"] < x1 / NEAREST_FACTOR)]
    gradual = None if inner.empty else bool(
        ((inner["mean"] > y1 + tolerance(y1)) & (inner["mean"] < y0 - tolerance(y0))).any())
    rms = float(np.sqrt(np.mean(np.square(misses)))) if misses else math.nan
    return {"levels": levels, "matched": matched, "gradual": gradual,
            "fits": bool(matched and gradual is not False), "rms": rms}


class CircleRuleStudy(GridPreset):
    """Experiment 4's circle-rule study (see the module docstring): the log series of weight
    decay and the plateau's 0.1, 0.5, 1.0, 1.5, 50 runs per value, trained to 100,000 steps
    and counted at 10,000, 30,000 and 100,000 under every rule of :data:`CANDIDATES`."""

    name = "circle-rule-study"
    number = 4
    title = "Which circle count draws the weight-decay figure"
    authors = PAPER
    rules: tuple[str, ...] = CANDIDATES

    def __init__(self, smoke: StudySizes = SMOKE, paper: StudySizes = PAPER) -> None:
        super().__init__(smoke=smoke, paper=paper)
        for sizes in (smoke, paper):
            if max(sizes.lengths) != sizes.steps:
                raise ValueError(f"{self.name}: the longest length must be the run length")

    def specs_at(self, sizes: StudySizes) -> list[SweepSpec]:
        every = min(1000, math.gcd(*sizes.lengths))
        base = self.base(sizes, signal_every=every, metrics_every=every)
        ids = list(range(sizes.runs))
        return [self._spec(sizes, base=base, axes={"weight_decay": list(sizes.weight_decays)},
                           seeds={"embedding": ids, "mlp": ids, "split": ids})]

    def deviations_at(self, sizes: StudySizes) -> list[str]:
        out = steps_deviation(max(sizes.lengths), max(self.authors.lengths))
        out += grid_deviation("weight decay", sizes.weight_decays, self.authors.weight_decays)
        if sizes.runs < self.authors.runs:
            out.append(f"{sizes.runs} runs per value instead of {self.authors.runs}")
        return out + base_deviations(sizes.base)

    def judged_length(self, sizes: StudySizes) -> int:
        """The length the claims are judged at: the paper's 30,000 steps, or the longest
        counted below it."""
        below = [n for n in sizes.lengths if n <= PAPER_STEPS]
        return max(below or sizes.lengths)

    def analyze_at(self, store: Store, sizes: StudySizes) -> ExperimentResult:
        ids = self.select(store, self.specs_at(sizes)[0])
        rules = [str(circle_rule(r)) for r in self.rules]
        counts = counts_by_rule(store, ids, rules=rules, steps=sizes.lengths,
                                group_by=["weight_decay"])
        means = mean_counts(counts, ["circle_rule", "step", "weight_decay"])
        fits = {rule: {int(step): fit(g.sort_values("weight_decay"))
                       for step, g in means[means["circle_rule"] == rule].groupby("step")}
                for rule in rules}
        judged = self.judged_length(sizes)
        numbers = {"rules": rules, "lengths": list(sizes.lengths), "judged_length": judged,
                   "weight_decays": list(sizes.weight_decays), "paper_shape": PAPER_SHAPE,
                   "p": int(store.runs.loc[ids[0], "p"]), "means": means.to_dict("records"),
                   "fits": fits}
        result = self._result(sizes, len(ids), numbers)
        result.claims = self.claims(fits, judged, numbers["p"], sizes.refutes)
        result.figures = {"circles_by_rule": figs.circles_by_rule(
            means, PAPER_SHAPE, rules=rules, note=scale_note(result),
            title="Number of circles against weight decay, by circle rule")}
        return result

    def claims(self, fits: Mapping[str, Mapping[int, dict]], length: int, p: int,
               refutes: bool) -> list[Claim]:
        at = {rule: by_step[length] for rule, by_step in fits.items() if length in by_step}
        levels = ", ".join(f"≈ {v:g} at wd {x:g}" for x, v in PAPER_SHAPE.items())
        criterion = (f"at {length:,} steps, the mean count at the grid value nearest each level "
                     f"of the figure ({levels}; nearest: within a factor "
                     f"{NEAREST_FACTOR:g}) lies within max(1.5, 15%) of it, and a value "
                     "between 0.002 and 0.01 lies strictly between their levels (a gradual "
                     "fall)")

        def text(rule: str) -> str:
            f = at[rule]
            parts = [f"{v['mean']:.1f} at {v['weight_decay']:.3g}" if v["mean"] is not None
                     else f"none near {x:g}" for x, v in f["levels"].items()]
            return f"{rule}: " + ", ".join(parts) + f" (RMS off {f['rms']:.1f})"

        authors = "2x-mean"
        cap = (p - 1) // 4  # 2n entries above twice the mean need 4n < p
        out = []
        if authors in at:
            out.append(Claim(
                "The weight-decay figure counts circles by the authors' rule (pairs of FFT "
                "entries above twice the mean of all p).",
                f"{text(authors)}; for p = {p} this rule cannot exceed {cap} circles of the "
                f"{n_freq(p)}.", scale_verdict(at[authors]["fits"], refutes), criterion))
        fitting = [r for r in at if at[r]["fits"]]
        ranked = sorted(at, key=lambda r: (not at[r]["fits"], np.nan_to_num(at[r]["rms"],
                                                                             nan=np.inf)))
        verdict = ("; the figure departs from every rule tried, the authors' own included"
                   if refutes else "")
        observed = ("fits: " + "; ".join(text(r) for r in fitting) if fitting else
                    f"no rule fits at {length:,} steps{verdict}. Closest: "
                    + "; ".join(text(r) for r in ranked[:3]))
        out.append(Claim(
            "Some count of circles gives the figure: about 29 at wd ≈ 0.002, falling gradually "
            "to about 5.8 at 0.01, about 5 beyond.", observed + ".",
            scale_verdict(bool(fitting), refutes),
            criterion.replace("the mean count", "for some rule, the mean count")))
        return out


EXPERIMENTS = [CircleRuleStudy()]
