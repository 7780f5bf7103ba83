"""Presets for the training-dynamics experiments: initial gradients (8), circle collaboration
(10) and linear ODE fits of the signals (11).

- ``initial-gradient`` (experiment 8): one fixed embedding (``embedding_seed`` 0), runs that
  vary the MLP and the split together (``mlp_seed = split_seed = 0 .. n-1``). the paper gives
  no run count; the paper scale takes **500 runs**. Survival by the paper's absolute rule
  (final S_k > 10) drives the analysis; the 2x-mean rule is reported beside it. The smoke
  scale's shortened runs judge survival by S_k > 30 (dying frequencies have not yet decayed
  below 10 there; see ``InitialGradient``) and report S_k > 10 too. Figures:
  histograms of the step-s gradient (s = 1 .. 4), survival rate against the binned gradient
  with Wilson 95% intervals, and the (gradient, initial signal) plane the linear SVM separates.
- ``collaboration`` (experiment 10): one run with parameter snapshots every 100 steps; at each
  snapshot the embedding is restricted to one circle, {strongest, k} and {two strongest, k}
  and the snapshot's MLP is evaluated on all p^2 pairs (``analysis.collaboration``); the loss
  with every survivor kept is drawn beside them.
- ``ode`` (experiment 11): one paper-default run (30,000 steps, so its survived/dead labels
  are final) whose first 1000 steps are fitted by s_{t+1} - s_t = A s_t + b (Lasso with
  alpha = 0.01, and OLS; ``analysis.ode``), and an R^2-against-d sweep over
  d = 4, 11, 18, ..., 95 (``numpy.linspace(4, 95, 14)``, 14 widths; the paper says
  "d = 4 ... 95") with 10 runs per d, everything redrawn. Only the fit window enters the R^2,
  so the sweep's runs are trained for exactly the window (1000 steps): the analysed data are
  the same as those of 30,000-step runs.

Sizes are constructor arguments so that tests can build reduced presets; ``EXPERIMENTS`` holds
the default instances.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import fourier
from ..analysis.stats import wilson_interval
from ..config import RunConfig
from ..errors import ConfigError
from ..store import Store
from ..sweep import SweepSpec
from .base import PAPER_STEPS, Claim, Experiment, ExperimentResult, scale_note

#: the steps s of the gradient histograms and survival-rate curves
S_VALUES = (1, 2, 3, 4)
#: the step s of the paper's main gradient analysis (t-test, SVM)
MAIN_S = 4


# -- shared helpers --------------------------------------------------------------------------


def _override_text(overrides: Mapping[str, Any]) -> str:
    """'p=11, d=8' for the config fields a reduced preset changes."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items())


def _steps_deviation(steps: int, what: str) -> str:
    return (f"{steps:,} steps instead of {PAPER_STEPS:,}: {what} judged at step {steps:,} "
            "(circles can still die later, so counts differ from full-length runs)")


def _titled(fig: Figure, title: str, result: ExperimentResult) -> Figure:
    """Replace the figure's suptitle by ``title`` and the scale note, wrapped; a narrow
    figure is widened and every figure grows by the height of the note."""
    width, height = fig.get_size_inches()
    new_width = max(width, 8.0)
    note = textwrap.wrap(scale_note(result), int(new_width * 12))
    fig.set_size_inches(new_width, height + 0.2 * len(note))
    fig.suptitle("\n".join([title, *note]), fontsize="medium")
    return fig


def _count_text(counts) -> str:
    """'10' when every count is 10, else '9-11'."""
    c = np.asarray(counts, dtype=int)
    return f"{c.min()}" if c.min() == c.max() else f"{c.min()}-{c.max()}"


def _figure(width: float, height: float) -> Figure:
    """A constrained-layout figure on an Agg canvas (no pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _last_signal(store: Store, run_id: str) -> np.ndarray:
    """The final recorded signal vector (p//2 + 1,) of a run."""
    return store.signals(run_id)[1][-1]


# -- experiment 8: initial gradient ----------------------------------------------------------
class InitialGradient(Experiment):
    """Experiment 8: survival against the initial gradient of each frequency.

    One fixed embedding; ``mlp_seed`` and ``split_seed`` run together over 0 .. n-1. The paper
    gives no run count; the paper scale takes 500 runs (``paper_runs``).

    Args:
        paper_runs: runs at the paper scale.
        smoke_runs, smoke_steps: runs and steps at the smoke scale.
        smoke_overrides: RunConfig fields changed at the smoke scale (e.g. a tiny model in
            tests); listed among the deviations.
        embedding_seed: the fixed embedding.
        threshold: the absolute survival rule's threshold (the paper's 10).
        smoke_threshold: the threshold of the smoke scale's main analysis. After a few thousand
            steps the dying frequencies still sit near 10 (they decay slowly towards 0 over
            30,000 steps) while survivors are above 60, so S_k > 10 mislabels many dying
            frequencies as survivors; the smoke scale judges survival by S_k > 30 and reports
            S_k > 10 and the 2x-mean rule beside it.
        bins: quantile bins of the survival-rate curves.
        svm_seed: seed of the SVM's held-out split.
    """

    name = "initial-gradient"
    number = 8
    title = "Initial gradient and survival"

    def __init__(self, *, paper_runs: int = 500, smoke_runs: int = 16, smoke_steps: int = 2500,
                 smoke_overrides: Mapping[str, Any] | None = None, embedding_seed: int = 0,
                 threshold: float = 10.0, smoke_threshold: float = 30.0, bins: int = 10,
                 svm_seed: int = 0):
        self.paper_runs, self.smoke_runs, self.smoke_steps = paper_runs, smoke_runs, smoke_steps
        self.smoke_overrides = dict(smoke_overrides or {})
        self.embedding_seed = embedding_seed
        self.threshold, self.smoke_threshold = threshold, smoke_threshold
        self.bins, self.svm_seed = bins, svm_seed

    def specs(self, scale: str) -> list[SweepSpec]:
        self.check_scale(scale)
        if scale == "paper":
            base: dict[str, Any] = {"steps": PAPER_STEPS}
            n = self.paper_runs
        else:
            base = {**self.smoke_overrides, "steps": self.smoke_steps}
            n = self.smoke_runs
        # the gradients need the signals of steps 0 .. 4, survival the final ones: every step
        # up to 10, every 100 after (1/90th of the bytes of every step)
        base.update(signal_every=100, signal_dense_until=10)
        seeds = {"embedding": [self.embedding_seed], "mlp": list(range(n)),
                 "split": list(range(n))}
        return [SweepSpec(name=f"{self.name}-{scale}", base=base, seeds=seeds)]

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        if scale == "paper":
            return [f"{self.paper_runs} runs (the paper gives no count)"]
        out = [f"{self.smoke_runs} runs instead of {self.paper_runs}",
               _steps_deviation(self.smoke_steps, "survival")]
        if self.smoke_threshold != self.threshold:
            out.append(f"survival by final S_k > {self.smoke_threshold:g} instead of "
                       f"> {self.threshold:g}: at step {self.smoke_steps:,} dying frequencies "
                       f"still sit near {self.threshold:g} (S_k > {self.threshold:g} reported "
                       "too)")
        if self.smoke_overrides:
            out.append(f"model changed: {_override_text(self.smoke_overrides)}")
        return out

    def rule_thresholds(self, scale: str) -> dict[str, tuple[str, float]]:
        """Survival rules analysed at ``scale``: label -> (rule, threshold), main rule first."""
        self.check_scale(scale)
        main = self.threshold if scale == "paper" else self.smoke_threshold
        out = {f"S_k > {main:g}": ("absolute", main)}
        if main != self.threshold:
            out[f"S_k > {self.threshold:g}"] = ("absolute", self.threshold)
        out["2x-mean"] = ("2x-mean", self.threshold)
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from ..analysis.gradient import survival_rate_by_gradient
        from ..analysis.survival import frequency_table

        (spec,) = self.specs(scale)
        ids = self.select(store, spec)
        tables = {label: frequency_table(store, ids, rule=rule, threshold=thr,
                                         s_max=max(S_VALUES))
                  for label, (rule, thr) in self.rule_thresholds(scale).items()}
        rules = {label: self._rule_numbers(t) for label, t in tables.items()}
        label = next(iter(tables))
        main, a = tables[label], rules[label]
        rates = survival_rate_by_gradient(main, S_VALUES, bins=self.bins)
        lo, hi = wilson_interval(rates["n_survived"], rates["n"])
        rates = rates.assign(wilson_lo=lo, wilson_hi=hi)
        t_main, svm = a["ttest"][f"s={MAIN_S}"], a["svm"]
        numbers: dict[str, Any] = {
            "runs": len(ids),
            "frequencies": len(main),
            "survival_rule": f"final {label}",
            "survived": a["survived"],
            "dead": a["dead"],
            f"ttest_p_grad_{MAIN_S}": t_main["p_value"],
            f"mean_grad_{MAIN_S}_survived": t_main["mean_survived"],
            f"mean_grad_{MAIN_S}_dead": t_main["mean_dead"],
            "svm_accuracy": None if svm is None else svm["accuracy"],
            "svm_baseline_accuracy": None if svm is None else svm["baseline_accuracy"],
            "by_rule": {k: _rule_summary(r) for k, r in rules.items()},
            "rules": rules,
            "survival_rate_curves": rates.to_dict(orient="records"),
        }
        result = ExperimentResult(self.name, self.number, self.title, scale, len(ids), numbers,
                                  {}, self._claims(label, rules), self.deviations(scale))
        result.figures = self._figures(main, rates, svm, label, result)
        return result

    def _rule_numbers(self, table: pd.DataFrame) -> dict[str, Any]:
        """Counts, Welch's t-test of every grad_s and the SVM of one survival rule."""
        from ..analysis.gradient import gradient_ttest, svm_separation

        alive = table["survived"].to_numpy(bool)
        out: dict[str, Any] = {
            "survived": int(alive.sum()), "dead": int((~alive).sum()),
            "ttest": {f"s={s}": asdict(gradient_ttest(table, s)) for s in S_VALUES},
            "ttest_initial_signal": asdict(gradient_ttest(table, feature="initial_signal")),
        }
        try:
            svm = svm_separation(table, MAIN_S, seed=self.svm_seed)
        except ValueError as exc:
            out["svm"], out["svm_skipped"] = None, str(exc)
        else:
            out["svm"] = {**asdict(svm), "coef": svm.coef.tolist()}
        return out

    def _claims(self, label: str, rules: dict[str, dict[str, Any]]) -> list[Claim]:
        a = rules[label]
        others = [k for k in rules if k != label]
        t = a["ttest"][f"s={MAIN_S}"]
        if not np.isfinite(t["p_value"]):
            obs1, holds1 = (f"t-test undecidable: {a['survived']} survivors, {a['dead']} dead "
                            f"(final {label})"), None
        else:
            holds1 = bool(t["p_value"] < 0.05 and t["mean_survived"] > t["mean_dead"])
            obs1 = (f"mean step-{MAIN_S} gradient {t['mean_survived']:.3g} (survivors, "
                    f"n={t['n_survived']}) vs {t['mean_dead']:.3g} (dead, n={t['n_dead']}); "
                    f"Welch p = {t['p_value']:.2g} (final {label}); criterion: p < 0.05 and the "
                    "survivors' mean higher")
        obs1 += "".join(f"; {k}: p = {rules[k]['ttest'][f's={MAIN_S}']['p_value']:.2g}"
                        for k in others)
        claims = [Claim("Frequencies that survive have larger initial gradients than those "
                        "that die (t-test).", obs1, holds1)]
        svm = a["svm"]
        if svm is None:
            obs2, holds2 = f"SVM skipped: {a['svm_skipped']}", None
        else:
            holds2 = bool(svm["accuracy"] > svm["baseline_accuracy"])
            obs2 = (f"held-out accuracy {svm['accuracy']:.3f} vs majority-class baseline "
                    f"{svm['baseline_accuracy']:.3f} ({svm['n_test']} held out, final "
                    f"{label}); criterion: accuracy above the baseline")
        for k in others:
            o = rules[k]["svm"]
            obs2 += (f"; {k}: skipped" if o is None else
                     f"; {k}: {o['accuracy']:.3f} vs {o['baseline_accuracy']:.3f}")
        claims.append(Claim(f"A linear SVM on (step-{MAIN_S} initial gradient, initial signal) "
                            "separates survivors from the dead.", obs2, holds2))
        return claims

    def _figures(self, table: pd.DataFrame, rates: pd.DataFrame, svm: dict | None,
                 label: str, result: ExperimentResult) -> dict[str, Figure]:
        from ..figures.dynamics import initial_gradient_histograms

        rule = f"survival: final {label.replace('S_k', '$S_k$')}"
        hist = initial_gradient_histograms(table, S_VALUES)
        for ax in hist.axes:  # the panel titles carry the p-values; keep them inside the panel
            ax.title.set_fontsize("medium")
        return {
            "gradient_histograms": _titled(
                hist, f"Initial gradient of survivors and dead frequencies ({rule})", result),
            "survival_rate_curves": _titled(
                survival_rate_panels(rates), f"Survival rate against initial gradient ({rule})",
                result),
            "svm_plane": _titled(
                gradient_signal_plane(table, MAIN_S, svm),
                f"Survivors and the dead on (gradient, initial signal) ({rule})", result),
        }


def _rule_summary(r: dict[str, Any]) -> dict[str, Any]:
    """The key numbers of one survival rule (counts, t-test of grad_4, SVM)."""
    t, svm = r["ttest"][f"s={MAIN_S}"], r["svm"]
    return {"survived": r["survived"], "dead": r["dead"], "ttest_p": t["p_value"],
            "mean_survived": t["mean_survived"], "mean_dead": t["mean_dead"],
            "svm_accuracy": svm and svm["accuracy"],
            "svm_baseline_accuracy": svm and svm["baseline_accuracy"]}


def survival_rate_panels(rates: pd.DataFrame) -> Figure:
    """Survival rate against the binned step-s gradient, one panel per s, with Wilson 95%
    intervals (columns s, center, rate, n, wilson_lo, wilson_hi); each panel names the
    number of (run, frequency) pairs per bin."""
    s_values = sorted(rates["s"].unique())
    fig = _figure(3.2 * max(1, len(s_values)), 3.4)
    axes = fig.subplots(1, max(1, len(s_values)), squeeze=False, sharey=True)[0]
    for ax, s in zip(axes, s_values, strict=False):
        g = rates[rates["s"] == s]
        x, y = g["center"].to_numpy(float), g["rate"].to_numpy(float)
        err = np.vstack([y - g["wilson_lo"].to_numpy(float),
                         g["wilson_hi"].to_numpy(float) - y]).clip(min=0.0)  # rounding
        ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, color=f"C{int(s) - 1}",
                    label="rate, Wilson 95% CI")
        ax.set_title(f"s = {s}: {len(g)} bins, n = {_count_text(g['n'])} each",
                     fontsize="medium")
        ax.set_xlabel(f"initial gradient at step {s} (bin mean)")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("survival rate")
    axes[0].legend(fontsize="small", loc="upper left")
    return fig


def gradient_signal_plane(table: pd.DataFrame, s: int, svm: Mapping[str, Any] | None) -> Figure:
    """Every (run, frequency) on the plane (step-s gradient, initial signal), survivors
    coloured; the SVM's held-out accuracy and baseline in the title."""
    from ..analysis.gradient import grad_column
    from ..figures.dynamics import DEAD_COLOR, SURVIVED_COLOR

    fig = _figure(5.5, 4.4)
    ax = fig.subplots()
    alive = table["survived"].to_numpy(bool)
    x, y = table[grad_column(s)].to_numpy(float), table["initial_signal"].to_numpy(float)
    ax.scatter(x[~alive], y[~alive], s=6, color=DEAD_COLOR, alpha=0.5,
               label=f"dead (n={int((~alive).sum())})")
    ax.scatter(x[alive], y[alive], s=8, color=SURVIVED_COLOR, alpha=0.8,
               label=f"survived (n={int(alive.sum())})")
    ax.set_xlabel(f"initial gradient at step {s}")
    ax.set_ylabel("initial signal $S_k(0)$")
    if svm is None:
        ax.set_title("linear SVM: skipped (too few of one class)", fontsize="medium")
    else:
        ax.set_title(f"linear SVM: held-out accuracy {svm['accuracy']:.3f}, majority baseline "
                     f"{svm['baseline_accuracy']:.3f}", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


# -- experiment 10: circle collaboration ----------------------------------------------------
class Collaboration(Experiment):
    """Experiment 10: losses of the embedding restricted to a few circles, over training.

    One run (all seeds ``seed``) with parameter snapshots every ``snapshot_every`` steps.

    Args:
        paper_steps, paper_snapshot_every: the paper scale (30,000 steps, every 100).
        smoke_steps, smoke_snapshot_every: the smoke scale.
        smoke_overrides: RunConfig fields changed at the smoke scale (listed as deviations).
        seed: the run's embedding, MLP and split seed.
        low_loss_ratio: the claim's criterion: the loss with every survivor kept must be below
            this fraction of the best single circle's loss at the last snapshot.
        device: device of the analysis' forward passes ("cpu" or "cuda").
    """

    name = "collaboration"
    number = 10
    title = "Circle collaboration"

    def __init__(self, *, paper_steps: int = PAPER_STEPS, paper_snapshot_every: int = 100,
                 smoke_steps: int = 3000, smoke_snapshot_every: int = 100,
                 smoke_overrides: Mapping[str, Any] | None = None, seed: int = 0,
                 low_loss_ratio: float = 0.1, device: str = "cpu"):
        self.paper_steps, self.paper_snapshot_every = paper_steps, paper_snapshot_every
        self.smoke_steps, self.smoke_snapshot_every = smoke_steps, smoke_snapshot_every
        self.smoke_overrides = dict(smoke_overrides or {})
        self.seed, self.low_loss_ratio, self.device = seed, low_loss_ratio, device

    def specs(self, scale: str) -> list[SweepSpec]:
        self.check_scale(scale)
        if scale == "paper":
            base = {"steps": self.paper_steps, "snapshot_every": self.paper_snapshot_every}
        else:
            base = {**self.smoke_overrides, "steps": self.smoke_steps,
                    "snapshot_every": self.smoke_snapshot_every}
        seeds = {"embedding": [self.seed], "mlp": [self.seed], "split": [self.seed]}
        return [SweepSpec(name=f"{self.name}-{scale}", base=base, seeds=seeds)]

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        out = []
        steps = self.paper_steps if scale == "paper" else self.smoke_steps
        every = self.paper_snapshot_every if scale == "paper" else self.smoke_snapshot_every
        if steps != PAPER_STEPS:
            out.append(_steps_deviation(steps, "survivors and strongest circle"))
        if every != 100:
            out.append(f"snapshots every {every} steps instead of 100")
        if scale == "smoke" and self.smoke_overrides:
            out.append(f"model changed: {_override_text(self.smoke_overrides)}")
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from ..analysis.collaboration import collaboration_losses, full_loss, restricted_losses

        self.check_scale(scale)
        (spec,) = self.specs(scale)
        (rid,) = self.select(store, spec)
        cfg = store.config(rid)
        if fourier.n_freq(cfg.p) < 3:
            raise ConfigError(f"{self.name}: the collaboration analysis needs at least 3 "
                              f"circles, p = {cfg.p} has {fourier.n_freq(cfg.p)}")
        steps = store.snapshot_steps(rid)
        if not steps:
            raise ConfigError(f"{self.name}: run {rid} has no parameter snapshots")
        snaps = {s: store.snapshot(rid, s) for s in steps}
        res = collaboration_losses(snaps, cfg.activation, final_signal=_last_signal(store, rid),
                                   device=self.device)
        full = full_loss(snaps, cfg.activation, device=self.device)
        kept = res.survivors or res.strongest[:1]
        together = restricted_losses(snaps, [kept], cfg.activation, device=self.device)
        together_df = pd.DataFrame({"step": together.steps, "loss": together.loss[:, 0]})
        numbers = self._numbers(res, full, together_df, cfg, rid)
        result = ExperimentResult(self.name, self.number, self.title, scale, 1, numbers, {},
                                  self._claims(numbers), self.deviations(scale))
        result.figures = {"collaboration": self._figure(res, full, together_df, result)}
        return result

    def _numbers(self, res, full: pd.DataFrame, together: pd.DataFrame, cfg: RunConfig,
                 rid: str) -> dict[str, Any]:
        last = res.losses[res.losses["step"] == res.losses["step"].max()]
        single = last[last["mode"] == "single"].set_index("k")["loss"]
        best_k = int(single.idxmin())
        by_mode = {m: {str(int(k)): float(v) for k, v in g.set_index("k")["loss"].items()}
                   for m, g in last.groupby("mode", sort=False)}
        return {
            "run_id": rid, "p": cfg.p, "d": cfg.d, "steps": cfg.steps,
            "snapshots": len(res.steps), "last_snapshot": int(res.steps[-1]),
            "survivors": res.survivors, "strongest": res.strongest,
            "best_single_k": best_k,
            "best_single_loss": float(single.min()),
            "survivors_together_loss": float(together["loss"].iloc[-1]),
            "full_model_loss": float(full["loss"].iloc[-1]),
            "best_strongest_plus_k_loss": float(last.loc[last["mode"] == "strongest+k",
                                                         "loss"].min()),
            "best_two_strongest_plus_k_loss": float(last.loc[last["mode"] == "two_strongest+k",
                                                             "loss"].min()),
            "last_snapshot_losses": by_mode,
        }

    def _claims(self, n: dict[str, Any]) -> list[Claim]:
        single, together = n["best_single_loss"], n["survivors_together_loss"]
        surv = ", ".join(map(str, n["survivors"]))
        kept = (f"all survivors ({surv}) together {together:.3g}" if surv else
                f"no survivors (the strongest circle alone: {together:.3g})")
        if len(n["survivors"]) < 2:
            holds, verdict = None, "fewer than two survivors: nothing to combine"
        else:
            holds = bool(together < self.low_loss_ratio * single)
            verdict = f"criterion: survivors together below {self.low_loss_ratio:g} x best single"
        observed = (f"at step {n['last_snapshot']:,}: best single circle (k = "
                    f"{n['best_single_k']}) loss {single:.3g}; {kept}; full model "
                    f"{n['full_model_loss']:.3g}; {verdict}")
        return [Claim("Circles collaborate: no single circle reaches a low loss on its own, "
                      "the surviving circles together do.", observed, holds)]

    def _figure(self, res, full: pd.DataFrame, together: pd.DataFrame,
                result: ExperimentResult) -> Figure:
        from ..figures.dynamics import collaboration_figure

        fig = collaboration_figure(res.losses, res.survivors, res.strongest, full=full)
        label = "all survivors" if res.survivors else "strongest circle (no survivors)"
        for ax in fig.axes[:3]:
            ax.plot(together["step"].to_numpy(float), together["loss"].to_numpy(float),
                    color="k", ls=":", lw=1.4, label=label, zorder=4)
            ax.legend(fontsize="x-small", ncol=2)
        return _titled(fig, "Circle collaboration: loss with the embedding restricted to a few "
                       "circles (1 run; survivors coloured, the rest grey)", result)


# -- experiment 11: linear ODE -----------------------------------------------------------------
#: the R^2-against-d grid at the paper scale: numpy.linspace(4, 95, 14) = 4, 11, ..., 95
PAPER_D_GRID = tuple(int(round(d)) for d in np.linspace(4, 95, 14))


class LinearODE(Experiment):
    """Experiment 11: linear dynamics s_{t+1} - s_t = A s_t + b of the early signals.

    Two sweeps: ``ode-SCALE-trajectory`` (one run with the paper's defaults; its first
    ``window`` steps are fitted and drawn) and ``ode-SCALE-r2`` (``runs_per_d`` runs per d,
    seeds 0 .. n-1 for embedding, MLP and split together, trained for ``window`` steps: only
    the fit window is analysed).

    Args:
        paper_steps: steps of the paper-scale trajectory run (30,000, so its survived/dead
            labels are final).
        paper_d, paper_runs_per_d: the paper-scale R^2 grid (d = 4, 11, ..., 95; 10 runs).
        smoke_steps, smoke_d, smoke_runs_per_d: the smoke scale.
        smoke_overrides: RunConfig fields changed at the smoke scale (``d`` applies to the
            trajectory run only).
        window: the fit window, steps 0 .. window (the paper's 1000).
        alpha: the Lasso penalty (the paper's 0.01).
        min_r2: the claim's criterion on the OLS mean R^2.
        seed: seeds of the trajectory run.
    """

    name = "ode"
    number = 11
    title = "Linear ODE of the signal dynamics"

    def __init__(self, *, paper_steps: int = PAPER_STEPS,
                 paper_d: Sequence[int] = PAPER_D_GRID, paper_runs_per_d: int = 10,
                 smoke_steps: int = 3000, smoke_d: Sequence[int] = (4, 34, 64, 95),
                 smoke_runs_per_d: int = 3, smoke_overrides: Mapping[str, Any] | None = None,
                 window: int = 1000, alpha: float = 0.01, min_r2: float = 0.9, seed: int = 0):
        self.paper_steps, self.paper_d = paper_steps, tuple(paper_d)
        self.paper_runs_per_d = paper_runs_per_d
        self.smoke_steps, self.smoke_d = smoke_steps, tuple(smoke_d)
        self.smoke_runs_per_d = smoke_runs_per_d
        self.smoke_overrides = dict(smoke_overrides or {})
        self.window, self.alpha, self.min_r2, self.seed = window, alpha, min_r2, seed
        for steps in (paper_steps, smoke_steps):
            if steps < window:
                raise ConfigError(f"{self.name}: the trajectory run ({steps} steps) must cover "
                                  f"the fit window ({window} steps)")

    def _sizes(self, scale: str) -> tuple[int, tuple[int, ...], int, dict[str, Any]]:
        self.check_scale(scale)
        if scale == "paper":
            return self.paper_steps, self.paper_d, self.paper_runs_per_d, {}
        return self.smoke_steps, self.smoke_d, self.smoke_runs_per_d, self.smoke_overrides

    def specs(self, scale: str) -> list[SweepSpec]:
        steps, ds, runs, over = self._sizes(scale)
        one = [self.seed]
        trajectory = SweepSpec(
            name=f"{self.name}-{scale}-trajectory",
            base={**over, "steps": steps, "signal_every": 1},
            seeds={"embedding": one, "mlp": one, "split": one})
        seeds = list(range(runs))
        r2 = SweepSpec(
            name=f"{self.name}-{scale}-r2",
            base={**{k: v for k, v in over.items() if k != "d"}, "steps": self.window,
                  "signal_every": 1},
            axes={"d": list(ds)}, seeds={"embedding": seeds, "mlp": seeds, "split": seeds})
        return [trajectory, r2]

    def deviations(self, scale: str) -> list[str]:
        steps, ds, runs, over = self._sizes(scale)
        out = [f"R^2 grid d = {', '.join(map(str, ds))} (the paper: d = 4 ... 95)",
               f"R^2 runs trained {self.window:,} steps, the fit window (same analysed data as "
               "full-length runs)"]
        if runs != 10:
            out.append(f"{runs} runs per d instead of 10")
        if steps != PAPER_STEPS:
            out.append(_steps_deviation(steps, "the trajectory's survived/dead labels"))
        if over:
            out.append(f"model changed: {_override_text(over)}")
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from ..analysis.ode import analyse_ode

        trajectory, r2_spec = self.specs(scale)
        (rid,) = self.select(store, trajectory)
        r2_ids = self.select(store, r2_spec)
        cfg = store.config(rid)
        steps, sig = store.signals(rid)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = analyse_ode(sig, steps, cfg.p, window=self.window, alpha=self.alpha)
            except ValueError as exc:
                raise ConfigError(f"{self.name}: run {rid}: {exc}") from None
        notes = sorted({w.category.__name__ for w in caught})
        alive = fourier.survival(sig[-1], cfg.p)[res.ks]
        errors = res.errors.merge(pd.DataFrame({"k": res.ks, "survived": alive}), on="k")
        r2 = self._r2_table(store, r2_ids)
        by_d = (r2.groupby(["d", "method"], sort=True)["r2"]
                .agg(mean="mean", sd="std", runs="count").reset_index())
        numbers = self._numbers(res, errors, by_d, notes, cfg, rid)
        result = ExperimentResult(self.name, self.number, self.title, scale,
                                  1 + len(r2_ids), numbers, {}, [], self.deviations(scale))
        result.claims = self._claims(numbers, by_d)
        result.figures = self._figures(res, alive, r2, result)
        return result

    def _r2_table(self, store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
        """One row per (run, method): run_id, d, method, r2 (mean over frequencies)."""
        from ..analysis.ode import fit_linear_ode

        rows = []
        for rid in run_ids:
            cfg = store.config(rid)
            steps, sig = store.signals(rid)
            for method in ("lasso", "ols"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        fit = fit_linear_ode(sig, steps, cfg.p, window=self.window,
                                             method=method, alpha=self.alpha)
                    except ValueError as exc:
                        raise ConfigError(f"{self.name}: run {rid}: {exc}") from None
                rows.append({"run_id": rid, "d": cfg.d, "method": method, "r2": fit.r2_mean})
        return pd.DataFrame(rows, columns=["run_id", "d", "method", "r2"])

    def _numbers(self, res, errors: pd.DataFrame, by_d: pd.DataFrame, notes: list[str],
                 cfg: RunConfig, rid: str) -> dict[str, Any]:
        med = errors.groupby("prediction")["rmse"].median()
        return {
            "run_id": rid, "p": cfg.p, "d": cfg.d, "steps": cfg.steps, "window": self.window,
            "alpha": self.alpha,
            "r2_ols": res.ols.r2_mean, "r2_lasso": res.lasso.r2_mean,
            "ols_identifiable": res.ols.identifiable, "ols_condition": res.ols.condition,
            "lasso_nonzero_coefficients": int(np.count_nonzero(res.lasso.A)),
            "median_rmse_lasso_rollout": float(med.get("lasso_rollout", np.nan)),
            "median_rmse_ols_rollout": float(med.get("ols_rollout", np.nan)),
            "median_rmse_lasso_analytic": float(med.get("lasso_analytic", np.nan)),
            "mean_signal_in_window": float(res.true.mean()),
            "survivors": [int(k) for k in errors.loc[errors["survived"], "k"].unique()],
            "r2_per_frequency": {"lasso": dict(zip(res.ks.tolist(), res.lasso.r2.tolist(),
                                                   strict=True)),
                                 "ols": dict(zip(res.ks.tolist(), res.ols.r2.tolist(),
                                                 strict=True))},
            "rollout_errors": errors.to_dict(orient="records"),
            "r2_by_d": by_d.to_dict(orient="records"),
            "notes": notes,
        }

    def _claims(self, n: dict[str, Any], by_d: pd.DataFrame) -> list[Claim]:
        ols, lasso = n["r2_ols"], n["r2_lasso"]
        c1 = Claim(
            f"A linear ODE s_(t+1) - s_t = A s_t + b fits the first {self.window} steps of the "
            "signals well (Lasso alpha = 0.01 and OLS).",
            f"mean R^2 over the {len(n['r2_per_frequency']['ols'])} frequencies: OLS "
            f"{ols:.3f}, Lasso {lasso:.3f}; median rollout RMSE Lasso "
            f"{n['median_rmse_lasso_rollout']:.3g}, OLS {n['median_rmse_ols_rollout']:.3g} "
            f"(mean signal {n['mean_signal_in_window']:.3g}); criterion: OLS mean R^2 > "
            f"{self.min_r2:g}",
            bool(ols > self.min_r2) if np.isfinite(ols) else None)
        o = by_d[by_d["method"] == "ols"]
        if o.empty:
            return [c1]
        worst = o.loc[o["mean"].idxmin()]
        c2 = Claim(
            "The linear fit is good across embedding widths d (R^2 against d).",
            f"OLS mean R^2 per d from {o['mean'].min():.3f} (d = {int(worst['d'])}) to "
            f"{o['mean'].max():.3f}, {_count_text(o['runs'])} runs per d; "
            f"criterion: mean OLS R^2 > {self.min_r2:g} at every d",
            bool((o["mean"] > self.min_r2).all()))
        return [c1, c2]

    def _figures(self, res, alive: np.ndarray, r2: pd.DataFrame,
                 result: ExperimentResult) -> dict[str, Figure]:
        from ..figures.dynamics import ode_coefficients, ode_trajectories, r2_vs_d

        traj = ode_trajectories(res.steps, res.true, res.predictions, res.ks, survived=alive)
        coef = ode_coefficients(res.lasso.A, res.ks,
                                title=f"Lasso coefficients A (alpha = {self.alpha:g})")
        labels = {"lasso": f"Lasso (alpha = {self.alpha:g})", "ols": "OLS"}
        runs = _count_text(r2.groupby("d")["run_id"].nunique())
        curve = r2_vs_d(r2.assign(method=r2["method"].map(labels)),
                        title=f"R^2 against d ({runs} runs per d, mean ± SD)")
        return {
            "ode_trajectories": _titled(
                traj, f"Signals and the fitted linear dynamics over steps 0-{self.window} "
                "(1 run; labels from its final signal)", result),
            "ode_coefficients": _titled(coef, "Fitted coefficient matrix A", result),
            "ode_r2_vs_d": _titled(curve, "Fit quality of the linear ODE", result),
        }


EXPERIMENTS: list[Experiment] = [InitialGradient(), Collaboration(), LinearODE()]
