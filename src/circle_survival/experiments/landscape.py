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
from ..config import RunConfig
from ..figures import landscape as figs
from ..figures import runs as run_figs
from ..store import Store
from ..sweep import SweepSpec
from .base import (
    ALPHA,
    SPARSE_RECORDING,
    Claim,
    Experiment,
    ExperimentResult,
    SmokeScaled,
    base_deviations,
    r_text,
    scale_note,
    spearman,
    steps_deviation,
)

PAPER_DS = (16, 32, 48, 64, 80, 96, 112, 128)
#: primes 13 .. 127 (26 values) and every integer 16 .. 101 (86 values)
PAPER_PRIMES = tuple(n for n in range(13, 128) if all(n % q for q in range(2, int(n**0.5) + 1)))
PAPER_INTEGERS = tuple(range(16, 102))
PAPER_WD_LOG = tuple(float(v) for v in 10.0 ** np.linspace(-4, -2, 16))
PAPER_WD_LINEAR = tuple(float(v) for v in np.linspace(0.1, 1.5, 16))
SMOKE_WD_LOG = tuple(PAPER_WD_LOG[i] for i in (0, 7, 15))
SMOKE_WD_LINEAR = tuple(PAPER_WD_LINEAR[i] for i in (0, 7, 15))
#: how the trend claims treat a miss at the smoke scale (see :func:`trend_holds`)
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


def _grid_deviation(what: str, smoke: Sequence[Any], paper: Sequence[Any]) -> list[str]:
    if tuple(smoke) == tuple(paper):
        return []
    return [f"{what} ∈ {_fmt(smoke)} instead of {_fmt(paper)}"]


def _run_table(store: Store, ids: Sequence[str], cols: Sequence[str]) -> pd.DataFrame:
    """Config/summary columns of the runs, one row per run (index run_id)."""
    return store.runs.loc[list(ids), list(cols)].copy()


# -- experiment 1 ---------------------------------------------------------------------------
class SignalEvolution(_Preset):
    """Experiment 1: the signals of one run over training, its final circles, and the
    embedding on the planes of a survivor and of a dying frequency at three steps.

    The two frequencies are chosen from the run: the survivor with the largest initial signal
    and the dead frequency with the largest initial signal. The embedding is stored at the
    middle step (15,000 at paper scale) besides the first and the last.
    """

    name = "signal-evolution"
    number = 1
    title = "Signal evolution of one run"

    def __init__(self, smoke_steps: int = 10_000, seed: int = 0,
                 smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_base=smoke_base)
        self.seed = int(seed)

    def specs(self, scale: str) -> list[SweepSpec]:
        steps = self.steps(scale)
        base = self.base(scale, signal_every=1, metrics_every=10,
                         embedding_steps=(steps // 2,))
        return [self._spec(scale, base=base, seeds={
            "embedding": [self.seed], "mlp": [self.seed], "split": [self.seed]})]

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
        pair = self.plane_pair(s0, survivors, dead)
        min_alive = float(min(s1[k] for k in survivors)) if survivors else float("nan")
        max_dead = float(max(s1[k] for k in dead)) if dead else float("nan")
        ratio = min_alive / max_dead if dead and survivors and max_dead > 0 else float("nan")
        numbers = {
            "run_id": rid, "p": p, "d": cfg.d, "steps": cfg.steps,
            "n_circles": len(survivors), "circles": survivors,
            "circle_deltas": [fourier.delta(k, p, strict=False) for k in survivors],
            "final_signal_survivors": {k: float(s1[k]) for k in survivors},
            "min_final_signal_survivors": min_alive,
            "max_final_signal_dead": max_dead,
            "survivor_to_dead_ratio": ratio,
            "plane_frequencies": pair,
            "initial_signal_plane_frequencies": {k: float(s0[k]) for k in pair},
            "test_loss": float(store.runs.loc[rid, "test_loss"]),
            "test_acc": float(store.runs.loc[rid, "test_acc"]),
        }
        result = self._result(scale, 1, numbers)
        result.claims = [
            Claim("A few circles survive training; the other frequencies die (criterion here: "
                  "2 to 8 circles of the (p-1)/2 frequencies).",
                  f"{len(survivors)} of {len(ks)} frequencies survive: k = {survivors}.",
                  2 <= len(survivors) <= 8),
            Claim("The survivors' final signals are far above those of the dead frequencies "
                  "(criterion: weakest survivor at least 5x the strongest dead frequency).",
                  f"weakest survivor {min_alive:.3g}, strongest dead {max_dead:.3g} "
                  f"(ratio {ratio:.3g}).",
                  bool(ratio >= 5) if math.isfinite(ratio) else (False if not survivors
                                                                 else None)),
        ]
        result.figures = self.figures(store, rid, steps, sig, survivors, pair, result)
        return result

    @staticmethod
    def plane_pair(s0: np.ndarray, survivors: Sequence[int], dead: Sequence[int]) -> list[int]:
        """[the survivor with the largest initial signal, the dead frequency with the largest
        initial signal] (one of them alone when the other group is empty)."""
        pair = []
        for group in (survivors, dead):
            if group:
                pair.append(int(max(group, key=lambda k: s0[k])))
        return pair

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
        fig_planes = run_figs.planes_over_time(embs, pair, shown, survivors=survivors)
        return {
            "signal_evolution": figs.titled(fig_sig, "Signal evolution of one run", note),
            "circles_fft": figs.titled(fig_fft, "Final circles on FFT planes", note),
            "circles_pca": figs.titled(fig_pca, "Final circles on principal-component planes",
                                       note),
            "planes_over_time": figs.titled(
                fig_planes, "Embedding on the planes of a survivor and a dying frequency", note),
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
            Claim("More circles survive with a larger embedding dimension d (criterion: "
                  "Spearman r of circles against d > 0 with p < 0.05 over the runs; "
                  f"{SMOKE_MISS}).",
                  "mean circles per d: " + ", ".join(
                      f"d={d}: {m:.2f}" for d, m in zip(per_d["d"], per_d["mean"], strict=True))
                  + f"; Spearman r = {r_text(r_n, p_n)}.",
                  trend_holds(r_n, p_n, +1, scale)),
            Claim("Initial circularity grows with d (about d / (d + p) for a random embedding; "
                  "criterion: Spearman r of a run's mean circularity against d > 0, p < 0.05; "
                  f"{SMOKE_MISS}).",
                  f"Spearman r = {r_text(r_c, p_c)}.", trend_holds(r_c, p_c, +1, scale)),
            Claim(f"Frequencies that survive had a higher initial circularity (at d = {d_max}; "
                  "criterion: higher mean and two-sample t-test p < 0.05).",
                  f"{means} ({alive.size} survivors, {dead.size} dead); t = {t:.3g}, "
                  f"p = {p_t:.2g}.",
                  (higher and p_t < ALPHA) if math.isfinite(p_t) else None),
        ]
        note = scale_note(result)
        result.figures = {
            "circles_vs_d": figs.circles_vs(
                {"everything redrawn": runs}, "d", xlabel="embedding dimension d",
                title="Number of surviving circles against embedding dimension", note=note,
                marks={f"d = p = {p}": p}),
            "circularity_vs_d": figs.circularity_vs_d(runs, p, note=note),
            "circularity_histogram": figs.circularity_histogram(
                alive, dead, t=t, p_value=p_t, d=d_max, note=note),
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
            Claim("With a frozen embedding the test loss falls as d grows (criterion: "
                  "Spearman r of the final test loss against d < 0 with p < 0.05; "
                  f"{SMOKE_MISS}).",
                  f"after {checkpoints[-1]:,} steps: Spearman r = {r_text(r, p_r)}; mean "
                  "test loss " + ", ".join(f"d={d}: {v:.3g}" for d, v in
                                           by_d["test_loss"].items()) + ".",
                  trend_holds(r, p_r, -1, scale)),
            Claim(f"The test loss is small once d ≳ p (criterion: mean final test loss < 0.1 "
                  f"at every d ≥ p = {p}).",
                  ("mean final test loss at d ≥ p: " + ", ".join(
                      f"d={d}: {v:.3g}" for d, v in wide["test_loss"].items())
                   if len(wide) else "no d ≥ p in the grid") + ".",
                  small if len(wide) else None),
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
    """The number of circles against one config field, in two series (experiment 4)."""

    field_name = ""
    xlabel = ""
    paper_runs = 10
    #: series name -> (label, paper grid, log x axis)
    series: dict[str, tuple[str, tuple, bool]] = {}
    #: +1: the claim is that the count grows with the field; -1: that it falls
    sign = +1
    trend = ""
    #: one panel per series (else one axes), and the figure's name
    panels = False
    figure_name = "circles"

    def __init__(self, smoke: Mapping[str, Sequence[Any]], smoke_runs: int, smoke_steps: int,
                 smoke_base: Mapping[str, Any] | None) -> None:
        super().__init__(smoke_steps=smoke_steps, smoke_runs=smoke_runs, smoke_base=smoke_base)
        self.smoke = {k: tuple(v) for k, v in smoke.items()}

    def grid(self, scale: str, key: str) -> tuple:
        return self.smoke[key] if scale == "smoke" else self.series[key][1]

    def specs(self, scale: str) -> list[SweepSpec]:
        base = self.base(scale, **SPARSE_RECORDING)
        return [self._spec(scale, key, base=base,
                           axes={self.field_name: list(self.grid(scale, key))},
                           seeds=self.seeds(scale))
                for key in self.series]

    def n_runs(self, scale: str) -> int:
        """Distinct runs (a value in both series, such as a prime p in 16 .. 101, is one run
        shared by both)."""
        return len({rid for spec in self.specs(scale) for rid in spec.run_ids()})

    def model_steps(self, scale: str) -> int:
        configs = {c.run_id: c for spec in self.specs(scale) for c in spec.configs()}
        return sum(c.steps for c in configs.values())

    def deviations(self, scale: str) -> list[str]:
        out = super().deviations(scale)
        if scale == "smoke":
            for key, (label, paper, _) in self.series.items():
                out += _grid_deviation(f"{self.field_name} ({label})", self.smoke[key], paper)
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        self.check_scale(scale)
        tables, numbers, parts = {}, {}, []
        all_ids: set[str] = set()
        for key, spec in zip(self.series, self.specs(scale), strict=True):
            ids = self.select(store, spec)
            all_ids.update(ids)
            df = _run_table(store, ids, [self.field_name, "n_circles"])
            tables[self.series[key][0]] = df
            s = figs.summarize(df, self.field_name, "n_circles")
            r, p_r = spearman(df[self.field_name], df["n_circles"])
            numbers[key] = {"values": s[self.field_name].tolist(),
                            "runs_per_point": [int(n) for n in s["n"]],
                            "mean_n_circles": s["mean"].tolist(),
                            "ci95_n_circles": s[["low", "high"]].to_numpy().tolist(),
                            "spearman_r": r, "spearman_p": p_r}
            parts.append(f"{self.series[key][0]}: Spearman r = {r_text(r, p_r)}")
        numbers["n_runs"] = len(all_ids)
        result = self._result(scale, len(all_ids), numbers)
        result.claims = [self.claim(numbers, parts, scale)]
        result.figures = {self.figure_name: figs.circles_vs(
            tables, self.field_name, xlabel=self.xlabel, panels=self.panels,
            logx={label: log for label, _, log in self.series.values()},
            title=f"Number of surviving circles against {self.xlabel}",
            note=scale_note(result))}
        return result

    def claim(self, numbers: dict[str, Any], parts: list[str], scale: str) -> Claim:
        verdicts = [trend_holds(numbers[k]["spearman_r"], numbers[k]["spearman_p"], self.sign,
                                scale) for k in self.series]
        holds = False if False in verdicts else None if None in verdicts else True
        word = "> 0" if self.sign > 0 else "< 0"
        return Claim(f"{self.trend} (criterion: Spearman r {word} with p < 0.05 in each "
                     f"series; {SMOKE_MISS}).", "; ".join(parts) + ".", holds)


class CirclesVsP(_CountSweep):
    """Experiment 4a: the number of circles against the modulus p, over the primes 13 .. 127
    and every integer 16 .. 101 (two sweeps; each p is its own batch shape).

    the paper gives no run count per point: the paper scale takes 10 runs per p (everything
    redrawn, run i with seed i), 30,000 steps: 26 + 86 = 112 points, 1,120 runs of which 920
    are distinct (the 20 primes in 16 .. 101 are in both series and train once).
    """

    name = "circles-vs-p"
    number = 4
    title = "Number of circles against the modulus p"
    field_name = "p"
    xlabel = "modulus p"
    figure_name = "circles_vs_p"
    series = {"primes": ("primes 13…127", PAPER_PRIMES, False),
              "integers": ("integers 16…101", PAPER_INTEGERS, False)}
    trend = "The number of circles grows with the modulus p"

    def __init__(self, smoke_primes: Sequence[int] = (13, 23, 31, 43, 59),
                 smoke_integers: Sequence[int] = (16, 24, 32, 40, 48), smoke_runs: int = 4,
                 smoke_steps: int = 3000, smoke_base: Mapping[str, Any] | None = None) -> None:
        super().__init__({"primes": smoke_primes, "integers": smoke_integers}, smoke_runs,
                         smoke_steps, smoke_base)


class CirclesVsWeightDecay(_CountSweep):
    """Experiment 4b: the number of circles against weight decay, over 10^linspace(-4, -2, 16)
    and linspace(0.1, 1.5, 16) (two sweeps).

    the paper gives no run count per point: the paper scale takes 10 runs per value (everything
    redrawn, run i with seed i), 30,000 steps: 32 points, 320 runs. The smoke scale takes the
    first, eighth and last value of each grid.
    """

    name = "circles-vs-weight-decay"
    number = 4
    title = "Number of circles against weight decay"
    field_name = "weight_decay"
    xlabel = "weight decay"
    figure_name = "circles_vs_weight_decay"
    series = {"log": ("10^linspace(−4, −2, 16)", PAPER_WD_LOG, True),
              "linear": ("linspace(0.1, 1.5, 16)", PAPER_WD_LINEAR, False)}
    panels = True
    sign = -1
    trend = ("The number of circles falls as weight decay grows (the paper plots it without "
             "stating the direction; this is the expected one)")

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
            "Frequencies with a larger initial signal survive more often (criterion: Pearson r "
            f"of initial signal against survival rate > 0 with p < 0.05; {SMOKE_MISS}).",
            f"r = {r_text(corr.r, corr.p_value)} over {corr.n_points} (embedding, k) points, "
            f"{numbers['runs_per_embedding']} runs per embedding.",
            trend_holds(corr.r, corr.p_value, +1, scale))]
        result.figures = {"signal_vs_survival": figs.signal_vs_survival(
            rates, r=corr.r, p_value=corr.p_value, note=scale_note(result))}
        return result


EXPERIMENTS: list[Experiment] = [SignalEvolution(), Dimension(), FrozenEmbedding(),
                                 CirclesVsP(), CirclesVsWeightDecay(), InitialSignal()]
