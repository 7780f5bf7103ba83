"""Experiment 5 of the paper: over ten fixed embeddings, each frequency's initial signal against
its survival rate (Pearson r).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..figures import landscape as figs
from ..store import Store
from ..sweep import SweepSpec
from .design import SPARSE_RECORDING
from .preset import Experiment, GridPreset, GridSizes, Sizes
from .result import Claim, ExperimentResult, scale_note
from .texts import r_text
from .verdicts import SMOKE_MISS, trend_holds


@dataclass(frozen=True, kw_only=True)
class InitialSignalSizes(GridSizes):
    """Sizes of experiment 5: the number of fixed embeddings (seeds 0 .. n-1) and ``runs``
    per embedding."""

    embeddings: int = 10


#: the authors' design: 10 fixed embeddings x 50 runs, 30,000 steps
PAPER = InitialSignalSizes(scale="paper", runs=50)
SMOKE = InitialSignalSizes(scale="smoke", embeddings=4, runs=5, steps=2000, refutes=False)


class InitialSignal(GridPreset):
    """Experiment 5: over fixed embeddings, each frequency's initial signal against its
    survival rate.

    Paper scale: 10 fixed embeddings (embedding seeds 0 .. 9) x 50 runs each, the MLP and the
    split varied (run i: mlp_seed = split_seed = i), 30,000 steps: 10 x 29 = 290 points.
    """

    name = "initial-signal"
    number = 5
    title = "Initial signal against survival rate"
    per_point = "embedding"
    authors = PAPER

    def __init__(self, smoke: InitialSignalSizes = SMOKE,
                 paper: InitialSignalSizes = PAPER) -> None:
        super().__init__(smoke=smoke, paper=paper)

    def specs_at(self, sizes: InitialSignalSizes) -> list[SweepSpec]:
        runs = list(range(sizes.runs))
        return [self._spec(sizes, base=self.base(sizes, **SPARSE_RECORDING),
                           axes={"embedding_seed": list(range(sizes.embeddings))},
                           seeds={"mlp": runs, "split": runs})]

    def deviations_at(self, sizes: InitialSignalSizes) -> list[str]:
        out = super().deviations_at(sizes)
        if sizes.embeddings < PAPER.embeddings:
            out.insert(0, f"{sizes.embeddings} fixed embeddings instead of "
                          f"{PAPER.embeddings}")
        return out

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        from ..analysis.survival import analyze as survival_analysis

        ids = self.select(store, self.specs_at(sizes)[0])
        a = survival_analysis(store, ids, group_by=["embedding_seed"], rule=self.circle_rule)
        rates, corr = a.rates, a.correlation
        numbers = {
            "n_embeddings": int(rates["embedding_seed"].nunique()),
            "runs_per_embedding": int(rates["n_runs"].max()),
            "n_points": corr.n_points, "pearson_r": corr.r, "pearson_p": corr.p_value,
            "mean_survival_rate": float(rates["rate"].mean()),
            "mean_n_circles": float(a.circles["n_circles"].mean()),
        }
        result = self._result(sizes, len(ids), numbers)
        result.claims = [Claim(
            "Frequencies with a larger initial signal survive more often.",
            f"r = {r_text(corr.r, corr.p_value)} over {corr.n_points} (embedding, k) points, "
            f"{numbers['runs_per_embedding']} runs per embedding.",
            trend_holds(corr.r, corr.p_value, +1, sizes.refutes),
            f"Pearson r of initial signal against survival rate > 0 with p < 0.05; "
            f"{SMOKE_MISS}")]
        result.figures = {"signal_vs_survival": figs.signal_vs_survival(
            rates, r=corr.r, p_value=corr.p_value, note=scale_note(result))}
        return result


EXPERIMENTS: list[Experiment] = [InitialSignal()]
