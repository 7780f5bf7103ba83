"""Experiment 3 of the paper: with the embedding frozen, the test loss and accuracy against d
after 500, 1,000, 5,000 and 10,000 steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..analysis.stats import spearman
from ..figures import landscape as figs
from ..store import Store
from ..sweep import SweepSpec
from .departures import grid_deviation
from .dimension import PAPER_DS
from .preset import Experiment, GridPreset, GridSizes, Sizes
from .result import Claim, ExperimentResult, scale_note
from .run_table import run_columns
from .texts import per_x_text, r_text
from .verdicts import SMOKE_MISS, trend_holds


@dataclass(frozen=True, kw_only=True)
class FrozenSizes(GridSizes):
    """Sizes of experiment 3: the grid of d and the steps at which the metrics are read
    (``checkpoints`` below the run length, and the last step: :attr:`read_steps`)."""

    ds: tuple[int, ...] = PAPER_DS
    checkpoints: tuple[int, ...] = (500, 1000, 5000, 10_000)

    @property
    def read_steps(self) -> list[int]:
        """The steps at which the metrics are read: the checkpoints below the run's length,
        and the last step."""
        return sorted({c for c in self.checkpoints if 0 < c < self.steps} | {self.steps})


#: the authors' design: every d from 16 to 128, 5 runs per d, 10,000 steps
PAPER = FrozenSizes(scale="paper", steps=10_000, runs=5)
SMOKE = FrozenSizes(scale="smoke", ds=(16, 32, 48, 64, 96, 128), runs=2, steps=3000,
                    refutes=False)


class FrozenEmbedding(GridPreset):
    """Experiment 3: with the embedding frozen at its random initial value, the test loss and
    accuracy against d after 500, 1000, 5000 and 10,000 steps.

    Paper scale: d ∈ {16, 32, ..., 128}, 5 runs per d (everything redrawn), 10,000 steps; the
    metrics at the chosen steps come from the metrics record.
    """

    name = "frozen-embedding"
    number = 3
    title = "Frozen embedding: test loss against d"
    per_point = "d"
    short_steps_note = "the test loss can still fall later"
    authors = PAPER

    def __init__(self, smoke: FrozenSizes = SMOKE, paper: FrozenSizes = PAPER) -> None:
        super().__init__(smoke=smoke, paper=paper)

    def specs_at(self, sizes: FrozenSizes) -> list[SweepSpec]:
        every = math.gcd(*sizes.read_steps)
        base = self.base(sizes, freeze_embedding=True, metrics_every=every,
                         signal_every=sizes.steps)
        return [self._spec(sizes, base=base, axes={"d": list(sizes.ds)},
                           seeds=self.seeds(sizes))]

    def deviations_at(self, sizes: FrozenSizes) -> list[str]:
        return (super().deviations_at(sizes) + grid_deviation("d", sizes.ds, PAPER.ds)
                + grid_deviation("metrics at steps", sizes.read_steps, PAPER.read_steps))

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        ids = self.select(store, self.specs_at(sizes)[0])
        runs = run_columns(store, ids, ["p", "d"])
        p = int(runs["p"].iloc[0])
        checkpoints = sizes.read_steps
        table = self.metrics_at(store, runs, checkpoints)
        last = table[table["step"] == checkpoints[-1]]
        r, p_r = spearman(last["d"], last["test_loss"])
        by_d = last.groupby("d")[["test_loss", "test_acc"]].mean()
        wide = by_d[by_d.index >= p]
        numbers = {
            "p": p, "checkpoints": checkpoints, "ds": [int(d) for d in by_d.index],
            "runs_per_d": [int(n) for n in last.groupby("d").size()],
            "mean_test_loss": {int(s): g.groupby("d")["test_loss"].mean().tolist()
                               for s, g in table.groupby("step")},
            "mean_test_acc": {int(s): g.groupby("d")["test_acc"].mean().tolist()
                              for s, g in table.groupby("step")},
            "spearman_r_final_loss_d": r, "spearman_p_final_loss_d": p_r,
            "max_mean_final_loss_d_ge_p": float(wide["test_loss"].max()) if len(wide) else None,
        }
        result = self._result(sizes, len(ids), numbers)
        small = bool(len(wide)) and bool((wide["test_loss"] < 0.1).all())
        result.claims = [
            Claim("With a frozen embedding the test loss falls as d grows.",
                  f"after {checkpoints[-1]:,} steps: Spearman r = {r_text(r, p_r)}; mean "
                  "test loss " + per_x_text("d", by_d.index, by_d["test_loss"], ".3g") + ".",
                  trend_holds(r, p_r, -1, sizes.refutes),
                  f"Spearman r of the final test loss against d < 0 with p < 0.05; "
                  f"{SMOKE_MISS}"),
            Claim("The test loss is small once d ≳ p.",
                  ("largest mean final test loss at d ≥ p: "
                   f"{wide['test_loss'].max():.3g} (d = {int(wide['test_loss'].idxmax())})"
                   if len(wide) else "no d ≥ p in the grid") + ".",
                  small if len(wide) else None,
                  f"mean final test loss < 0.1 at every d ≥ p = {p}"),
        ]
        result.figures = {"frozen_embedding": figs.frozen_embedding(
            table, p, note=scale_note(result))}
        return result

    @staticmethod
    def metrics_at(store: Store, runs: pd.DataFrame, steps: Sequence[int]) -> pd.DataFrame:
        """One row per (run, step): run_id, d, step, test_loss, test_acc (from the metrics
        record)."""
        parts = []
        for rid, row in runs.iterrows():
            m = store.metrics(rid)
            m = m[m["step"].isin(list(steps))][["step", "test_loss", "test_acc"]].copy()
            m.insert(0, "d", int(row["d"]))
            m.insert(0, "run_id", rid)
            parts.append(m)
        return pd.concat(parts, ignore_index=True)


EXPERIMENTS: list[Experiment] = [FrozenEmbedding()]
