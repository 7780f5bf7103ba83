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

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import fourier
from ..analysis.stats import wilson_interval
from ..config import RunConfig
from ..errors import ConfigError
from ..figures.base import DEAD_COLOR, SURVIVED_COLOR, figure, titled
from ..store import Store
from ..sweep import SweepSpec
from .base import (
    ALPHA,
    FRESH_EMBEDDING,
    PAPER_STEPS,
    Claim,
    Experiment,
    ExperimentResult,
    fresh_embedding_seeds,
    scale_note,
    seed10_recording,
    seed10_spec,
)

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


def _count_text(counts) -> str:
    """'10' when every count is 10, else '9-11'."""
    c = np.asarray(counts, dtype=int)
    return f"{c.min()}" if c.min() == c.max() else f"{c.min()}-{c.max()}"


def _last_signal(store: Store, run_id: str) -> np.ndarray:
    """The final recorded signal vector (p//2 + 1,) of a run."""
    return store.signals(run_id)[1][-1]


# -- experiment 8: initial gradient ----------------------------------------------------------
class InitialGradient(Experiment):
    """Experiment 8: survival against the initial gradient of each frequency.

    One fixed embedding (``embedding_seed`` 0) and two sets of runs, as the authors ran them:
    one varying only the MLP init (``mlp_seed`` 0 .. n-1, split seed 0), one varying only the
    split (``split_seed`` 0 .. n-1, MLP seed 0); the run with all seeds 0 belongs to both
    and trains once. The paper gives no run count; the paper scale takes ``paper_runs`` per
    set. Survival by the absolute rule (final S_k > 10); Student's two-sample t-test; the
    survival-rate curves over 20 equal-width bins; the authors' SVM (unscaled
    ``SVC(kernel="linear")``, 80/20 split, random_state 42) and, next to it, a standardised
    ``LinearSVC`` on a stratified split; each against the majority-class baseline with an
    exact binomial test.

    Args:
        paper_runs: runs per set at the paper scale.
        smoke_runs, smoke_steps: runs per set and steps at the smoke scale.
        smoke_overrides: RunConfig fields changed at the smoke scale (e.g. a tiny model in
            tests); listed among the deviations.
        embedding_seed: the fixed embedding.
        threshold: the absolute survival rule's threshold (the paper's 10).
        smoke_threshold: the threshold of the smoke scale's main analysis. After a few thousand
            steps the dying frequencies still sit near 10 (they decay slowly towards 0 over
            30,000 steps) while survivors are above 60, so S_k > 10 mislabels many dying
            frequencies as survivors; the smoke scale judges survival by S_k > 30 and reports
            S_k > 10 and the 2x-mean rule beside it.
        bins: equal-width bins of the survival-rate curves (the authors' 20).
        svm_seed: seed of the standardised SVM's held-out split.
    """

    name = "initial-gradient"
    number = 8
    title = "Initial gradient and survival"
    #: the two sets: name -> the seed that varies
    sets = {"mlp": "mlp", "split": "split"}

    def __init__(self, *, paper_runs: int = 500, smoke_runs: int = 8, smoke_steps: int = 2500,
                 smoke_overrides: Mapping[str, Any] | None = None, embedding_seed: int = 0,
                 threshold: float = 10.0, smoke_threshold: float = 30.0, bins: int = 20,
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
        out = []
        for name, varied in self.sets.items():
            seeds = {"embedding": [self.embedding_seed], "mlp": [0], "split": [0],
                     varied: list(range(n))}
            out.append(SweepSpec(name=f"{self.name}-{scale}-{name}", base=dict(base),
                                 seeds=seeds))
        return out

    def deviations(self, scale: str) -> list[str]:
        self.check_scale(scale)
        if scale == "paper":
            return [f"{self.paper_runs} runs per set (the paper gives no run count)"]
        out = [f"{self.smoke_runs} runs per set instead of {self.paper_runs}",
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

    def set_ids(self, store: Store, scale: str) -> dict[str, list[str]]:
        """Set name -> its run ids (all must be in ``store``)."""
        return {name: self.select(store, spec)
                for name, spec in zip(self.sets, self.specs(scale), strict=True)}

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from ..analysis.gradient import survival_rate_by_gradient
        from ..analysis.survival import frequency_table

        by_set = self.set_ids(store, scale)
        ids = list(dict.fromkeys(r for v in by_set.values() for r in v))
        tables = {label: frequency_table(store, ids, rule=rule, threshold=thr,
                                         s_max=max(S_VALUES))
                  for label, (rule, thr) in self.rule_thresholds(scale).items()}
        rules = {label: self._rule_numbers(t) for label, t in tables.items()}
        label = next(iter(tables))
        main, a = tables[label], rules[label]
        per_set = {name: self._rule_numbers(main[main["run_id"].isin(set_ids)])
                   for name, set_ids in by_set.items()}
        rates = survival_rate_by_gradient(main, S_VALUES, bins=self.bins, binning="width")
        lo, hi = wilson_interval(rates["n_survived"], rates["n"])
        rates = rates.assign(wilson_lo=lo, wilson_hi=hi)
        t_main, svm = a["ttest"][f"s={MAIN_S}"], a["svm"]
        numbers: dict[str, Any] = {
            "runs": len(ids),
            "runs_per_set": {k: len(v) for k, v in by_set.items()},
            "frequencies": len(main),
            "survival_rule": f"final {label}",
            "survived": a["survived"],
            "dead": a["dead"],
            f"ttest_p_grad_{MAIN_S}": t_main["p_value"],
            f"mean_grad_{MAIN_S}_survived": t_main["mean_survived"],
            f"mean_grad_{MAIN_S}_dead": t_main["mean_dead"],
            "svm_accuracy": None if svm is None else svm["accuracy"],
            "svm_baseline_accuracy": None if svm is None else svm["baseline_accuracy"],
            "svm_p_value": None if svm is None else svm["p_value"],
            "by_rule": {k: _rule_summary(r) for k, r in rules.items()},
            "by_set": {k: _rule_summary(r) for k, r in per_set.items()},
            "rules": rules,
            "survival_rate_curves": rates.to_dict(orient="records"),
        }
        result = ExperimentResult(self.name, self.number, self.title, scale, len(ids), numbers,
                                  {}, self._claims(label, rules, per_set),
                                  self.deviations(scale))
        result.figures = self._figures(main, rates, svm, label, result)
        return result

    def _rule_numbers(self, table: pd.DataFrame) -> dict[str, Any]:
        return gradient_numbers(table, MAIN_S, svm_seed=self.svm_seed)

    def _claims(self, label: str, rules: dict[str, dict[str, Any]],
                per_set: dict[str, dict[str, Any]]) -> list[Claim]:
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
                    f"Student p = {t['p_value']:.2g} (final {label})")
        obs1 += "".join(f"; {k}: p = {rules[k]['ttest'][f's={MAIN_S}']['p_value']:.2g}"
                        for k in others)
        obs1 += "".join(f"; {k}-varied set: p = {r['ttest'][f's={MAIN_S}']['p_value']:.2g}"
                        for k, r in per_set.items())
        claims = [Claim("Frequencies that survive have larger initial gradients than those "
                        "that die.", obs1, holds1,
                        f"Student's two-sample t-test of the step-{MAIN_S} gradient p < 0.05 "
                        "and the survivors' mean higher (both sets together)")]
        svm, std = a["svm"], a["svm_standardised"]
        if svm is None:
            obs2, holds2 = f"SVM skipped: {a['svm_skipped']}", None
        else:
            holds2 = bool(svm["accuracy"] > svm["baseline_accuracy"] and svm["p_value"] < ALPHA)
            obs2 = (f"the authors' SVM: held-out accuracy {svm['accuracy']:.3f} vs majority "
                    f"baseline {svm['baseline_accuracy']:.3f} ({svm['n_test']} held out), "
                    f"binomial p = {svm['p_value']:.2g}")
        if std is not None:
            obs2 += (f"; standardised LinearSVC (stratified split): {std['accuracy']:.3f} vs "
                     f"{std['baseline_accuracy']:.3f}, p = {std['p_value']:.2g}")
        for k in others:
            o = rules[k]["svm"]
            obs2 += (f"; {k}: skipped" if o is None else
                     f"; {k}: {o['accuracy']:.3f} vs {o['baseline_accuracy']:.3f}")
        claims.append(Claim(f"A linear SVM on (step-{MAIN_S} initial gradient, initial signal) "
                            "separates survivors from the dead.", obs2, holds2,
                            "the authors' SVM (SVC(kernel='linear'), unscaled, 80/20, "
                            "random_state 42) beats the majority-class baseline on the held-out "
                            "fifth, one-sided exact binomial test p < 0.05"))
        return claims

    def _figures(self, table: pd.DataFrame, rates: pd.DataFrame, svm: dict | None,
                 label: str, result: ExperimentResult) -> dict[str, Figure]:
        from ..figures.dynamics import initial_gradient_histograms

        rule = f"survival: final {label.replace('S_k', '$S_k$')}"
        note = scale_note(result)
        hist = initial_gradient_histograms(table, S_VALUES, equal_var=True)
        for ax in hist.axes:  # the panel titles carry the p-values; keep them inside the panel
            ax.title.set_fontsize("medium")
        return {
            "gradient_histograms": titled(
                hist, f"Initial gradient of survivors and dead frequencies ({rule})", note),
            "survival_rate_curves": titled(
                survival_rate_panels(rates), f"Survival rate against initial gradient ({rule}; "
                f"{self.bins} equal-width bins)", note),
            "svm_plane": titled(
                gradient_signal_plane(table, MAIN_S, svm),
                f"Survivors and the dead on (gradient, initial signal) ({rule})", note),
        }

def gradient_numbers(table: pd.DataFrame, s: int = MAIN_S, *, s_values: Sequence[int] = S_VALUES,
                     equal_var: bool = True, svm_seed: int = 0) -> dict[str, Any]:
    """Experiment 8's numbers for one set of (run, frequency) rows: counts, the two-sample
    t-test of every grad_s (Student's by default, the authors'; Welch's with
    ``equal_var=False``) and of the initial signal, the authors' SVM ("svm") and the
    standardised SVM ("svm_standardised") on (grad_s, initial signal). A skipped SVM is None
    with its reason under "<key>_skipped"."""
    from ..analysis.gradient import gradient_ttest, svm_authors, svm_separation

    alive = table["survived"].to_numpy(bool)
    out: dict[str, Any] = {
        "runs": int(table["run_id"].nunique()), "frequencies": len(table),
        "survived": int(alive.sum()), "dead": int((~alive).sum()),
        "ttest": {f"s={v}": asdict(gradient_ttest(table, v, equal_var=equal_var))
                  for v in sorted({*s_values, s})},
        "ttest_initial_signal": asdict(gradient_ttest(table, feature="initial_signal",
                                                      equal_var=equal_var)),
    }
    for key, fit in (("svm", lambda: svm_authors(table, s)),
                     ("svm_standardised", lambda: svm_separation(
                         table, s, test_size=0.2, seed=svm_seed))):
        try:
            res = fit()
        except ValueError as exc:
            out[key], out[f"{key}_skipped"] = None, str(exc)
        else:
            out[key] = {**asdict(res), "coef": res.coef.tolist()}
    return out


def _rule_summary(r: dict[str, Any]) -> dict[str, Any]:
    """The key numbers of one survival rule (counts, t-test of grad_4, SVM)."""
    t, svm = r["ttest"][f"s={MAIN_S}"], r["svm"]
    return {"survived": r["survived"], "dead": r["dead"], "ttest_p": t["p_value"],
            "mean_survived": t["mean_survived"], "mean_dead": t["mean_dead"],
            "svm_accuracy": svm and svm["accuracy"],
            "svm_baseline_accuracy": svm and svm["baseline_accuracy"],
            "svm_p_value": svm and svm["p_value"]}


def survival_rate_panels(rates: pd.DataFrame) -> Figure:
    """Survival rate against the binned step-s gradient, one panel per s, with Wilson 95%
    intervals (columns s, center, rate, n, wilson_lo, wilson_hi); each panel names the
    number of (run, frequency) pairs per bin."""
    s_values = sorted(rates["s"].unique())
    fig = figure(3.2 * max(1, len(s_values)), 3.4)
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
    fig = figure(5.5, 4.4)
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

    The authors' seed-10 run (fresh embedding seed 10, MLP and split seed 0), 30,000 steps at
    both scales, parameter snapshots every 100 steps: the same run as experiment 1 (one
    config, trained once). At each snapshot the embedding is restricted (constant term kept)
    to one circle k, to {c1, k} and to {c1, c3, k}, c1 and c3 the run's strongest and
    third-strongest final circles, and that snapshot's MLP is run on all p^2 pairs.

    Args:
        smoke_steps: steps at the smoke scale (the paper's 30,000).
        smoke_overrides: RunConfig fields changed at the smoke scale (listed as deviations).
        embedding_seed: the fresh embedding's seed (the authors' 10).
        pair_rank: rank of the second base circle (3: the authors' third-strongest).
        device: device of the analysis' forward passes ("cpu" or "cuda").
    """

    name = "collaboration"
    number = 10
    title = "Circle collaboration"

    def __init__(self, *, smoke_steps: int = PAPER_STEPS,
                 smoke_overrides: Mapping[str, Any] | None = None, embedding_seed: int = 10,
                 pair_rank: int = 3, device: str = "cpu"):
        self.smoke_steps = smoke_steps
        self.smoke_overrides = dict(smoke_overrides or {})
        self.embedding_seed, self.pair_rank, self.device = embedding_seed, pair_rank, device

    def steps(self, scale: str) -> int:
        self.check_scale(scale)
        return PAPER_STEPS if scale == "paper" else self.smoke_steps

    def specs(self, scale: str) -> list[SweepSpec]:
        steps = self.steps(scale)
        over = self.smoke_overrides if scale == "smoke" else {}
        base = {**over, "steps": steps, **seed10_recording(steps)}
        return [seed10_spec(self.name, scale, base, self.embedding_seed)]

    def deviations(self, scale: str) -> list[str]:
        out = []
        if self.steps(scale) != PAPER_STEPS:
            out.append(_steps_deviation(self.steps(scale), "survivors and strongest circles"))
        if self.pair_rank != 3:
            out.append(f"second base circle of rank {self.pair_rank} instead of the "
                       "third-strongest")
        if scale == "smoke" and self.smoke_overrides:
            out.append(f"model changed: {_override_text(self.smoke_overrides)}")
        return out

    def analyze(self, store: Store, scale: str) -> ExperimentResult:
        from ..analysis.collaboration import collaboration_losses, full_loss, restricted_losses

        (rid,) = self.select(store, self.specs(scale)[0])
        cfg = store.config(rid)
        if fourier.n_freq(cfg.p) < 3:
            raise ConfigError(f"{self.name}: the collaboration analysis needs at least 3 "
                              f"circles, p = {cfg.p} has {fourier.n_freq(cfg.p)}")
        steps = store.snapshot_steps(rid)
        if not steps:
            raise ConfigError(f"{self.name}: run {rid} has no parameter snapshots")
        snaps = {s: store.snapshot(rid, s) for s in steps}
        res = collaboration_losses(snaps, cfg.activation, final_signal=_last_signal(store, rid),
                                   device=self.device, pair_rank=self.pair_rank)
        full = full_loss(snaps, cfg.activation, device=self.device)
        kept = res.survivors or res.strongest[:1]
        together = restricted_losses(snaps, [kept], cfg.activation, device=self.device)
        together_df = pd.DataFrame({"step": together.steps, "loss": together.loss[:, 0]})
        numbers = self._numbers(res, full, together_df, cfg, rid)
        result = ExperimentResult(self.name, self.number, self.title, scale, 1, numbers, {},
                                  self._claims(numbers), self.deviations(scale))
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
            ax.legend(fontsize="x-small", ncol=2)
        return titled(fig, "Circle collaboration: loss with the embedding restricted to a few "
                      "circles (1 run; survivors coloured, the rest grey)", scale_note(result))


# -- experiment 11: linear ODE -----------------------------------------------------------------
#: the R^2-against-d grid at the paper scale: every integer d from 4 to 95
PAPER_D_GRID = tuple(range(4, 96))
#: the three fits: method -> label
FITS = {"lasso": "Lasso (α = 0.01)", "lasso0": "Lasso(α = 0), the authors' linear regression",
        "ols": "exact least squares"}
#: the fits the paper shows (judged on their rollouts and analytic solutions)
PAPER_FITS = ("lasso", "lasso0")


class LinearODE(Experiment):
    """Experiment 11: linear dynamics s_{t+1} - s_t = A s_t + b of the early signals.

    Two sweeps: ``ode-SCALE-trajectory`` (the authors' seed-1 run: fresh embedding seed 1,
    MLP and split seed 0, 30,000 steps at both scales; its first ``window`` steps are fitted
    and drawn) and ``ode-SCALE-r2`` (``runs_per_d`` runs per d, everything redrawn with seeds
    0 .. n-1, trained for ``window`` steps: only the fit window is analysed, and training is
    deterministic, so these are the first steps of full-length runs).

    Three fits (``analysis.ode``): Lasso (α = 0.01), the authors' ``Lasso(alpha=0)`` and the
    exact least squares. The claims judge what the paper shows, for the two fits it uses: the
    fitted map rolled out from s_0 and the analytic solution (as the authors computed it)
    follow the true signals; one-step R^2 of all three is reported.

    Args:
        paper_d, paper_runs_per_d: the paper-scale R^2 grid (every d from 4 to 95; 10 runs).
        smoke_steps, smoke_d, smoke_runs_per_d: the smoke scale.
        smoke_overrides: RunConfig fields changed at the smoke scale (``d`` applies to the
            trajectory run only).
        window: the fit window, steps 0 .. window (the paper's 1000).
        alpha: the Lasso penalty (the paper's 0.01).
        max_rel_rmse: the claims' criterion: the median over frequencies of a prediction's
            RMSE over the window divided by the mean true signal.
        min_r2: the criterion on the mean R^2 of the authors' fit at every d.
        embedding_seed: the trajectory run's fresh embedding seed (the authors' 1).
    """

    name = "ode"
    number = 11
    title = "Linear ODE of the signal dynamics"

    def __init__(self, *, paper_d: Sequence[int] = PAPER_D_GRID, paper_runs_per_d: int = 10,
                 smoke_steps: int = PAPER_STEPS, smoke_d: Sequence[int] = (4, 34, 64, 95),
                 smoke_runs_per_d: int = 3, smoke_overrides: Mapping[str, Any] | None = None,
                 window: int = 1000, alpha: float = 0.01, max_rel_rmse: float = 0.05,
                 min_r2: float = 0.9, embedding_seed: int = 1):
        self.paper_d = tuple(paper_d)
        self.paper_runs_per_d = paper_runs_per_d
        self.smoke_steps, self.smoke_d = smoke_steps, tuple(smoke_d)
        self.smoke_runs_per_d = smoke_runs_per_d
        self.smoke_overrides = dict(smoke_overrides or {})
        self.window, self.alpha = window, alpha
        self.max_rel_rmse, self.min_r2 = max_rel_rmse, min_r2
        self.embedding_seed = embedding_seed
        if smoke_steps < window:
            raise ConfigError(f"{self.name}: the trajectory run ({smoke_steps} steps) must "
                              f"cover the fit window ({window} steps)")

    def _sizes(self, scale: str) -> tuple[int, tuple[int, ...], int, dict[str, Any]]:
        self.check_scale(scale)
        if scale == "paper":
            return PAPER_STEPS, self.paper_d, self.paper_runs_per_d, {}
        return self.smoke_steps, self.smoke_d, self.smoke_runs_per_d, self.smoke_overrides

    def specs(self, scale: str) -> list[SweepSpec]:
        steps, ds, runs, over = self._sizes(scale)
        trajectory = SweepSpec(
            name=f"{self.name}-{scale}-trajectory",
            base={**over, **FRESH_EMBEDDING, "steps": steps, "signal_every": 1},
            seeds=fresh_embedding_seeds(self.embedding_seed))
        seeds = list(range(runs))
        r2 = SweepSpec(
            name=f"{self.name}-{scale}-r2",
            base={**{k: v for k, v in over.items() if k != "d"}, "steps": self.window,
                  "signal_every": 1},
            axes={"d": list(ds)}, seeds={"embedding": seeds, "mlp": seeds, "split": seeds})
        return [trajectory, r2]

    def deviations(self, scale: str) -> list[str]:
        steps, ds, runs, over = self._sizes(scale)
        out = [f"R^2 runs trained {self.window:,} steps, the fit window (the same data as the "
               "first steps of full-length runs)"]
        if tuple(ds) != PAPER_D_GRID:
            out.append(f"R^2 grid d = {', '.join(map(str, ds))} instead of every d from 4 to "
                       "95")
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
        r2 = r2_table(store, r2_ids, self.window, self.alpha)
        by_d = r2_by_d(r2)
        numbers = self._numbers(res, errors, by_d, notes, cfg, rid)
        result = ExperimentResult(self.name, self.number, self.title, scale,
                                  1 + len(r2_ids), numbers, {}, [], self.deviations(scale))
        result.claims = self._claims(numbers, by_d)
        result.figures = self._figures(res, alive, r2, result)
        return result

    def _numbers(self, res, errors: pd.DataFrame, by_d: pd.DataFrame, notes: list[str],
                 cfg: RunConfig, rid: str) -> dict[str, Any]:
        mean_signal = float(res.true.mean())
        med = (errors.groupby("prediction")["rmse"].median() / mean_signal).to_dict()
        return {
            "run_id": rid, "p": cfg.p, "d": cfg.d, "steps": cfg.steps, "window": self.window,
            "embedding_seed": cfg.embedding_seed, "init_scheme": cfg.init_scheme,
            "alpha": self.alpha,
            "r2": {m: fit.r2_mean for m, fit in res.fits.items()},
            "ols_identifiable": res.ols.identifiable, "ols_condition": res.ols.condition,
            "nonzero_coefficients": {m: int(np.count_nonzero(fit.A))
                                     for m, fit in res.fits.items()},
            "median_relative_rmse": med,
            "mean_signal_in_window": mean_signal,
            "survivors": [int(k) for k in errors.loc[errors["survived"], "k"].unique()],
            "r2_per_frequency": {m: dict(zip(res.ks.tolist(), fit.r2.tolist(), strict=True))
                                 for m, fit in res.fits.items()},
            "rollout_errors": errors.to_dict(orient="records"),
            "r2_by_d": by_d.to_dict(orient="records"),
            "notes": notes,
        }

    def _claims(self, n: dict[str, Any], by_d: pd.DataFrame) -> list[Claim]:
        med, r2 = n["median_relative_rmse"], n["r2"]
        r2_text = ", ".join(f"{FITS[m]} {r2[m]:.4f}" for m in FITS)
        claims = []
        for kind, what in (("rollout", "The fitted linear map, iterated from s_0, follows the "
                                       "true signals"),
                           ("analytic_authors", "The analytic solution e^{At}s_0 + "
                                                "(e^{At} − I)A⁻¹b (as the authors computed it, "
                                                "A + 10⁻⁸ I) follows the true signals")):
            vals = {m: med.get(f"{m}_{kind}", math.nan) for m in PAPER_FITS}
            ok = [v <= self.max_rel_rmse for v in vals.values() if math.isfinite(v)]
            holds = bool(all(ok)) if len(ok) == len(vals) else False
            claims.append(Claim(
                f"{what} over the first {self.window:,} steps.",
                "median relative RMSE: " + ", ".join(f"{FITS[m]} {v:.3g}"
                                                     for m, v in vals.items())
                + f" (one-step R^2: {r2_text}).", holds,
                f"for Lasso (α = 0.01) and Lasso(α = 0), the median over frequencies of the "
                f"RMSE over the window divided by the mean signal ≤ {self.max_rel_rmse:g}"))
        a = by_d[by_d["method"] == "lasso0"]
        if not a.empty:
            worst = a.loc[a["mean"].idxmin()]
            others = "; ".join(
                f"{FITS[m]}: from {g['mean'].min():.3f} to {g['mean'].max():.3f}"
                for m, g in by_d.groupby("method") if m != "lasso0")
            claims.append(Claim(
                "The linear fit is good across embedding widths d (R^2 against d).",
                f"{FITS['lasso0']}: mean R^2 per d from {a['mean'].min():.3f} (d = "
                f"{int(worst['d'])}) to {a['mean'].max():.3f}, {_count_text(a['runs'])} runs "
                f"per d; {others}.",
                bool((a["mean"] > self.min_r2).all()),
                f"mean one-step R^2 of the authors' fit (Lasso(α = 0)) > {self.min_r2:g} at "
                "every d"))
        return claims

    def _figures(self, res, alive: np.ndarray, r2: pd.DataFrame,
                 result: ExperimentResult) -> dict[str, Figure]:
        from ..figures.dynamics import ode_coefficients, ode_trajectories, r2_vs_d

        note = scale_note(result)
        traj = ode_trajectories(res.steps, res.true, res.predictions, res.ks, survived=alive)
        coef = ode_coefficients(res.lasso.A, res.ks,
                                title=f"Lasso coefficients A (α = {self.alpha:g})")
        runs = _count_text(r2.groupby("d")["run_id"].nunique())
        curve = r2_vs_d(r2.assign(method=r2["method"].map(FITS)),
                        title=f"R^2 against d ({runs} runs per d, mean ± SD)")
        return {
            "ode_trajectories": titled(
                traj, f"Signals and the fitted linear dynamics over steps 0-{self.window} "
                "(1 run; labels from its final signal)", note),
            "ode_coefficients": titled(coef, "Fitted coefficient matrix A", note),
            "ode_r2_vs_d": titled(curve, "Fit quality of the linear ODE", note),
        }


def r2_table(store: Store, run_ids: Sequence[str], window: int, alpha: float,
             methods: Sequence[str] = tuple(FITS)) -> pd.DataFrame:
    """One-step R^2 (mean over frequencies) of every fit of every run: one row per (run,
    method) with run_id, p, d, the three seeds, method, r2, identifiable; the Lasso fits use
    the authors' settings. The runs must cover the window (ConfigError otherwise)."""
    from ..analysis.ode import AUTHORS_LASSO, fit_linear_ode

    rows = []
    for rid in run_ids:
        cfg = store.config(rid)
        if cfg.steps < window:
            raise ConfigError(f"run {rid} has {cfg.steps} steps, fewer than the window "
                              f"{window}; choose --window {cfg.steps} or less")
    for rid in run_ids:
        cfg = store.config(rid)
        steps, sig = store.signals(rid)
        for method in methods:
            extra = {} if method == "ols" else AUTHORS_LASSO
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fit = fit_linear_ode(sig, steps, cfg.p, window=window, method=method,
                                         alpha=alpha, **extra)
                except ValueError as exc:
                    raise ConfigError(f"run {rid}: {exc}") from None
            rows.append({"run_id": rid, "p": cfg.p, "d": cfg.d,
                         "embedding_seed": cfg.embedding_seed, "mlp_seed": cfg.mlp_seed,
                         "split_seed": cfg.split_seed, "method": method, "r2": fit.r2_mean,
                         "identifiable": fit.identifiable})
    return pd.DataFrame(rows, columns=["run_id", "p", "d", "embedding_seed", "mlp_seed",
                                       "split_seed", "method", "r2", "identifiable"])


def r2_by_d(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, SD and count of R^2 per (d, method): columns d, method, mean, sd, runs."""
    g = results.groupby(["d", "method"], sort=True)["r2"]
    out = g.agg(mean="mean", sd="std", runs="count").reset_index()
    return out[["d", "method", "mean", "sd", "runs"]]


EXPERIMENTS: list[Experiment] = [InitialGradient(), Collaboration(), LinearODE()]
