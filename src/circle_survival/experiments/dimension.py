"""Experiment 2 of the paper: the embedding dimension d as a resource (circles and initial
circularity against every d from 16 to 128; survivors against the dead at d = 128).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import fourier
from ..analysis.stats import spearman
from ..figures import landscape as figs
from ..store import Store
from ..sweep import SweepSpec
from .departures import grid_deviation
from .design import SPARSE_RECORDING
from .preset import Experiment, GridPreset, GridSizes, Sizes
from .result import Claim, ExperimentResult, scale_note
from .run_table import run_columns
from .texts import per_x_text, r_text
from .verdicts import ALPHA, SMOKE_MISS, trend_holds

PAPER_DS = tuple(range(16, 129))
HISTOGRAM_BINS = 50


@dataclass(frozen=True, kw_only=True)
class DimensionSizes(GridSizes):
    """Sizes of experiment 2: the grid of d (and ``runs`` per d)."""

    ds: tuple[int, ...] = PAPER_DS


#: the authors' design: every d from 16 to 128, 50 runs per d, 30,000 steps
PAPER = DimensionSizes(scale="paper", runs=50)
SMOKE = DimensionSizes(scale="smoke", ds=(16, 48, 80, 128), runs=5, steps=2000,
                       refutes=False)


class Dimension(GridPreset):
    """Experiment 2: the embedding dimension as a resource.

    Paper scale: d ∈ {16, 32, ..., 128}, 50 runs per d with everything redrawn (run i uses
    seed i for the embedding, the MLP and the split), 30,000 steps.
    """

    name = "dimension"
    number = 2
    title = "Embedding dimension as a resource"
    per_point = "d"
    authors = PAPER

    def __init__(self, smoke: DimensionSizes = SMOKE, paper: DimensionSizes = PAPER) -> None:
        super().__init__(smoke=smoke, paper=paper)

    def specs_at(self, sizes: DimensionSizes) -> list[SweepSpec]:
        return [self._spec(sizes, base=self.base(sizes, **SPARSE_RECORDING),
                           axes={"d": list(sizes.ds)}, seeds=self.seeds(sizes))]

    def deviations_at(self, sizes: DimensionSizes) -> list[str]:
        return super().deviations_at(sizes) + grid_deviation("d", sizes.ds, PAPER.ds)

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        from scipy import stats

        ids = self.select(store, self.specs_at(sizes)[0])
        runs = run_columns(store, ids, ["p", "d", "n_circles", "circles"], self.circle_rule)
        p = int(runs["p"].iloc[0])
        circ, freq = self.circularities(store, runs)
        runs = runs.join(circ)
        r_n, p_n = spearman(runs["d"], runs["n_circles"])
        r_c, p_c = spearman(runs["d"], runs["mean_circularity"])
        d_max = int(runs["d"].max())
        top = freq[freq["d"] == d_max]
        alive = top.loc[top["survived"], "circularity"].to_numpy(float)
        dead = top.loc[~top["survived"], "circularity"].to_numpy(float)
        if alive.size >= 2 and dead.size >= 2:
            tt = stats.ttest_ind(alive, dead)
            t, p_t = float(tt.statistic), float(tt.pvalue)
        else:
            t, p_t = float("nan"), float("nan")
        per_d = figs.summarize(runs, "d", "n_circles")
        circ_d = runs.groupby("d")[["mean_circularity", "max_circularity"]].mean()
        numbers = {
            "p": p, "ds": [int(d) for d in per_d["d"]],
            "runs_per_d": [int(n) for n in per_d["n"]],
            "mean_n_circles": per_d["mean"].tolist(),
            "ci95_n_circles": per_d[["low", "high"]].to_numpy().tolist(),
            "spearman_r_circles_d": r_n, "spearman_p_circles_d": p_n,
            "mean_initial_circularity": circ_d["mean_circularity"].tolist(),
            "max_initial_circularity": circ_d["max_circularity"].tolist(),
            "spearman_r_circularity_d": r_c, "spearman_p_circularity_d": p_c,
            "ttest_d": d_max,
            "mean_circularity_survivors": float(alive.mean()) if alive.size else None,
            "mean_circularity_dead": float(dead.mean()) if dead.size else None,
            "n_survivors": int(alive.size), "n_dead": int(dead.size),
            "ttest_t": t, "ttest_p": p_t,
        }
        result = self._result(sizes, len(ids), numbers)
        higher = bool(alive.size and dead.size and alive.mean() > dead.mean())
        means = (f"mean {alive.mean():.4f} against {dead.mean():.4f}" if alive.size and dead.size
                 else "too few survivors or dead frequencies to compare")
        result.claims = [
            Claim("More circles survive with a larger embedding dimension d.",
                  "mean circles per d: " + per_x_text("d", per_d["d"], per_d["mean"])
                  + f"; Spearman r = {r_text(r_n, p_n)}.",
                  trend_holds(r_n, p_n, +1, sizes.refutes),
                  f"Spearman r of circles against d > 0 with p < 0.05 over the runs; "
                  f"{SMOKE_MISS}"),
            Claim("Initial circularity grows with d (about d / (d + p) for a random "
                  "embedding).",
                  f"Spearman r = {r_text(r_c, p_c)}.", trend_holds(r_c, p_c, +1, sizes.refutes),
                  "Spearman r of a run's mean circularity against d > 0 with p < 0.05; "
                  f"{SMOKE_MISS}"),
            Claim(f"Frequencies that survive had a higher initial circularity (at d = "
                  f"{d_max}).",
                  f"{means} ({alive.size} survivors, {dead.size} dead); t = {t:.3g}, "
                  f"p = {p_t:.2g}.",
                  (higher and p_t < ALPHA) if math.isfinite(p_t) else None,
                  "higher mean and Student's two-sample t-test p < 0.05"),
        ]
        note = scale_note(result)
        result.figures = {
            "circles_vs_d": figs.circles_vs(
                {"everything redrawn": runs}, "d", xlabel="embedding dimension d",
                title="Number of surviving circles against embedding dimension", note=note,
                marks={f"d = p = {p}": p}),
            "circularity_vs_d": figs.circularity_vs_d(runs, p, note=note),
            "circularity_histogram": figs.circularity_histogram(
                alive, dead, t=t, p_value=p_t, d=d_max, bins=HISTOGRAM_BINS, note=note),
        }
        return result

    @staticmethod
    def circularities(store: Store, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Initial circularity of every run: (per run: mean_circularity, max_circularity over
        k = 1 .. (p-1)//2; per (run, k): d, k, circularity, survived)."""
        per_run, rows = [], []
        for _, g in runs.groupby("d", sort=True):
            p = int(g["p"].iloc[0])
            ks = np.arange(1, fourier.n_freq(p) + 1)
            c = fourier.circularity(store.stack("embedding_init", g.index))[:, ks]
            per_run.append(pd.DataFrame({"mean_circularity": np.nanmean(c, axis=1),
                                         "max_circularity": np.nanmax(c, axis=1)},
                                        index=g.index))
            for (rid, row), ci in zip(g.iterrows(), c, strict=True):
                alive = {int(k) for k in row["circles"]}
                rows.append(pd.DataFrame({"run_id": rid, "d": int(row["d"]), "k": ks,
                                          "circularity": ci,
                                          "survived": [int(k) in alive for k in ks]}))
        return pd.concat(per_run), pd.concat(rows, ignore_index=True)


EXPERIMENTS: list[Experiment] = [Dimension()]
