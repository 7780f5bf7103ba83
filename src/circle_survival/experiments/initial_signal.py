"""Experiment 5 of the paper: over ten fixed embeddings, each frequency's initial signal against
its survival rate (Pearson r).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..figures import landscape as figs
from ..store import Store
from ..sweep import SweepSpec
from .base import (
    SPARSE_RECORDING,
    Claim,
    Experiment,
    ExperimentResult,
    r_text,
    scale_note,
)
from .shared import (
    SMOKE_MISS,
    GridPreset,
    trend_holds,
)


class InitialSignal(GridPreset):
    """Experiment 5: over fixed embeddings, each frequency's initial signal against its
    survival rate.

    Paper scale: 10 fixed embeddings (embedding seeds 0 .. 9) x 50 runs each, the MLP and the
    split varied (run i: mlp_seed = split_seed = i), 30,000 steps: 10 x 29 = 290 points.
    """

    name = "initial-signal"
    number = 5
    title = "Initial signal against survival rate"
    paper_runs = 50
    paper_embeddings = 10
    per_point = "embedding"

    def __init__(self, smoke_embeddings: int = 4, smoke_runs: int = 5, smoke_steps: int = 2000,
                 smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_runs=smoke_runs, smoke_base=smoke_base)
        self.smoke_embeddings = int(smoke_embeddings)

    def embeddings(self, scale: str) -> int:
        return self.smoke_embeddings if scale == "smoke" else self.paper_embeddings

    def specs(self, scale: str) -> list[SweepSpec]:
        runs = list(range(self.runs(scale)))
        return [self._spec(scale, base=self.base(scale, **SPARSE_RECORDING),
                           axes={"embedding_seed": list(range(self.embeddings(scale)))},
                           seeds={"mlp": runs, "split": runs})]

    def deviations(self, scale: str) -> list[str]:
        out = super().deviations(scale)
        if scale == "smoke" and self.smoke_embeddings < self.paper_embeddings:
            out.insert(0, f"{self.smoke_embeddings} fixed embeddings instead of "
                          f"{self.paper_embeddings}")
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from ..analysis.survival import analyze as survival_analysis

        self.check_scale(scale)
        ids = self.select(store, self.specs(scale)[0])
        a = survival_analysis(store, ids, group_by=["embedding_seed"])
        rates, corr = a.rates, a.correlation
        numbers = {
            "n_embeddings": int(rates["embedding_seed"].nunique()),
            "runs_per_embedding": int(rates["n_runs"].max()),
            "n_points": corr.n_points, "pearson_r": corr.r, "pearson_p": corr.p_value,
            "mean_survival_rate": float(rates["rate"].mean()),
            "mean_n_circles": float(a.circles["n_circles"].mean()),
        }
        result = self._result(scale, len(ids), numbers)
        result.claims = [Claim(
            "Frequencies with a larger initial signal survive more often.",
            f"r = {r_text(corr.r, corr.p_value)} over {corr.n_points} (embedding, k) points, "
            f"{numbers['runs_per_embedding']} runs per embedding.",
            trend_holds(corr.r, corr.p_value, +1, scale),
            f"Pearson r of initial signal against survival rate > 0 with p < 0.05; "
            f"{SMOKE_MISS}")]
        result.figures = {"signal_vs_survival": figs.signal_vs_survival(
            rates, r=corr.r, p_value=corr.p_value, note=scale_note(result))}
        return result


EXPERIMENTS: list[Experiment] = [InitialSignal()]
