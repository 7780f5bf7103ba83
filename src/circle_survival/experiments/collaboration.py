"""Experiment 10 of the paper: circle collaboration. At every stored step of the seed-10 run,
the loss with the embedding restricted to one circle, to {c1, k} and to {c1, c3, k}.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .. import fourier
from ..config import RunConfig
from ..errors import ConfigError
from ..figures.base import shared_legend, titled
from ..store import Store
from ..sweep import SweepSpec
from .departures import PAPER_STEPS, single_steps_deviation
from .design import seed10_recording, seed10_spec
from .preset import Experiment, Sizes
from .result import Claim, ExperimentResult, scale_note
from .run_table import last_signal
from .texts import override_text
from .verdicts import ALPHA

#: the authors' seed-10 run, 30,000 steps; the smoke scale trains the same (a few CPU-minutes)
PAPER = Sizes(scale="paper")
SMOKE = Sizes(scale="smoke", refutes=False)


class Collaboration(Experiment):
    """Experiment 10: losses of the embedding restricted to a few circles, over training.

    The authors' seed-10 run (fresh embedding seed 10, MLP and split seed 0), 30,000 steps at
    both scales, parameter snapshots every 100 steps: the same run as experiment 1 (one
    config, trained once). At each snapshot the embedding is restricted (constant term kept)
    to one circle k, to {c1, k} and to {c1, c3, k}, c1 and c3 the run's strongest and
    third-strongest final circles, and that snapshot's MLP is run on all p^2 pairs.

    Args:
        smoke, paper: the sizes at each scale (steps, the paper's 30,000 at both; config
            fields changed, listed as deviations).
        embedding_seed: the fresh embedding's seed (the authors' 10).
        pair_rank: rank of the second base circle (3: the authors' third-strongest).
        device: device of the analysis' forward passes ("cpu" or "cuda").
    """

    name = "collaboration"
    number = 10
    title = "Circle collaboration"

    def __init__(self, *, smoke: Sizes = SMOKE, paper: Sizes = PAPER, embedding_seed: int = 10,
                 pair_rank: int = 3, device: str = "cpu"):
        super().__init__(smoke=smoke, paper=paper)
        self.embedding_seed, self.pair_rank, self.device = embedding_seed, pair_rank, device

    def specs_at(self, sizes: Sizes) -> list[SweepSpec]:
        base = {**sizes.base, "steps": sizes.steps, **seed10_recording(sizes.steps)}
        return [seed10_spec(self.name, sizes.scale, base, self.embedding_seed)]

    def deviations_at(self, sizes: Sizes) -> list[str]:
        out = []
        if sizes.steps != PAPER_STEPS:
            out.append(single_steps_deviation(sizes.steps, "survivors and strongest circles"))
        if self.pair_rank != 3:
            out.append(f"second base circle of rank {self.pair_rank} instead of the "
                       "third-strongest")
        if sizes.base:
            out.append(f"model changed: {override_text(sizes.base)}")
        return out

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        from ..analysis.collaboration import collaboration_losses, full_loss, restricted_losses

        (rid,) = self.select(store, self.specs_at(sizes)[0])
        cfg = store.config(rid)
        if fourier.n_freq(cfg.p) < 3:
            raise ConfigError(f"{self.name}: the collaboration analysis needs at least 3 "
                              f"circles, p = {cfg.p} has {fourier.n_freq(cfg.p)}")
        steps = store.snapshot_steps(rid)
        if not steps:
            raise ConfigError(f"{self.name}: run {rid} has no parameter snapshots")
        snaps = {s: store.snapshot(rid, s) for s in steps}
        res = collaboration_losses(snaps, cfg.activation, final_signal=last_signal(store, rid),
                                   device=self.device, pair_rank=self.pair_rank)
        full = full_loss(snaps, cfg.activation, device=self.device)
        kept = res.survivors or res.strongest[:1]
        together = restricted_losses(snaps, [kept], cfg.activation, device=self.device)
        together_df = pd.DataFrame({"step": together.steps, "loss": together.loss[:, 0]})
        numbers = self._numbers(res, full, together_df, cfg, rid)
        result = ExperimentResult(self.name, self.number, self.title, sizes.scale, 1, numbers,
                                  {}, self._claims(numbers), self.deviations_at(sizes))
        result.figures = {"collaboration": self._figure(res, full, together_df, result)}
        return result

    @staticmethod
    def survivor_advantage(losses: pd.DataFrame, mode: str) -> dict[str, Any]:
        """For one base family: at every stored step, the median loss with a survivor added
        minus that with a dead frequency added, and the one-sided sign test that it is
        negative more often than not (survivors lower the loss more)."""
        from ..analysis.stats import sign_test

        g = losses[losses["mode"] == mode]
        med = g.groupby(["step", "survived"])["loss"].median().unstack("survived")
        if True not in med.columns or False not in med.columns:
            return {"n_steps": 0, "n_lower": 0, "sign_p": float("nan"),
                    "median_difference_last": float("nan")}
        diff = (med[True] - med[False]).to_numpy(float)
        lower, n, p_value = sign_test(diff)
        return {"n_steps": n, "n_lower": lower, "sign_p": p_value,
                "median_difference_last": float(diff[-1])}

    def _numbers(self, res, full: pd.DataFrame, together: pd.DataFrame, cfg: RunConfig,
                 rid: str) -> dict[str, Any]:
        last = res.losses[res.losses["step"] == res.losses["step"].max()]
        single = last[last["mode"] == "single"].set_index("k")["loss"]
        by_mode = {m: {str(int(k)): float(v) for k, v in g.set_index("k")["loss"].items()}
                   for m, g in last.groupby("mode", sort=False)}
        return {
            "run_id": rid, "p": cfg.p, "d": cfg.d, "steps": cfg.steps,
            "embedding_seed": cfg.embedding_seed, "init_scheme": cfg.init_scheme,
            "snapshots": len(res.steps), "last_snapshot": int(res.steps[-1]),
            "survivors": res.survivors, "base_circles": res.strongest,
            "best_single_k": int(single.idxmin()),
            "best_single_loss": float(single.min()),
            "survivors_together_loss": float(together["loss"].iloc[-1]),
            "full_model_loss": float(full["loss"].iloc[-1]),
            "survivor_advantage": {m: self.survivor_advantage(res.losses, m)
                                   for m in ("strongest+k", "pair+k")},
            "last_snapshot_losses": by_mode,
        }

    def _claims(self, n: dict[str, Any]) -> list[Claim]:
        c1, c3 = n["base_circles"]
        adv = n["survivor_advantage"]
        parts, verdicts = [], []
        for mode, base in (("strongest+k", f"{{{c1}}}"), ("pair+k", f"{{{c1}, {c3}}}")):
            a = adv[mode]
            parts.append(f"base {base}: a survivor's loss below a dead frequency's (medians) at "
                         f"{a['n_lower']} of {a['n_steps']} stored steps, sign test p = "
                         f"{a['sign_p']:.2g}")
            verdicts.append(None if not math.isfinite(a["sign_p"]) else a["sign_p"] < ALPHA)
        holds = None if None in verdicts else bool(all(verdicts))
        surv = ", ".join(map(str, n["survivors"])) or "none"
        return [Claim(
            "Circles collaborate: adding a survivor to the base set lowers the loss much more "
            "than adding a dead frequency.",
            f"survivors {surv}; " + "; ".join(parts) + f"; at step {n['last_snapshot']:,} all "
            f"survivors together {n['survivors_together_loss']:.3g}, best single circle "
            f"{n['best_single_loss']:.3g}.", holds,
            "for both base sets, the median loss with a survivor added is below that with a "
            "dead frequency added at more stored steps than not, one-sided sign test "
            "p < 0.05")]

    def _figure(self, res, full: pd.DataFrame, together: pd.DataFrame,
                result: ExperimentResult) -> Figure:
        from ..figures.dynamics import collaboration_figure

        fig = collaboration_figure(res.losses, res.survivors, res.strongest, full=full)
        label = "all survivors" if res.survivors else "strongest circle (no survivors)"
        for ax in fig.axes[:3]:
            ax.plot(together["step"].to_numpy(float), together["loss"].to_numpy(float),
                    color="k", ls=":", lw=1.4, label=label, zorder=4)
        shared_legend(fig, fig.axes[0], ncol=1 + len(res.survivors) // 12)
        return titled(fig, "Circle collaboration: loss with the embedding restricted to a few "
                      "circles", scale_note(result))


EXPERIMENTS: list[Experiment] = [Collaboration()]
