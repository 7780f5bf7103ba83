"""Experiment 1 of the paper (arXiv 2405.17420): the signals of the authors' seed-10 run over
training, its final circles on FFT and PCA planes, and the embedding at three steps on the planes
of the final F[1] and F[2].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import fourier
from ..figures import landscape as figs
from ..figures import runs as run_figs
from ..store import Store
from ..sweep import SweepSpec
from .design import seed10_recording, seed10_spec
from .preset import Experiment, GridPreset, GridSizes, Sizes
from .result import Claim, ExperimentResult, scale_note

#: the authors' one run of 30,000 steps
PAPER = GridSizes(scale="paper")
#: the smoke scale trains the same run (a few CPU-minutes)
SMOKE = GridSizes(scale="smoke", refutes=False)


class SignalEvolution(GridPreset):
    """Experiment 1: the signals of the authors' seed-10 run over training, its final circles,
    and the embedding at steps 0, 15,000 and 30,000 on the planes of the final embedding's
    F[1] and F[2] (in that run one of the two survives and the other dies).

    Both scales train the one run for the paper's 30,000 steps (a few CPU-minutes). The run
    also stores parameter snapshots every 100 steps, so that experiment 10 analyses the very
    same run (same config, trained once).
    """

    name = "signal-evolution"
    number = 1
    title = "Signal evolution of one run"

    authors = PAPER

    def __init__(self, smoke: GridSizes = SMOKE, paper: GridSizes = PAPER,
                 embedding_seed: int = 10, plane_ks: Sequence[int] = (1, 2)) -> None:
        super().__init__(smoke=smoke, paper=paper)
        self.embedding_seed = int(embedding_seed)
        self.plane_ks = tuple(int(k) for k in plane_ks)

    def specs_at(self, sizes: Sizes) -> list[SweepSpec]:
        return [seed10_spec(self.name, sizes.scale, self.base(sizes, **seed10_recording(
            sizes.steps)), self.embedding_seed)]

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        (rid,) = self.select(store, self.specs_at(sizes)[0])
        cfg = store.config(rid)
        p = cfg.p
        steps, sig = store.signals(rid)
        ks = np.arange(1, fourier.n_freq(p) + 1)
        alive = self.circle_rule.survival(sig[-1], p, sig[0])
        survivors = [int(k) for k in ks if alive[k]]
        dead = [int(k) for k in ks if not alive[k]]
        s0, s1 = sig[0], sig[-1]
        pair = [k for k in self.plane_ks if k <= fourier.n_freq(p)]
        min_alive = float(min(s1[k] for k in survivors)) if survivors else float("nan")
        max_dead = float(max(s1[k] for k in dead)) if dead else float("nan")
        ratio = min_alive / max_dead if dead and survivors and max_dead > 0 else float("nan")
        numbers = {
            "run_id": rid, "p": p, "d": cfg.d, "steps": cfg.steps,
            "embedding_seed": cfg.embedding_seed, "init_scheme": cfg.init_scheme,
            "n_circles": len(survivors), "circles": survivors,
            "circle_deltas": [fourier.delta(k, p, strict=False) for k in survivors],
            "final_signal_survivors": {k: float(s1[k]) for k in survivors},
            "min_final_signal_survivors": min_alive,
            "max_final_signal_dead": max_dead,
            "survivor_to_dead_ratio": ratio,
            "plane_frequencies": pair,
            "plane_frequencies_survive": {k: k in survivors for k in pair},
            "initial_signal_plane_frequencies": {k: float(s0[k]) for k in pair},
            "test_loss": float(store.runs.loc[rid, "test_loss"]),
            "test_acc": float(store.runs.loc[rid, "test_acc"]),
        }
        result = self._result(sizes, 1, numbers)
        one_of = [k in survivors for k in pair]
        result.claims = [
            Claim("A few circles survive training; the other frequencies die.",
                  f"{len(survivors)} of {len(ks)} frequencies survive: k = {survivors}.",
                  2 <= len(survivors) <= 8,
                  "2 to 8 circles among the (p-1)/2 frequencies"),
            Claim("The survivors' final signals are far above those of the dead frequencies.",
                  f"weakest survivor {min_alive:.3g}, strongest dead {max_dead:.3g} "
                  f"(ratio {ratio:.3g}).",
                  bool(ratio >= 5) if math.isfinite(ratio) else (False if not survivors
                                                                 else None),
                  "weakest survivor at least 5x the strongest dead frequency"),
            Claim(f"Of the frequencies whose planes are shown ({pair}), one survives and the "
                  "other dies.",
                  ", ".join(f"k = {k} {'survives' if a else 'dies'}"
                            for k, a in zip(pair, one_of, strict=True)) + ".",
                  sum(one_of) == 1 if len(pair) == 2 else None,
                  "exactly one of the two is a circle of the final embedding"),
        ]
        result.figures = self.figures(store, rid, steps, sig, survivors, pair, result)
        return result

    def figures(self, store: Store, rid: str, steps: np.ndarray, sig: np.ndarray,
                survivors: list[int], pair: list[int], result: ExperimentResult) -> dict:
        note = scale_note(result)
        p = int(store.runs.loc[rid, "p"])
        embs = store.embeddings(rid)
        final = max(embs)
        shown = [0, *(s for s in embs if 0 < s < final), final]
        e_final = embs[final]
        fig_sig = run_figs.signal_evolution(steps, sig, p, survivors,
                                            title=f"Signal evolution (p = {p})")
        fig_fft = run_figs.circles_fft(e_final, survivors or None)
        fig_pca = run_figs.circles_pca(e_final, n_planes=max(1, len(survivors)))
        fig_planes = run_figs.planes_over_time(embs, pair, shown, survivors=survivors,
                                               basis_step=final)
        return {
            "signal_evolution": figs.titled(fig_sig, "Signal evolution of one run", note),
            "circles_fft": figs.titled(fig_fft, "Final circles on FFT planes", note),
            "circles_pca": figs.titled(fig_pca, "Final circles on principal-component planes",
                                       note),
            "planes_over_time": figs.titled(
                fig_planes, f"Embedding on the planes of the final F[{pair[0]}] and "
                f"F[{pair[-1]}]", note),
        }


EXPERIMENTS: list[Experiment] = [SignalEvolution()]
