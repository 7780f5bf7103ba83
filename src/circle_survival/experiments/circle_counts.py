"""Experiment 4 of the paper: the number of circles against the modulus p (the authors' primes
and every integer 16 .. 101) and against weight decay (two grids).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.stats import spearman
from ..config import RunConfig
from ..figures import landscape as figs
from ..fourier import circle_rule
from ..store import Store
from ..sweep import SweepSpec
from .departures import base_deviations, grid_deviation, steps_deviation
from .design import SPARSE_RECORDING
from .preset import Experiment, GridPreset, Sizes
from .result import Claim, ExperimentResult, scale_note
from .run_table import run_columns
from .texts import r_text
from .verdicts import ALPHA, SMOKE_MISS, scale_verdict, trend_holds

PAPER_PRIMES = (13, 19, 23, 29, 31, 37, 43, 47, 53, 59, 61, 67, 73, 79, 83, 89, 97, 101, 103,
                107, 109, 113, 127)
PAPER_PRIME_RUNS = 100
PAPER_INTEGERS = tuple(range(16, 102))
PAPER_INTEGER_RUNS = 20
PAPER_INTEGERS_SHOWN = 97
PAPER_WD_LOG = tuple(float(v) for v in 10.0 ** np.linspace(-4, -2, 16))
PAPER_WD_LINEAR = tuple(dict.fromkeys(round(float(v), 1) for v in np.linspace(0.1, 1.5, 16)))
PAPER_WD_RUNS = 50
PAPER_WD_SHOWN = 0.002
#: the paper's weight-decay figure as read off it: weight decay -> circles (about 29 at
#: wd ≈ 0.002, a gradual fall to about 5.8 at 0.01, about 5 from 0.1 to 1.5)
PAPER_SHAPE = {0.002: 29.0, 0.01: 5.8, 0.1: 5.0}
#: how far a grid value may lie from a level's weight decay to stand for it (a factor)
NEAREST_FACTOR = 1.3
#: the circle rule whose counts match the paper's weight-decay figure, as measured by the
#: circle-rule study (2 runs per value, 30,000 float64 steps: 29, 27.5, 11.5, 7.5, 5.5 and 5
#: circles at wd = 0.0022, 0.004, 0.0054, 0.0074, 0.01 and 0.1; see the README); its claims
#: are judged beside the authors' rule's
FIGURE_RULE = "absolute:30"


def tolerance(level: float) -> float:
    """How far a mean count may be from a level of the figure and still match it."""
    return max(1.5, 0.15 * level)


def nearest(values: np.ndarray, x: float) -> int | None:
    """The index of the value nearest ``x`` on a log scale, None when none lies within a
    factor :data:`NEAREST_FACTOR` of it."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return None
    i = int(np.argmin(np.abs(np.log(values / x))))
    return i if abs(math.log(values[i] / x)) <= math.log(NEAREST_FACTOR) else None


SMOKE_WD_LOG = tuple(PAPER_WD_LOG[i] for i in (0, 7, 15))
SMOKE_WD_LINEAR = tuple(PAPER_WD_LINEAR[i] for i in (0, 7, -1))


@dataclass(frozen=True, kw_only=True)
class CountSizes(Sizes):
    """Sizes of one experiment-4 preset: per series, its grid (``grids``) and runs per point
    (``series_runs``)."""

    grids: Mapping[str, tuple] = field(default_factory=dict)
    series_runs: Mapping[str, int] = field(default_factory=dict)


#: the authors' primes (100 runs each) and every integer 16 .. 101 (20 runs each)
PAPER_P = CountSizes(scale="paper", grids={"primes": PAPER_PRIMES, "integers": PAPER_INTEGERS},
                     series_runs={"primes": PAPER_PRIME_RUNS, "integers": PAPER_INTEGER_RUNS})
SMOKE_P = CountSizes(scale="smoke", grids={"primes": (13, 23, 31, 43, 59),
                                           "integers": (16, 24, 32, 40, 48)},
                     series_runs={"primes": 4, "integers": 4}, steps=3000, refutes=False)
#: the authors' two weight-decay grids, 50 runs per value
PAPER_WD = CountSizes(scale="paper", grids={"log": PAPER_WD_LOG, "linear": PAPER_WD_LINEAR},
                      series_runs={"log": PAPER_WD_RUNS, "linear": PAPER_WD_RUNS})
SMOKE_WD = CountSizes(scale="smoke", grids={"log": SMOKE_WD_LOG, "linear": SMOKE_WD_LINEAR},
                      series_runs={"log": 3, "linear": 3}, steps=2000, refutes=False)


class _CountSweep(GridPreset):
    """The number of circles against one config field, in two series (experiment 4), each
    with its own grid and runs per point (:class:`CountSizes`)."""

    field_name = ""
    xlabel = ""
    #: series name -> (label, log x axis, shown from/up to)
    series: dict[str, tuple[str, bool, tuple[float, float]]] = {}
    figure_name = "circles"
    authors: CountSizes

    def __init__(self, smoke: CountSizes, paper: CountSizes) -> None:
        super().__init__(smoke=smoke, paper=paper)

    def specs_at(self, sizes: CountSizes) -> list[SweepSpec]:
        base = self.base(sizes, **SPARSE_RECORDING)
        out = []
        for key in self.series:
            ids = list(range(sizes.series_runs[key]))
            out.append(self._spec(sizes, key, base=base,
                                  axes={self.field_name: list(sizes.grids[key])},
                                  seeds={"embedding": ids, "mlp": ids, "split": ids}))
        return out

    #: departures that remain at the paper scale
    paper_notes: tuple[str, ...] = ()

    def deviations_at(self, sizes: CountSizes) -> list[str]:
        paper = self.authors
        out = list(self.paper_notes) + steps_deviation(sizes.steps, paper.steps)
        for key, (label, _, _) in self.series.items():
            out += grid_deviation(f"{self.field_name} ({label})", sizes.grids[key],
                                  paper.grids[key])
            runs, paper_runs = sizes.series_runs[key], paper.series_runs[key]
            if runs < paper_runs:
                out.append(f"{runs} runs per point instead of {paper_runs} ({label})")
        return out + base_deviations(sizes.base)

    def tables(self, store: Store, sizes: Sizes) -> dict[str, pd.DataFrame]:
        """Series name -> one row per run: the field and n_circles."""
        return {key: run_columns(store, self.select(store, spec),
                                [self.field_name, "n_circles"], self.circle_rule)
                for key, spec in zip(self.series, self.specs_at(sizes), strict=True)}

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        tables = self.tables(store, sizes)
        numbers: dict[str, Any] = {}
        for key, df in tables.items():
            s = figs.summarize(df, self.field_name, "n_circles")
            r, p_r = spearman(df[self.field_name], df["n_circles"])
            numbers[key] = {"values": s[self.field_name].tolist(),
                            "runs_per_point": [int(n) for n in s["n"]],
                            "mean_n_circles": s["mean"].tolist(),
                            "ci95_n_circles": s[["low", "high"]].to_numpy().tolist(),
                            "spearman_r": r, "spearman_p": p_r}
        n_runs = len(set().union(*(set(df.index) for df in tables.values())))
        numbers["n_runs"] = n_runs
        result = self._result(sizes, n_runs, numbers)
        result.claims = self.judge(store, tables, result, sizes)
        note = scale_note(result)
        result.figures = {}
        for key, df in tables.items():
            label, log, (lo, hi) = self.series[key]
            shown = df[(df[self.field_name] >= lo) & (df[self.field_name] <= hi)]
            cut = "" if len(shown) == len(df) else (
                f" (the paper's figure shows {self.field_name} in [{lo:g}, {hi:g}])")
            result.figures[f"{self.figure_name}_{key}"] = figs.circles_vs(
                {label: shown}, self.field_name, xlabel=self.xlabel, logx=log,
                title=f"Number of surviving circles against {self.xlabel}{cut}", note=note)
        return result

    def judge(self, store: Store, tables: Mapping[str, pd.DataFrame],
              result: ExperimentResult, sizes: Sizes) -> list[Claim]:
        """The claims, from the tables counted by the preset's circle rule."""
        return self.claims(tables, result.numbers, sizes)

    def claims(self, tables: Mapping[str, pd.DataFrame], numbers: dict[str, Any],
               sizes: Sizes) -> list[Claim]:
        raise NotImplementedError


class CirclesVsP(_CountSweep):
    """Experiment 4a: the number of circles against the modulus p, over the authors' 23
    primes (100 runs each) and every integer 16 .. 101 (20 runs each; the figure shows p up
    to 97), everything redrawn (run i with seed i), 30,000 steps: 2,300 + 1,720 runs, of
    which the prime p in 16 .. 101 with seeds 0 .. 19 are one run in both series (trained
    once; the authors' script instead mixed the whole prime series into its integer curve).
    """

    name = "circles-vs-p"
    number = 4
    title = "Number of circles against the modulus p"
    field_name = "p"
    xlabel = "modulus p"
    figure_name = "circles_vs_p"
    series = {"primes": ("the authors' primes 13…127", False, (0, math.inf)),
              "integers": ("integers 16…101", False, (0, PAPER_INTEGERS_SHOWN))}
    authors = PAPER_P
    paper_notes = ("the integer series holds only its own runs (the authors' script does not "
                   "reset its list, so their integer curve mixes in the prime runs)",)

    def __init__(self, smoke: CountSizes = SMOKE_P, paper: CountSizes = PAPER_P) -> None:
        super().__init__(smoke, paper)

    def claims(self, tables, numbers, sizes) -> list[Claim]:
        verdicts = [trend_holds(numbers[k]["spearman_r"], numbers[k]["spearman_p"], +1,
                                sizes.refutes)
                    for k in self.series]
        holds = False if False in verdicts else None if None in verdicts else True
        parts = [f"{self.series[k][0]}: Spearman r = "
                 f"{r_text(numbers[k]['spearman_r'], numbers[k]['spearman_p'])}"
                 for k in self.series]
        return [Claim("The number of circles grows with the modulus p.", "; ".join(parts) + ".",
                      holds, f"Spearman r > 0 with p < 0.05 in each series; {SMOKE_MISS}")]


class CirclesVsWeightDecay(_CountSweep):
    """Experiment 4b: the number of circles against weight decay, over 10^linspace(-4, -2, 16)
    and linspace(0.1, 1.5, 16) rounded to one decimal, 50 runs per value (everything redrawn,
    run i with seed i), 30,000 steps: 31 distinct values (the rounded grid lists 0.8 twice),
    1,550 runs. The figure of the log series shows the
    values >= 0.002, as the paper's does.

    The paper's shape: many circles at tiny decay, a sharp fall by wd ≈ 0.01, then flat up
    to 1.5. Tested as (a) a fall: circles at the smallest decay exceed those at the largest
    value of the log series (Welch t-test, p < 0.05); (b) a plateau: over the linear series
    the count changes by less than a quarter of that fall (the difference of the means at 0.1
    and 1.5, with its 95% interval inside ± fall/4).
    """

    name = "circles-vs-weight-decay"
    number = 4
    title = "Number of circles against weight decay"
    field_name = "weight_decay"
    xlabel = "weight decay"
    figure_name = "circles_vs_weight_decay"
    series = {"log": ("10^linspace(−4, −2, 16)", True, (PAPER_WD_SHOWN, math.inf)),
              "linear": ("linspace(0.1, 1.5, 16), one decimal", False, (0, math.inf))}
    authors = PAPER_WD
    paper_notes = ("linear grid: the authors' rounding lists 0.8 twice; those are the same runs, "
                   "kept once (15 values)",)
    #: the plateau's change, as a fraction of the fall, that still counts as flat
    plateau_fraction = 0.25

    #: the second circle rule the claims are judged under (None: the preset's rule only)
    figure_rule: str | None = FIGURE_RULE

    def __init__(self, smoke: CountSizes = SMOKE_WD, paper: CountSizes = PAPER_WD) -> None:
        super().__init__(smoke, paper)

    def judge(self, store: Store, tables: Mapping[str, pd.DataFrame],
              result: ExperimentResult, sizes: Sizes) -> list[Claim]:
        """The claims under the preset's circle rule (from ``tables``), then under
        :attr:`figure_rule` beside them, each criterion naming its rule; the mean counts by
        rule go into ``result.numbers["by_rule"]``."""
        by_table = {self.circle_rule: tables}
        if self.figure_rule is not None and circle_rule(self.figure_rule) != self.circle_rule:
            figure = circle_rule(self.figure_rule)
            by_table[figure] = self.with_circle_rule(figure).tables(store, sizes)
        claims, by_rule = [], {}
        for rule, rule_tables in by_table.items():
            by_rule[str(rule)] = {k: {"mean_n_circles": figs.summarize(
                df, self.field_name, "n_circles")["mean"].tolist()}
                for k, df in rule_tables.items()}
            why = ("the authors' rule" if rule.is_authors else
                   "the rule closest to the paper's figure (the circle-rule study)"
                   if str(rule) == str(circle_rule(self.figure_rule)) else "the rule chosen")
            claims += [replace(c, criterion=f"circle rule {rule}, {why}: {c.criterion}")
                       for c in self.claims(rule_tables, result.numbers, sizes)]
        result.numbers["by_rule"] = by_rule
        return claims

    def deviations_at(self, sizes: CountSizes) -> list[str]:
        out = super().deviations_at(sizes)
        paper_steps = self.authors.steps
        if sizes.steps < paper_steps:
            lr = float(sizes.base.get("lr", RunConfig.lr))
            wd = max(sizes.grids["log"], default=0.0)
            out.append(f"at wd ≤ {wd:g}, decay alone shrinks weights by exp(−lr·wd·steps) ≥ "
                       f"{math.exp(-lr * wd * sizes.steps):.2g} in {sizes.steps:,} "
                       f"steps against {math.exp(-lr * wd * paper_steps):.2g} in "
                       f"{paper_steps:,}, so circles at small wd have not separated yet")
        return out

    def claims(self, tables, numbers, sizes) -> list[Claim]:
        from scipy import stats

        log, lin = tables["log"], tables["linear"]

        def at(df: pd.DataFrame, v: float) -> np.ndarray:
            return df.loc[np.isclose(df[self.field_name], v), "n_circles"].to_numpy(float)

        lo_v, hi_v = min(log[self.field_name]), max(log[self.field_name])
        small, mid = at(log, lo_v), at(log, hi_v)
        fall = float(small.mean() - mid.mean())
        if small.size >= 2 and mid.size >= 2 and (small.std() > 0 or mid.std() > 0):
            p_fall = float(stats.ttest_ind(small, mid, equal_var=False,
                                           alternative="greater").pvalue)
        else:
            p_fall = 0.0 if fall > 0 else 1.0
        first = scale_verdict(bool(fall > 0 and p_fall < ALPHA), sizes.refutes,
                              against=bool(fall < 0 and p_fall > 1 - ALPHA))
        a = at(lin, min(lin[self.field_name]))
        b = at(lin, max(lin[self.field_name]))
        diff = float(b.mean() - a.mean())
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size) if min(
            a.size, b.size) >= 2 else math.nan
        half = 1.96 * se
        bound = self.plateau_fraction * fall
        second: bool | None = None
        if math.isfinite(half) and fall > 0:
            # too few runs to tell unless the change lies outside the bound for sure
            second = scale_verdict(bool(abs(diff) + half < bound), sizes.refutes,
                                   against=bool(abs(diff) - half >= bound))
        return [
            self.level_claim(log, 0.002, sizes.refutes),
            Claim("Many circles live at tiny weight decay and the count falls sharply by "
                  "wd ≈ 0.01.",
                  f"mean circles {small.mean():.2f} at wd = {lo_v:.3g} against {mid.mean():.2f} "
                  f"at wd = {hi_v:.3g} (fall {fall:.2f}; one-sided Welch p = {p_fall:.2g}).",
                  first, "circles at the smallest wd exceed those at the largest value of the "
                  "log series, one-sided Welch t-test p < 0.05"),
            Claim("From wd ≈ 0.01 on the count stays flat up to 1.5.",
                  f"mean circles {a.mean():.2f} at wd = {min(lin[self.field_name]):g}, "
                  f"{b.mean():.2f} at wd = {max(lin[self.field_name]):g}: change {diff:+.2f} "
                  f"± {half:.2f} (95%) against a bound of {bound:.2f}.",
                  second, f"the change across the linear series, with its 95% interval, lies "
                  f"within ± {self.plateau_fraction:g} × the fall of the log series"),
        ]


    def level_claim(self, log: pd.DataFrame, x: float, refutes: bool) -> Claim:
        """The figure's level at weight decay ``x`` (about 29 circles, nothing dying, at
        0.002): the mean count at the nearest grid value, with its 95% t interval."""
        from ..analysis.stats import mean_interval

        level, tol = PAPER_SHAPE[x], tolerance(PAPER_SHAPE[x])
        paper = (f"About {level:g} circles (all of them: nothing dies) live at "
                 f"wd ≈ {x:g}.")
        criterion = (f"the mean count at the grid value nearest {x:g} (within a factor "
                     f"{NEAREST_FACTOR:g}) lies within {level:g} ± {tol:g}; refuted when its "
                     f"95% interval lies outside that band")
        values = np.array(sorted(set(log[self.field_name])), dtype=float)
        i = nearest(values, x)
        if i is None:
            return Claim(paper, f"not decided: the grid has no weight decay near {x:g} "
                                f"(nearest {values[np.argmin(np.abs(np.log(values / x)))]:.3g})"
                         if len(values) else "not decided: no runs", None, criterion)
        n = log.loc[np.isclose(log[self.field_name], values[i]), "n_circles"].to_numpy(float)
        m, lo, hi = mean_interval(n)
        inside = abs(m - level) <= tol
        outside = bool(np.isfinite(lo) and (hi < level - tol or lo > level + tol))
        holds = scale_verdict(True if inside else (False if outside else None), refutes)
        return Claim(paper, f"mean {m:.2f} circles (95% CI {lo:.2f}–{hi:.2f}, {n.size} runs) "
                            f"at wd = {values[i]:.3g}.", holds, criterion)


EXPERIMENTS: list[Experiment] = [CirclesVsP(), CirclesVsWeightDecay()]
