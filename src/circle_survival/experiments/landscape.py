"""Presets for the survival landscape: experiments 1-5 of the paper (arXiv 2405.17420),
numbered as in the README.

- ``signal-evolution`` (1): one run; S_k over training, the final circles on FFT and PCA
  planes, the embedding on the planes of a survivor and of a dying frequency over time.
- ``dimension`` (2): the number of circles and the initial circularity against d; initial
  circularity of survivors against the dead at the largest d.
- ``frozen-embedding`` (3): test loss and accuracy against d with the embedding frozen.
- ``circles-vs-p`` and ``circles-vs-weight-decay`` (4): the number of circles against the
  modulus p and against weight decay.
- ``initial-signal`` (5): each frequency's initial signal against its survival rate over
  fixed embeddings.

Every size is a constructor argument (the tests build tiny versions); ``smoke_base`` holds
extra config fields for the smoke scale only (a smaller model, say), and every departure from
the paper that a scale makes is listed by ``deviations(scale)`` and printed on the figures.

Runs that only need their initial and final state record signals and metrics every 100
steps (``signal_every``, ``metrics_every``), to keep stores small; the survival rule reads the
final record, which is always kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import fourier
from ..analysis.stats import spearman
from ..config import RunConfig
from ..figures import landscape as figs
from ..figures import runs as run_figs
from ..store import Store
from ..sweep import SweepSpec
from .base import (
    ALPHA,
    PAPER_STEPS,
    SPARSE_RECORDING,
    Claim,
    Experiment,
    ExperimentResult,
    SmokeScaled,
    base_deviations,
    r_text,
    scale_note,
    seed10_recording,
    seed10_spec,
    steps_deviation,
)

#: every integer d from 16 to 128 (113 values), experiments 2 and 3
PAPER_DS = tuple(range(16, 129))
#: the authors' primes (17, 41 and 71 are not in their list): 23 values, 100 runs each
PAPER_PRIMES = (13, 19, 23, 29, 31, 37, 43, 47, 53, 59, 61, 67, 73, 79, 83, 89, 97, 101, 103,
                107, 109, 113, 127)
PAPER_PRIME_RUNS = 100
#: every integer 16 .. 101 (86 values), 20 runs each; the figure shows p <= 97
PAPER_INTEGERS = tuple(range(16, 102))
PAPER_INTEGER_RUNS = 20
PAPER_INTEGERS_SHOWN = 97
PAPER_WD_LOG = tuple(float(v) for v in 10.0 ** np.linspace(-4, -2, 16))
#: linspace(0.1, 1.5, 16) rounded to one decimal, as the authors' script does; the rounding
#: lists 0.8 twice, and with the same seeds the two are the same runs, so it is kept once
PAPER_WD_LINEAR = tuple(dict.fromkeys(round(float(v), 1) for v in np.linspace(0.1, 1.5, 16)))
PAPER_WD_RUNS = 50
#: the weight-decay figure shows the log series from this value on
PAPER_WD_SHOWN = 0.002
SMOKE_WD_LOG = tuple(PAPER_WD_LOG[i] for i in (0, 7, 15))
SMOKE_WD_LINEAR = tuple(PAPER_WD_LINEAR[i] for i in (0, 7, -1))
#: how the trend claims treat a miss at the smoke scale (see :func:`trend_holds`)
#: bins of the initial-circularity histogram (experiment 2)
HISTOGRAM_BINS = 50
SMOKE_MISS = "at smoke scale a miss is undecided unless significant the other way"

__all__ = ["CirclesVsP", "CirclesVsWeightDecay", "Dimension", "FrozenEmbedding",
           "InitialSignal", "SignalEvolution", "EXPERIMENTS"]


# -- shared helpers ---------------------------------------------------------------------------
def _fmt(values: Sequence[Any]) -> str:
    """'{16, 32, 64}', with '…' in the middle of long lists."""
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    if len(vals) > 8:
        vals = [*vals[:3], "…", *vals[-2:]]
    return "{" + ", ".join(vals) + "}"


def trend_holds(r: float, p_value: float, sign: int, scale: str = "paper") -> bool | None:
    """Whether r has the given sign with p < 0.05: True / False, or None (undecided) when r is
    undefined (no variation). At the smoke scale a miss is undecided too, unless the trend is
    significant in the opposite direction: a few runs can confirm a trend but not refute it."""
    if not math.isfinite(r):
        return None
    if sign * r > 0 and p_value < ALPHA:
        return True
    if scale == "smoke" and not (sign * r < 0 and p_value < ALPHA):
        return None
    return False


class _Preset(SmokeScaled):
    """Sizes shared by the presets: steps and runs per point at each scale, and extra config
    fields for the smoke scale."""

    paper_runs = 1
    #: what "runs per point" counts, in the deviation text
    per_point = "point"
    #: what more steps could change (None: circles can still die late)
    short_steps_note: str | None = None

    def __init__(self, *, smoke_steps: int, smoke_runs: int = 1,
                 smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_base=smoke_base)
        self.smoke_runs = int(smoke_runs)

    def runs(self, scale: str) -> int:
        """Runs per point of the grid."""
        self.check_scale(scale)
        return self.smoke_runs if scale == "smoke" else self.paper_runs

    def seeds(self, scale: str) -> dict[str, list[int]]:
        """Everything redrawn: run i uses seed i for the embedding, the MLP and the split."""
        ids = list(range(self.runs(scale)))
        return {"embedding": ids, "mlp": ids, "split": ids}

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        if scale == "paper":
            return []
        out = steps_deviation(self.smoke_steps, self.paper_steps, self.short_steps_note)
        if self.smoke_runs < self.paper_runs:
            out.append(f"{self.smoke_runs} runs per {self.per_point} instead of "
                       f"{self.paper_runs}")
        return out + base_deviations(self.smoke_base)

    def _spec(self, scale: str, suffix: str = "", **kwargs: Any) -> SweepSpec:
        name = f"{self.name}-{scale}" + (f"-{suffix}" if suffix else "")
        return SweepSpec(name=name, **kwargs)


def per_x_text(name: str, xs: Sequence[Any], values: Sequence[float], fmt: str = ".2f") -> str:
    """'d=16: 2.10, d=17: 2.30, …, d=128: 5.00' (the first three and last two of long
    lists)."""
    items = [f"{name}={x}: {v:{fmt}}" for x, v in zip(xs, values, strict=True)]
    if len(items) > 8:
        items = [*items[:3], "…", *items[-2:]]
    return ", ".join(items)


def _grid_deviation(what: str, smoke: Sequence[Any], paper: Sequence[Any]) -> list[str]:
    if tuple(smoke) == tuple(paper):
        return []
    return [f"{what} ∈ {_fmt(smoke)} instead of {_fmt(paper)}"]


def _run_table(store: Store, ids: Sequence[str], cols: Sequence[str]) -> pd.DataFrame:
    """Config/summary columns of the runs, one row per run (index run_id)."""
    return store.runs.loc[list(ids), list(cols)].copy()


# -- experiment 1 ---------------------------------------------------------------------------
class SignalEvolution(_Preset):
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

    def __init__(self, smoke_steps: int = PAPER_STEPS, embedding_seed: int = 10,
                 plane_ks: Sequence[int] = (1, 2),
                 smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_base=smoke_base)
        self.embedding_seed = int(embedding_seed)
        self.plane_ks = tuple(int(k) for k in plane_ks)

    def specs(self, scale: str) -> list[SweepSpec]:
        return [seed10_spec(self.name, scale, self.base(scale, **seed10_recording(
            self.steps(scale))), self.embedding_seed)]

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        self.check_scale(scale)
        (rid,) = self.select(store, self.specs(scale)[0])
        cfg = store.config(rid)
        p = cfg.p
        steps, sig = store.signals(rid)
        ks = np.arange(1, fourier.n_freq(p) + 1)
        alive = fourier.survival(sig[-1], p)
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
        result = self._result(scale, 1, numbers)
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


# -- experiment 2 ---------------------------------------------------------------------------
class Dimension(_Preset):
    """Experiment 2: the embedding dimension as a resource.

    Paper scale: d ∈ {16, 32, ..., 128}, 50 runs per d with everything redrawn (run i uses
    seed i for the embedding, the MLP and the split), 30,000 steps.
    """

    name = "dimension"
    number = 2
    title = "Embedding dimension as a resource"
    paper_runs = 50
    per_point = "d"

    def __init__(self, smoke_ds: Sequence[int] = (16, 48, 80, 128), smoke_runs: int = 5,
                 smoke_steps: int = 2000, smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_runs=smoke_runs, smoke_base=smoke_base)
        self.smoke_ds = tuple(int(d) for d in smoke_ds)

    def ds(self, scale: str) -> tuple[int, ...]:
        return self.smoke_ds if scale == "smoke" else PAPER_DS

    def specs(self, scale: str) -> list[SweepSpec]:
        return [self._spec(scale, base=self.base(scale, **SPARSE_RECORDING),
                           axes={"d": list(self.ds(scale))}, seeds=self.seeds(scale))]

    def deviations(self, scale: str) -> list[str]:
        out = super().deviations(scale)
        return out + (_grid_deviation("d", self.smoke_ds, PAPER_DS) if scale == "smoke" else [])

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from scipy import stats

        self.check_scale(scale)
        ids = self.select(store, self.specs(scale)[0])
        runs = _run_table(store, ids, ["p", "d", "n_circles", "circles"])
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
        result = self._result(scale, len(ids), numbers)
        higher = bool(alive.size and dead.size and alive.mean() > dead.mean())
        means = (f"mean {alive.mean():.4f} against {dead.mean():.4f}" if alive.size and dead.size
                 else "too few survivors or dead frequencies to compare")
        result.claims = [
            Claim("More circles survive with a larger embedding dimension d.",
                  "mean circles per d: " + per_x_text("d", per_d["d"], per_d["mean"])
                  + f"; Spearman r = {r_text(r_n, p_n)}.",
                  trend_holds(r_n, p_n, +1, scale),
                  f"Spearman r of circles against d > 0 with p < 0.05 over the runs; "
                  f"{SMOKE_MISS}"),
            Claim("Initial circularity grows with d (about d / (d + p) for a random "
                  "embedding).",
                  f"Spearman r = {r_text(r_c, p_c)}.", trend_holds(r_c, p_c, +1, scale),
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


# -- experiment 3 ---------------------------------------------------------------------------
class FrozenEmbedding(_Preset):
    """Experiment 3: with the embedding frozen at its random initial value, the test loss and
    accuracy against d after 500, 1000, 5000 and 10,000 steps.

    Paper scale: d ∈ {16, 32, ..., 128}, 5 runs per d (everything redrawn), 10,000 steps; the
    metrics at the chosen steps come from the metrics record.
    """

    name = "frozen-embedding"
    number = 3
    title = "Frozen embedding: test loss against d"
    paper_steps = 10_000
    paper_runs = 5
    paper_checkpoints = (500, 1000, 5000, 10_000)
    per_point = "d"
    short_steps_note = "the test loss can still fall later"

    def __init__(self, smoke_ds: Sequence[int] = (16, 32, 48, 64, 96, 128), smoke_runs: int = 2,
                 smoke_steps: int = 3000, smoke_base: Mapping[str, Any] | None = None,
                 smoke_checkpoints: Sequence[int] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_runs=smoke_runs, smoke_base=smoke_base)
        self.smoke_ds = tuple(int(d) for d in smoke_ds)
        self.smoke_checkpoints = None if smoke_checkpoints is None else tuple(smoke_checkpoints)

    def ds(self, scale: str) -> tuple[int, ...]:
        return self.smoke_ds if scale == "smoke" else PAPER_DS

    def checkpoints(self, scale: str) -> list[int]:
        """The steps at which the metrics are read: the paper's below the run's length, and
        the last step."""
        steps = self.steps(scale)
        chosen = self.paper_checkpoints
        if scale == "smoke" and self.smoke_checkpoints is not None:
            chosen = self.smoke_checkpoints
        return sorted({c for c in chosen if 0 < c < steps} | {steps})

    def specs(self, scale: str) -> list[SweepSpec]:
        every = math.gcd(*self.checkpoints(scale))
        base = self.base(scale, freeze_embedding=True, metrics_every=every,
                         signal_every=self.steps(scale))
        return [self._spec(scale, base=base, axes={"d": list(self.ds(scale))},
                           seeds=self.seeds(scale))]

    def deviations(self, scale: str) -> list[str]:
        out = super().deviations(scale)
        if scale == "smoke":
            out += _grid_deviation("d", self.smoke_ds, PAPER_DS)
            out += _grid_deviation("metrics at steps", self.checkpoints(scale),
                                   self.paper_checkpoints)
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        self.check_scale(scale)
        ids = self.select(store, self.specs(scale)[0])
        runs = _run_table(store, ids, ["p", "d"])
        p = int(runs["p"].iloc[0])
        checkpoints = self.checkpoints(scale)
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
        result = self._result(scale, len(ids), numbers)
        small = bool(len(wide)) and bool((wide["test_loss"] < 0.1).all())
        result.claims = [
            Claim("With a frozen embedding the test loss falls as d grows.",
                  f"after {checkpoints[-1]:,} steps: Spearman r = {r_text(r, p_r)}; mean "
                  "test loss " + per_x_text("d", by_d.index, by_d["test_loss"], ".3g") + ".",
                  trend_holds(r, p_r, -1, scale),
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


# -- experiment 4 ---------------------------------------------------------------------------
class _CountSweep(_Preset):
    """The number of circles against one config field, in two series (experiment 4), each
    with its own grid and runs per point."""

    field_name = ""
    xlabel = ""
    #: series name -> (label, paper grid, paper runs per point, log x axis, shown from/up to)
    series: dict[str, tuple[str, tuple, int, bool, tuple[float, float]]] = {}
    figure_name = "circles"

    def __init__(self, smoke: Mapping[str, Sequence[Any]], smoke_runs: int, smoke_steps: int,
                 smoke_base: Mapping[str, Any] | None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_runs=smoke_runs, smoke_base=smoke_base)
        self.smoke = {k: tuple(v) for k, v in smoke.items()}

    def grid(self, scale: str, key: str) -> tuple:
        self.check_scale(scale)
        return self.smoke[key] if scale == "smoke" else self.series[key][1]

    def series_runs(self, scale: str, key: str) -> int:
        """Runs per point of one series."""
        self.check_scale(scale)
        return self.smoke_runs if scale == "smoke" else self.series[key][2]

    def specs(self, scale: str) -> list[SweepSpec]:
        base = self.base(scale, **SPARSE_RECORDING)
        out = []
        for key in self.series:
            ids = list(range(self.series_runs(scale, key)))
            out.append(self._spec(scale, key, base=base,
                                  axes={self.field_name: list(self.grid(scale, key))},
                                  seeds={"embedding": ids, "mlp": ids, "split": ids}))
        return out

    #: departures that remain at the paper scale
    paper_notes: tuple[str, ...] = ()

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        if scale == "paper":
            return list(self.paper_notes)
        out = list(self.paper_notes) + steps_deviation(self.smoke_steps, self.paper_steps)
        for key, (label, paper, runs, _, _) in self.series.items():
            out += _grid_deviation(f"{self.field_name} ({label})", self.smoke[key], paper)
            if self.smoke_runs < runs:
                out.append(f"{self.smoke_runs} runs per point instead of {runs} ({label})")
        return out + base_deviations(self.smoke_base)

    def tables(self, store: Store, scale: str) -> dict[str, pd.DataFrame]:
        """Series name -> one row per run: the field and n_circles."""
        return {key: _run_table(store, self.select(store, spec),
                                [self.field_name, "n_circles"])
                for key, spec in zip(self.series, self.specs(scale), strict=True)}

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        tables = self.tables(store, scale)
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
        result = self._result(scale, n_runs, numbers)
        result.claims = self.claims(tables, numbers, scale)
        note = scale_note(result)
        result.figures = {}
        for key, df in tables.items():
            label, _, _, log, (lo, hi) = self.series[key]
            shown = df[(df[self.field_name] >= lo) & (df[self.field_name] <= hi)]
            cut = "" if len(shown) == len(df) else (
                f" (the paper's figure shows {self.field_name} in [{lo:g}, {hi:g}])")
            result.figures[f"{self.figure_name}_{key}"] = figs.circles_vs(
                {label: shown}, self.field_name, xlabel=self.xlabel, logx=log,
                title=f"Number of surviving circles against {self.xlabel}{cut}", note=note)
        return result

    def claims(self, tables: Mapping[str, pd.DataFrame], numbers: dict[str, Any],
               scale: str) -> list[Claim]:
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
    series = {"primes": ("the authors' primes 13…127", PAPER_PRIMES, PAPER_PRIME_RUNS, False,
                         (0, math.inf)),
              "integers": ("integers 16…101", PAPER_INTEGERS, PAPER_INTEGER_RUNS, False,
                           (0, PAPER_INTEGERS_SHOWN))}
    paper_notes = ("the integer series holds only its own runs (the authors' script does not "
                   "reset its list, so their integer curve mixes in the prime runs)",)

    def __init__(self, smoke_primes: Sequence[int] = (13, 23, 31, 43, 59),
                 smoke_integers: Sequence[int] = (16, 24, 32, 40, 48), smoke_runs: int = 4,
                 smoke_steps: int = 3000, smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__({"primes": smoke_primes, "integers": smoke_integers}, smoke_runs,
                         smoke_steps, smoke_base)

    def claims(self, tables, numbers, scale) -> list[Claim]:
        verdicts = [trend_holds(numbers[k]["spearman_r"], numbers[k]["spearman_p"], +1, scale)
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
    run i with seed i), 30,000 steps: 1,600 runs. The figure of the log series shows the
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
    series = {"log": ("10^linspace(−4, −2, 16)", PAPER_WD_LOG, PAPER_WD_RUNS, True,
                      (PAPER_WD_SHOWN, math.inf)),
              "linear": ("linspace(0.1, 1.5, 16), one decimal", PAPER_WD_LINEAR, PAPER_WD_RUNS,
                         False, (0, math.inf))}
    paper_notes = ("linear grid: the authors' rounding lists 0.8 twice; those are the same runs, "
                   "kept once (15 values)",)
    #: the plateau's change, as a fraction of the fall, that still counts as flat
    plateau_fraction = 0.25

    def __init__(self, smoke_log: Sequence[float] = SMOKE_WD_LOG,
                 smoke_linear: Sequence[float] = SMOKE_WD_LINEAR, smoke_runs: int = 3,
                 smoke_steps: int = 2000, smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__({"log": smoke_log, "linear": smoke_linear}, smoke_runs, smoke_steps,
                         smoke_base)

    def deviations(self, scale: str) -> list[str]:
        out = super().deviations(scale)
        if scale == "smoke" and self.smoke_steps < self.paper_steps:
            lr = float(self.smoke_base.get("lr", RunConfig.lr))
            wd = max(self.smoke["log"], default=0.0)
            out.append(f"at wd ≤ {wd:g}, decay alone shrinks weights by exp(−lr·wd·steps) ≥ "
                       f"{math.exp(-lr * wd * self.smoke_steps):.2g} in {self.smoke_steps:,} "
                       f"steps against {math.exp(-lr * wd * self.paper_steps):.2g} in "
                       f"{self.paper_steps:,}, so circles at small wd have not separated yet")
        return out

    def claims(self, tables, numbers, scale) -> list[Claim]:
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
        first = fall > 0 and p_fall < ALPHA
        if not first and scale == "smoke" and not (fall < 0 and p_fall > 1 - ALPHA):
            first = None
        a = at(lin, min(lin[self.field_name]))
        b = at(lin, max(lin[self.field_name]))
        diff = float(b.mean() - a.mean())
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size) if min(
            a.size, b.size) >= 2 else math.nan
        half = 1.96 * se
        bound = self.plateau_fraction * fall
        second: bool | None = None
        if math.isfinite(half) and fall > 0:
            second = bool(abs(diff) + half < bound)
            if not second and scale == "smoke" and abs(diff) - half < bound:
                second = None  # too few runs to tell
        return [
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


# -- experiment 5 ---------------------------------------------------------------------------
class InitialSignal(_Preset):
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


EXPERIMENTS: list[Experiment] = [SignalEvolution(), Dimension(), FrozenEmbedding(),
                                 CirclesVsP(), CirclesVsWeightDecay(), InitialSignal()]
