"""Beyond the paper's setup: does survival of the fittest hold for other models, tasks and
optimisers? Three presets, each two arms of seeded runs compared the same way:

- ``transformer-survival`` (14): the one-layer transformer of Nanda et al. against the
  paper's MLP on (a + b) mod p;
- ``multiply-log`` (15): (a * b) mod p, its circles read in discrete-log coordinates
  (:func:`circle_survival.variants.fourier_rows`), against (a + b) mod p;
- ``adamw-sgd`` (16): SGD with momentum against AdamW, both decaying every parameter by the
  same factor per step: with momentum mu, SGD's decay per step is lr * weight_decay / (1 - mu),
  here 0.25 * 0.002 / 0.1 = 0.005 = AdamW's lr * weight_decay (0.01 * 0.5); lr 0.25 (at
  the smoke scale lr 0.1 with the same decay did not fit the training pairs in 3,000 steps).

Each run's circles are counted by the authors' 2x-mean rule over the task's Fourier rows
(p, or p - 1 for multiplication) from its final signals. The claims, per arm: the runs fit
their training pairs (median final train accuracy >= 0.99), and "a few circles survive":
the median number of circles is at least 1 and at most a quarter of the (n - 1) / 2
frequencies, where n is the number of Fourier rows. Beside them the arms' numbers of circles
are compared (Mann-Whitney U, two-sided), and the survivors of run i of either arm (the same
seeds) by their Jaccard overlap; those are numbers, not claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import fourier
from ..figures.many_runs import n_circles_histogram, survival_rate_bars
from ..store import Store
from ..sweep import SweepSpec
from ..variants import fourier_size
from .preset import Experiment, GridPreset, GridSizes
from .result import Claim, ExperimentResult, scale_note
from .verdicts import scale_verdict

#: fields of the transformer arm: Nanda et al.'s model and optimiser (their p and 30% split
#: are not taken: both arms train on the paper's p and 80% split)
TRANSFORMER = {"model": "transformer", "n_heads": 4, "d_mlp": 512, "lr": 1e-3,
               "weight_decay": 1.0, "betas": (0.9, 0.98)}
#: the smoke scale's shapes (minutes on a 2-core CPU)
SMALL = {"p": 23, "d": 32, "hidden": (64, 64)}


@dataclass(frozen=True, kw_only=True)
class ArmSizes(GridSizes):
    """Sizes of a two-arm preset: ``runs`` per arm, each arm's config fields (``arms``:
    name -> fields), on top of ``base``."""

    arms: dict[str, dict[str, Any]] = field(default_factory=dict)


def arm_sizes(scale: str, arms: dict[str, dict[str, Any]], **kw: Any) -> ArmSizes:
    if scale == "smoke":
        return ArmSizes(scale="smoke", runs=6, steps=3000, base=dict(SMALL), arms=arms,
                        refutes=False, **kw)
    return ArmSizes(scale="paper", runs=50, arms=arms, **kw)


class ArmsPreset(GridPreset):
    """Two arms of ``runs`` seeded runs each (run i: every seed i), compared."""

    per_point = "arm"
    #: each arm's config fields (name -> fields), at the larger scale
    arms: dict[str, dict[str, Any]] = {}

    def __init__(self, smoke: ArmSizes | None = None, paper: ArmSizes | None = None) -> None:
        self.authors = arm_sizes("paper", self.arms)
        super().__init__(smoke=smoke or arm_sizes("smoke", self._smoke_arms(self.arms)),
                         paper=paper or self.authors)

    def _smoke_arms(self, arms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The arms at smoke scale (the transformer narrower there)."""
        return {k: ({**v, "d_mlp": 128} if v.get("model") == "transformer" else v)
                for k, v in arms.items()}

    def specs_at(self, sizes: ArmSizes) -> list[SweepSpec]:
        recording = {"signal_every": 10, "metrics_every": 10}
        return [self._spec(sizes, suffix=arm, base=self.base(sizes, **recording, **fields),
                           seeds=self.seeds(sizes))
                for arm, fields in sizes.arms.items()]

    def deviations_at(self, sizes: ArmSizes) -> list[str]:
        arms = "; ".join(f"{arm}: " + (", ".join(f"{k} = {v}" for k, v in f.items()) or
                                       "the base setup") for arm, f in sizes.arms.items())
        return super().deviations_at(sizes) + [f"arms {arms}"]

    # -- analysis -------------------------------------------------------------------------
    def circles_table(self, store: Store, sizes: ArmSizes) -> pd.DataFrame:
        """One row per run: arm, run_id, n (Fourier rows), circles, n_circles, final train
        and test accuracy."""
        rows = []
        for arm, spec in zip(sizes.arms, self.specs_at(sizes), strict=True):
            for rid in self.select(store, spec):
                cfg = store.config(rid)
                n = fourier_size(cfg.task, cfg.p)
                _, sig = store.signals(rid)
                circ = [int(c) for c in fourier.circles(np.asarray(sig[-1]), n)]
                m = store.metrics(rid).iloc[-1]
                rows.append({"arm": arm, "run_id": rid, "n": n, "circles": circ,
                             "n_circles": len(circ), "train_acc": float(m["train_acc"]),
                             "test_acc": float(m["test_acc"])})
        return pd.DataFrame(rows)

    @staticmethod
    def rates(table: pd.DataFrame) -> pd.DataFrame:
        """Survival rate per (arm, k), k = 1 .. (n - 1) // 2: columns arm, k, n_runs, rate."""
        out = []
        for arm, g in table.groupby("arm", sort=False):
            n = int(g["n"].iloc[0])
            for k in range(1, (n - 1) // 2 + 1):
                out.append({"arm": arm, "k": k, "n_runs": len(g),
                            "rate": float(np.mean([k in c for c in g["circles"]]))})
        return pd.DataFrame(out)

    def analyze_at(self, store: Store, sizes: ArmSizes) -> ExperimentResult:
        from scipy.stats import mannwhitneyu

        table = self.circles_table(store, sizes)
        arms = list(sizes.arms)
        per_arm = {}
        for arm in arms:
            g = table[table["arm"] == arm]
            n = int(g["n"].iloc[0])
            per_arm[arm] = {"n_runs": len(g), "fourier_rows": n,
                            "frequencies": (n - 1) // 2,
                            "median_n_circles": float(g["n_circles"].median()),
                            "mean_n_circles": float(g["n_circles"].mean()),
                            "n_circles": [int(x) for x in g["n_circles"]],
                            "median_train_acc": float(g["train_acc"].median()),
                            "median_test_acc": float(g["test_acc"].median())}
        a, b = (table[table["arm"] == arm]["n_circles"] for arm in arms)
        same = bool(np.all(a.to_numpy() == a.iloc[0]) and np.all(b.to_numpy() == a.iloc[0]))
        u_p = 1.0 if same else float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        sets = [table[table["arm"] == arm]["circles"].map(set).tolist() for arm in arms]
        jaccard = [len(x & y) / len(x | y) for x, y in zip(*sets, strict=True) if x | y]
        numbers = {"arms": per_arm, "mann_whitney_p": u_p, "circle_rule": "authors' 2x-mean",
                   # run i of both arms starts from the same seeds: how alike their survivors
                   "same_seed_jaccard_mean": float(np.mean(jaccard)) if jaccard else None}
        result = self._result(sizes, len(table), numbers)
        result.claims = [claim for arm in arms for claim in self.arm_claims(arm, per_arm[arm],
                                                                             sizes)]
        note = scale_note(result)
        result.figures = {"survival_rate": survival_rate_bars(
            self.rates(table), ["arm"], title="Survival rate per frequency, by arm", note=note)}
        for arm in arms:
            result.figures[f"n_circles_{arm}"] = n_circles_histogram(
                table[table["arm"] == arm]["n_circles"], note=f"{arm}; {note}")
        return result

    def arm_claims(self, arm: str, s: dict[str, Any], sizes: ArmSizes) -> list[Claim]:
        few = max(1, s["frequencies"] // 4)
        fits = s["median_train_acc"] >= 0.99
        survive = 1 <= s["median_n_circles"] <= few
        return [
            Claim(f"{arm}: the runs fit their training pairs.",
                  f"median final train accuracy {s['median_train_acc']:.3f}, test "
                  f"{s['median_test_acc']:.3f} over {s['n_runs']} runs.",
                  scale_verdict(fits, sizes.refutes), "median final train accuracy >= 0.99"),
            Claim(f"{arm}: under weight decay a few circles survive (survival of the fittest).",
                  f"median {s['median_n_circles']:g} circles (mean "
                  f"{s['mean_n_circles']:.2f}) of {s['frequencies']} frequencies.",
                  scale_verdict(survive, sizes.refutes),
                  f"1 <= median number of circles <= {few} (a quarter of the frequencies)"),
        ]


class TransformerSurvival(ArmsPreset):
    name, number = "transformer-survival", 14
    title = "Beyond the paper: survival in the transformer and in the MLP"

    arms = {"mlp": {}, "transformer": dict(TRANSFORMER)}


class MultiplyLog(ArmsPreset):
    name, number = "multiply-log", 15
    title = "Beyond the paper: multiplication in discrete-log coordinates and addition"

    arms = {"add": {}, "multiply": {"task": "multiply"}}


class AdamWSGD(ArmsPreset):
    name, number = "adamw-sgd", 16
    title = "Beyond the paper: AdamW and SGD with momentum"

    arms = {"adamw": {}, "sgd": {"optimizer": "sgd", "lr": 0.25, "weight_decay": 0.002,
                                 "momentum": 0.9}}


EXPERIMENTS: list[Experiment] = [TransformerSurvival(), MultiplyLog(), AdamWSGD()]
