"""Experiment 7 of the paper: embeddings built in Fourier space with two circles of signals 80
and 80·r (the authors' real coefficients), every other frequency 1e-6; which survives?
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.stats import mcnemar, spearman, wilson_interval
from ..config import RunConfig
from ..errors import ConfigError
from ..figures import interventions as ifigs
from ..store import Store
from ..sweep import SweepSpec
from .design import SPARSE_RECORDING
from .preset import Experiment, InterventionPreset, Sizes
from .result import Claim, ExperimentResult, scale_note
from .run_table import resolved_all, run_circles
from .texts import fmt_values, r_text
from .verdicts import ALPHA, scale_verdict

PAPER_RATIOS = tuple(float(r) for r in np.exp(np.linspace(-4.0, 0.0, 16)))
PAPER_RUNS_PER_RATIO = 100
PAPER_SIGNAL = 80.0
#: experiment 7's random draws come from this tool's generators, not the authors'
DRAW_NOTE = ("each run's pair of frequencies and directions drawn with numpy.random."
             "default_rng(run index), not the authors' random stream (same design, other draws)")


@dataclass(frozen=True, kw_only=True)
class TwoCirclesSizes(Sizes):
    """Sizes of experiment 7: the grid of ratios r, the ``runs`` per r and the larger
    circle's signal (None: the paper's 80 scaled by sqrt(p d) to the run's shape:
    :attr:`larger_signal`)."""

    ratios: tuple[float, ...] = PAPER_RATIOS
    runs: int = PAPER_RUNS_PER_RATIO
    signal: float | None = PAPER_SIGNAL

    @property
    def larger_signal(self) -> float:
        """The larger circle's signal s: ``signal``, or the paper's 80 scaled by sqrt(p d)
        to the shape of ``base`` (80 is about the typical signal sqrt(p d) = 86.9 of an
        N(0, 1) embedding at p = 59, d = 128)."""
        if self.signal is not None:
            return float(self.signal)
        cfg = RunConfig(**{k: v for k, v in self.base.items() if k in ("p", "d")})
        return PAPER_SIGNAL * math.sqrt(cfg.p * cfg.d / (59 * 128))


#: the authors' design: s = 80, 16 ratios, 100 runs per ratio, 30,000 steps
PAPER = TwoCirclesSizes(scale="paper")
SMOKE = TwoCirclesSizes(scale="smoke", ratios=PAPER_RATIOS[1::2], runs=12, steps=2000,
                        signal=None, base={"p": 23, "d": 32}, refutes=False)


class TwoCircles(InterventionPreset):
    """Experiment 7: embeddings built in Fourier space with two circles of signals s and r·s
    (every other frequency 1e-6, each circle along a random unit direction); which survives?

    Paper scale: s = 80, r ∈ exp(linspace(−4, 0, 16)), 100 runs per r, the MLP and the split
    fixed (seed 0), 30,000 steps: 1,600 runs. Run i at every r draws its pair of frequencies
    and its directions from seed i ("pair_seed" = "direction_seed" = i), so the r groups share
    their 100 random draws (a paired design).

    Smoke scale (default): p = 23, d = 32, s = 80·sqrt(23·32 / (59·128)) ≈ 25 (the same size
    relative to an N(0, 1) embedding's signals), every other r of the paper's grid (8 values),
    12 runs per r, 2,000 steps: 96 runs.
    """

    name = "two-circles"
    number = 7
    title = "Initial signal, constructed: two circles of different signal"

    def __init__(self, smoke: TwoCirclesSizes = SMOKE, paper: TwoCirclesSizes = PAPER,
                 seed: int = 0, real: bool = True) -> None:
        super().__init__(smoke=smoke, paper=paper)
        self.seed = int(seed)
        self.real = bool(real)

    def interventions(self, sizes: TwoCirclesSizes) -> list[dict[str, Any]]:
        """One construct intervention per run: ratio outer, run index inner."""
        s = sizes.larger_signal
        extra = {"real": True} if self.real else {}
        return [{"kind": "construct", "ratio": r, "signal": s, "pair_seed": i,
                 "direction_seed": i, **extra}
                for r in sizes.ratios for i in range(sizes.runs)]

    def specs_at(self, sizes: TwoCirclesSizes) -> list[SweepSpec]:
        seed = [self.seed]
        return [SweepSpec(name=self.spec_name(sizes), base=self.base(sizes, **SPARSE_RECORDING),
                          axes={"intervention": self.interventions(sizes)},
                          seeds={"embedding": seed, "mlp": seed, "split": seed})]

    def deviations_at(self, sizes: TwoCirclesSizes) -> list[str]:
        out = [DRAW_NOTE] + super().deviations_at(sizes)
        if not self.real:
            out.append("complex Fourier coefficients (round circles) instead of the authors' "
                       "real ones (cosine lines)")
        if tuple(sizes.ratios) != PAPER.ratios:
            out.append(f"r ∈ {fmt_values(sizes.ratios)} instead of {len(PAPER.ratios)} "
                       "values in exp([−4, 0])")
        if sizes.runs != PAPER.runs:
            out.append(f"{sizes.runs} runs per r instead of {PAPER.runs}")
        if sizes.larger_signal != PAPER.larger_signal:
            why = " (scaled by sqrt(p d) to the smaller shape)" if sizes.signal is None else ""
            out.append(f"larger signal s = {sizes.larger_signal:.3g} instead of "
                       f"{PAPER.larger_signal:g}{why}")
        return out

    def run_table(self, store: Store, sizes: TwoCirclesSizes) -> pd.DataFrame:
        """One row per run: run_id, ratio, larger, smaller (the pair's frequencies),
        larger_survived, smaller_survived."""
        ids = self.select(store, self.specs_at(sizes)[0])
        rows = []
        circles = run_circles(store, ids, self.circle_rule)
        for rid, circ, res in zip(ids, circles, resolved_all(store, ids), strict=True):
            if "pair" not in res:
                raise ConfigError(f"{self.name}: run {rid} has no resolved pair of circles")
            big, small = (int(k) for k in res["pair"])
            rows.append({"run_id": rid, "ratio": float(res["ratio"]), "larger": big,
                         "smaller": small, "larger_survived": big in circ,
                         "smaller_survived": small in circ})
        return pd.DataFrame(rows)

    def analyze_at(self, store: Store, sizes: TwoCirclesSizes) -> ExperimentResult:
        runs = self.run_table(store, sizes)
        rates = ratio_rates(runs)
        ratios = np.sort(rates["ratio"].to_numpy())
        low = runs[runs["ratio"] <= np.median(ratios)]
        lo_big, lo_small = _discordant(low)
        p_low = mcnemar(lo_big, lo_small)
        rho_small, p_small = spearman(runs["ratio"], runs["smaller_survived"].astype(float))
        top = rates.iloc[-1]
        p_top = mcnemar(int(top["n_larger_only"]), int(top["n_smaller_only"]))
        numbers = {
            "signal": sizes.larger_signal, "runs_per_ratio": int(rates["n_runs"].max()),
            "n_ratios": len(rates),
            "small_r": {"max_ratio": float(low["ratio"].max()), "n_runs": len(low),
                        "rate_larger": float(low["larger_survived"].mean()),
                        "rate_smaller": float(low["smaller_survived"].mean()),
                        "larger_only": lo_big, "smaller_only": lo_small, "mcnemar_p": p_low},
            "largest_r": {"ratio": float(top["ratio"]), "n_runs": int(top["n_runs"]),
                          "rate_larger": float(top["rate_larger"]),
                          "rate_smaller": float(top["rate_smaller"]), "mcnemar_p": p_top},
            "smaller_trend": {
                "n_runs": len(runs),
                "spearman_r": rho_small, "spearman_p": p_small,
                "rate_lowest_r": float(rates["rate_smaller"].iloc[0]),
                "rate_largest_r": float(rates["rate_smaller"].iloc[-1])},
            "real_coefficients": self.real,
            "rates": rates.to_dict(orient="list"),
        }
        result = self._result(sizes, len(runs), numbers)
        result.claims = self._claims(numbers, sizes)
        result.figures = {"two_circles_survival": ifigs.two_circles_survival(
            rates, note=scale_note(result))}
        return result

    def _claims(self, numbers: Mapping[str, Any], sizes: Sizes) -> list[Claim]:
        lo, trend = numbers["small_r"], numbers["smaller_trend"]
        first = None
        if math.isfinite(lo["mcnemar_p"]):
            first = scale_verdict(bool(lo["larger_only"] > lo["smaller_only"]
                                       and lo["mcnemar_p"] < ALPHA), sizes.refutes)
        r, p_r = trend["spearman_r"], trend["spearman_p"]
        second = None
        if math.isfinite(r):
            second = scale_verdict(bool(r > 0 and p_r < ALPHA), sizes.refutes,
                                   against=bool(r < 0 and p_r < ALPHA))
        return [
            Claim("When the smaller circle is much weaker (small r), the larger circle survives "
                  "more often.",
                  f"r <= {lo['max_ratio']:.3g} ({lo['n_runs']} runs): larger survives in "
                  f"{lo['rate_larger']:.0%}, smaller in {lo['rate_smaller']:.0%}; only larger "
                  f"{lo['larger_only']} vs only smaller {lo['smaller_only']} runs, McNemar "
                  f"p = {lo['mcnemar_p']:.2g}.", first,
                  "over the runs with r at or below the median r, runs in which only the "
                  "larger survives outnumber those in which only the smaller does, exact "
                  "McNemar p < 0.05; at smoke scale a miss is undecided"),
            Claim("The smaller circle survives more often the closer its signal is to the "
                  "larger's (its survival rate rises with r).",
                  f"smaller circle's survival rate from {trend['rate_lowest_r']:.0%} at the "
                  f"smallest r to {trend['rate_largest_r']:.0%} at the largest; Spearman r of "
                  f"survival against r over {trend['n_runs']} runs = {r_text(r, p_r)}.",
                  second,
                  "Spearman r of the smaller circle's survival (0/1 per run) against r > 0 "
                  "with p < 0.05; at smoke scale a miss is undecided unless significant the "
                  "other way"),
        ]


def _discordant(runs: pd.DataFrame) -> tuple[int, int]:
    """(runs in which only the larger circle survives, runs in which only the smaller does)."""
    big, small = runs["larger_survived"], runs["smaller_survived"]
    return int((big & ~small).sum()), int((small & ~big).sum())


def ratio_rates(runs: pd.DataFrame) -> pd.DataFrame:
    """Per ratio r: n_runs, n_larger, n_smaller, n_both, n_larger_only, n_smaller_only,
    rate_larger, rate_smaller and their Wilson 95% intervals."""
    rows = []
    for r, g in runs.groupby("ratio", sort=True):
        big_only, small_only = _discordant(g)
        rows.append({"ratio": float(r), "n_runs": len(g),
                     "n_larger": int(g["larger_survived"].sum()),
                     "n_smaller": int(g["smaller_survived"].sum()),
                     "n_both": int((g["larger_survived"] & g["smaller_survived"]).sum()),
                     "n_larger_only": big_only, "n_smaller_only": small_only})
    out = pd.DataFrame(rows)
    for which in ("larger", "smaller"):
        out[f"rate_{which}"] = out[f"n_{which}"] / out["n_runs"]
        lo, hi = wilson_interval(out[f"n_{which}"], out["n_runs"])
        out[f"ci_low_{which}"], out[f"ci_high_{which}"] = lo, hi
    return out


EXPERIMENTS: list[Experiment] = [TwoCircles()]
