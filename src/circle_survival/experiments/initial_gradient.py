"""Experiment 8 of the paper: survival against the initial gradient of each frequency, over two
sets of runs on one fixed embedding (MLP varied; split varied), each analysed on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.stats import wilson_interval
from ..figures.base import titled
from ..fourier import AUTHORS_RULE, CircleRule
from ..store import Store
from ..sweep import SweepSpec
from .departures import PAPER_STEPS, single_steps_deviation
from .preset import Experiment, Sizes
from .result import Claim, ExperimentResult, scale_note
from .texts import override_text
from .verdicts import ALPHA, scale_verdict

#: the steps s of the gradient histograms and survival-rate curves
S_VALUES = (1, 2, 3, 4)
#: the step s of the paper's main gradient analysis (t-test, SVM)
MAIN_S = 4
#: the paper's survival rule: final S_k above this
THRESHOLD = 10.0
#: the two sets of runs (the MLP-varied one is the paper's figures') and the pooled view
SET_NAMES = ("mlp", "split")
PAPER_SET = "mlp"
SET_LABELS = {"mlp": "MLP-varied set", "split": "split-varied set", "pooled": "both sets pooled"}
#: where each set's claims come from
SET_SOURCES = {"mlp": "the paper's figures", "split": "the authors' script analyses it too"}
FIGURE_SUFFIX = {"mlp": "", "split": "_split"}
#: how the analysis departs from a pooled reading
PER_SET_NOTE = ("each set of runs analysed on its own, as the authors' script does (the "
                "MLP-varied set is the paper's figures'; the split-varied set beside it, both "
                "pooled as an extra)")


@dataclass(frozen=True, kw_only=True)
class GradientSizes(Sizes):
    """Sizes of experiment 8: ``runs`` per set and the threshold of the main survival rule
    (final S_k > ``threshold``)."""

    runs: int = 500
    threshold: float = THRESHOLD


#: the paper gives no run count: 500 runs per set, 30,000 steps, survival by S_k > 10
PAPER = GradientSizes(scale="paper")
#: after a few thousand steps the dying frequencies still sit near 10, survivors above 60:
#: survival judged by S_k > 30 (S_k > 10 and the 2x-mean rule reported beside it)
SMOKE = GradientSizes(scale="smoke", runs=8, steps=2500, threshold=30.0, refutes=False)


class InitialGradient(Experiment):
    """Experiment 8: survival against the initial gradient of each frequency.

    One fixed embedding (``embedding_seed`` 0) and two sets of runs, as the authors ran them:
    one varying only the MLP init (``mlp_seed`` 0 .. n-1, split seed 0), one varying only the
    split (``split_seed`` 0 .. n-1, MLP seed 0); the run with all seeds 0 belongs to both
    and trains once. The paper gives no run count; the paper scale takes 500 per
    set. Each set is analysed on its own, as the authors' script does (the MLP-varied set is
    the paper's figures'; the split-varied set beside it, both pooled as an extra): survival
    by the absolute rule (final S_k > 10); Student's two-sample t-test; the survival-rate
    curves over 20 equal-width bins; the authors' SVM (unscaled ``SVC(kernel="linear")`` on
    the features rounded to 5 decimals, 80/20 split, random_state 42) and, next to it, a
    standardised ``LinearSVC`` on a stratified split; each against the majority-class
    baseline with an exact binomial test.

    Args:
        smoke, paper: the sizes at each scale (:class:`GradientSizes`: runs per set, steps,
            config fields changed (listed among the deviations), the main rule's threshold).
            The smoke scale's threshold is 30: after a few thousand steps the dying
            frequencies still sit near 10 (they decay slowly towards 0 over 30,000 steps)
            while survivors are above 60, so S_k > 10 mislabels many dying frequencies as
            survivors; S_k > 10 and the 2x-mean rule are reported beside it.
        embedding_seed: the fixed embedding.
        threshold: the paper's absolute survival rule's threshold (10), reported beside a
            different main rule.
        bins: equal-width bins of the survival-rate curves (the authors' 20).
        svm_seed: seed of the standardised SVM's held-out split.
    """

    name = "initial-gradient"
    number = 8
    title = "Initial gradient and survival"
    #: the two sets: name -> the seed that varies
    sets = {"mlp": "mlp", "split": "split"}

    def __init__(self, *, smoke: GradientSizes = SMOKE, paper: GradientSizes = PAPER,
                 embedding_seed: int = 0, threshold: float = THRESHOLD, bins: int = 20,
                 svm_seed: int = 0):
        super().__init__(smoke=smoke, paper=paper)
        self.embedding_seed = embedding_seed
        self.threshold = threshold
        self.bins, self.svm_seed = bins, svm_seed

    def specs_at(self, sizes: GradientSizes) -> list[SweepSpec]:
        base: dict[str, Any] = {**sizes.base, "steps": sizes.steps}
        # the gradients need the signals of steps 0 .. 4, survival the final ones: every step
        # up to 10, every 100 after (1/90th of the bytes of every step)
        base.update(signal_every=100, signal_dense_until=10)
        out = []
        for name, varied in self.sets.items():
            seeds = {"embedding": [self.embedding_seed], "mlp": [0], "split": [0],
                     varied: list(range(sizes.runs))}
            out.append(SweepSpec(name=f"{self.name}-{sizes.scale}-{name}", base=dict(base),
                                 seeds=seeds))
        return out

    def deviations_at(self, sizes: GradientSizes) -> list[str]:
        if sizes.runs == PAPER.runs:
            out = [f"{sizes.runs} runs per set (the paper gives no run count)"]
        else:
            out = [f"{sizes.runs} runs per set instead of {PAPER.runs}"]
        out.append(PER_SET_NOTE)
        if sizes.steps != PAPER_STEPS:
            out.append(single_steps_deviation(sizes.steps, "survival"))
        if sizes.threshold != self.threshold:
            out.append(f"survival by final S_k > {sizes.threshold:g} instead of "
                       f"> {self.threshold:g}: at step {sizes.steps:,} dying frequencies "
                       f"still sit near {self.threshold:g} (S_k > {self.threshold:g} reported "
                       "too)")
        if sizes.base:
            out.append(f"model changed: {override_text(sizes.base)}")
        return out

    def rules(self, sizes: GradientSizes) -> dict[str, CircleRule]:
        """Survival rules analysed at these sizes: label -> rule, main rule (final S_k above
        the sizes' threshold) first, then the paper's S_k > 10, the authors' 2x-mean and the
        preset's :attr:`circle_rule` where it is another."""
        main = sizes.threshold
        out = {f"S_k > {main:g}": CircleRule("absolute", main)}
        if main != self.threshold:
            out[f"S_k > {self.threshold:g}"] = CircleRule("absolute", self.threshold)
        out["2x-mean"] = AUTHORS_RULE
        if self.circle_rule not in out.values():
            out[str(self.circle_rule)] = self.circle_rule
        return out

    def set_ids(self, store: Store, sizes: GradientSizes) -> dict[str, list[str]]:
        """Set name -> its run ids (all must be in ``store``)."""
        return {name: self.select(store, spec)
                for name, spec in zip(self.sets, self.specs_at(sizes), strict=True)}

    def analyze_at(self, store: Store, sizes: GradientSizes) -> ExperimentResult:
        from ..analysis.gradient import survival_rate_by_gradient
        from ..analysis.survival import frequency_table

        by_set = self.set_ids(store, sizes)
        ids = list(dict.fromkeys(r for v in by_set.values() for r in v))
        views = {**by_set, "pooled": ids}
        tables = {label: frequency_table(store, ids, rule=rule, s_max=max(S_VALUES))
                  for label, rule in self.rules(sizes).items()}
        label = next(iter(tables))
        main = tables[label]
        parts = {v: main[main["run_id"].isin(v_ids)] for v, v_ids in views.items()}
        sets = {v: self._rule_numbers(t) for v, t in parts.items()}
        others = {rule: {v: _rule_summary(self._rule_numbers(t[t["run_id"].isin(v_ids)]))
                         for v, v_ids in by_set.items()}
                  for rule, t in tables.items() if rule != label}
        curves = {}
        for v, t in parts.items():
            rates = survival_rate_by_gradient(t, S_VALUES, bins=self.bins, binning="width")
            lo, hi = wilson_interval(rates["n_survived"], rates["n"])
            curves[v] = rates.assign(wilson_lo=lo, wilson_hi=hi)
        paper = sets[PAPER_SET]
        t_main, svm = paper["ttest"][f"s={MAIN_S}"], paper["svm"]
        numbers: dict[str, Any] = {
            "runs": len(ids),
            "runs_per_set": {k: len(v) for k, v in by_set.items()},
            "survival_rule": f"final {label}",
            "paper_set": PAPER_SET,
            # the paper's set (MLP varied), as in the paper's figures
            "frequencies": paper["frequencies"], "survived": paper["survived"],
            "dead": paper["dead"],
            f"ttest_t_grad_{MAIN_S}": t_main["statistic"],
            f"ttest_p_grad_{MAIN_S}": t_main["p_value"],
            f"mean_grad_{MAIN_S}_survived": t_main["mean_survived"],
            f"mean_grad_{MAIN_S}_dead": t_main["mean_dead"],
            "svm_accuracy": None if svm is None else svm["accuracy"],
            "svm_baseline_accuracy": None if svm is None else svm["baseline_accuracy"],
            "svm_p_value": None if svm is None else svm["p_value"],
            "by_set": {k: _rule_summary(r) for k, r in sets.items()},
            "sets": sets,
            "other_rules": others,
            "survival_rate_curves": {v: r.to_dict(orient="records") for v, r in curves.items()},
        }
        result = ExperimentResult(self.name, self.number, self.title, sizes.scale, len(ids),
                                  numbers, {}, self._claims(label, sets, others, sizes.refutes),
                                  self.deviations_at(sizes))
        result.figures = self._figures(parts, curves, sets, label, result)
        return result

    def _rule_numbers(self, table: pd.DataFrame) -> dict[str, Any]:
        return gradient_numbers(table, MAIN_S, svm_seed=self.svm_seed)

    def _claims(self, label: str, sets: dict[str, dict[str, Any]],
                others: dict[str, dict[str, dict[str, Any]]] | None = None,
                refutes: bool = True) -> list[Claim]:
        """The t-test and SVM claims for each set of runs (the MLP-varied set first: the
        paper's figures), the pooled view and the other survival rules in the observed
        text; where the runs cannot refute (``refutes`` False: the smoke scale), a miss is
        undecided unless the result goes significantly the other way."""
        others = others or {}
        claims = []
        for name in (n for n in SET_NAMES if n in sets):
            extra = {k: v for k, v in sets.items() if k != name and k not in SET_NAMES}
            rule_extra = {rule: v[name] for rule, v in others.items() if name in v}
            claims += set_claims(name, label, sets[name], extra, rule_extra, refutes)
        return claims

    def _figures(self, parts: dict[str, pd.DataFrame], curves: dict[str, pd.DataFrame],
                 sets: dict[str, dict[str, Any]], label: str,
                 result: ExperimentResult) -> dict[str, Figure]:
        from ..figures.dynamics import (
            gradient_signal_plane,
            initial_gradient_histograms,
            survival_rate_panels,
        )

        rule = f"survival: final {label.replace('S_k', '$S_k$')}"
        note = scale_note(result)
        out = {}
        for name in SET_NAMES:
            table, suffix = parts[name], FIGURE_SUFFIX[name]
            what = SET_LABELS[name] + (" (the paper's)" if name == PAPER_SET else "")
            hist = initial_gradient_histograms(table, S_VALUES, equal_var=True)
            for ax in hist.axes:  # the panel titles carry the p-values; keep them inside
                ax.title.set_fontsize("medium")
            out[f"gradient_histograms{suffix}"] = titled(
                hist, f"Initial gradient of survivors and dead frequencies, {what} ({rule})",
                note)
            out[f"survival_rate_curves{suffix}"] = titled(
                survival_rate_panels(curves[name]), f"Survival rate against initial gradient, "
                f"{what} ({rule}; {self.bins} equal-width bins)", note)
            out[f"svm_plane{suffix}"] = titled(
                gradient_signal_plane(table, MAIN_S, sets[name]["svm"]),
                f"Survivors and the dead on (gradient, initial signal), {what} ({rule})", note)
        return out


def set_claims(name: str, label: str, a: dict[str, Any], extra: dict[str, dict[str, Any]],
               rule_extra: dict[str, dict[str, Any]], refutes: bool = True) -> list[Claim]:
    """The two claims (t-test, SVM) on one set of runs: ``a`` its :func:`gradient_numbers`
    under the main rule ``label``; ``extra`` other views (the pooled one) and ``rule_extra``
    the set under other rules (:func:`_rule_summary`), shown in the observed text."""
    what = SET_LABELS[name]
    source = f"the {what}: {SET_SOURCES[name]}"
    t = a["ttest"][f"s={MAIN_S}"]
    if not np.isfinite(t["p_value"]):
        obs1, holds1 = (f"t-test undecidable: {a['survived']} survivors, {a['dead']} dead "
                        f"(final {label})"), None
    else:
        higher = t["mean_survived"] > t["mean_dead"]
        holds1 = scale_verdict(bool(t["p_value"] < ALPHA and higher), refutes,
                               against=bool(t["p_value"] < ALPHA and not higher))
        obs1 = (f"mean step-{MAIN_S} gradient {t['mean_survived']:.3g} (survivors, "
                f"n={t['n_survived']}) vs {t['mean_dead']:.3g} (dead, n={t['n_dead']}); "
                f"Student t = {t['statistic']:.2f}, p = {t['p_value']:.2g} (final {label}, "
                f"{a['runs']} runs)")
    obs1 += "".join(f"; {k}: t = {num_text(r['ttest_t'])}, p = {num_text(r['ttest_p'])}"
                    for k, r in rule_extra.items())
    obs1 += "".join(f"; {SET_LABELS[k]}: t = {r['ttest'][f's={MAIN_S}']['statistic']:.2f}, "
                    f"p = {r['ttest'][f's={MAIN_S}']['p_value']:.2g}" for k, r in extra.items())
    claims = [Claim(f"Frequencies that survive have larger initial gradients than those that "
                    f"die ({source}).", obs1, holds1,
                    f"Student's two-sample t-test of the step-{MAIN_S} gradient p < 0.05 and "
                    f"the survivors' mean higher, on the {what} alone")]
    svm, std = a["svm"], a["svm_standardised"]
    if svm is None:
        obs2, holds2 = f"SVM skipped: {a['svm_skipped']}", None
    else:
        # held-out accuracy at or below the baseline refutes nothing at the smoke scale
        holds2 = scale_verdict(bool(svm["accuracy"] > svm["baseline_accuracy"]
                                    and svm["p_value"] < ALPHA), refutes)
        obs2 = f"the authors' SVM: {_svm_text(svm)}"
    if std is not None:
        obs2 += f"; standardised LinearSVC (stratified split): {_svm_text(std)}"
    for k, r in rule_extra.items():
        obs2 += (f"; {k}: skipped" if r["svm_accuracy"] is None else
                 f"; {k}: {r['svm_accuracy']:.3f} vs {r['svm_baseline_accuracy']:.3f}")
    for k, r in extra.items():
        obs2 += (f"; {SET_LABELS[k]}: skipped" if r["svm"] is None else
                 f"; {SET_LABELS[k]}: {_svm_text(r['svm'])}")
    claims.append(Claim(f"A linear SVM on (step-{MAIN_S} initial gradient, initial signal) "
                        f"separates survivors from the dead ({source}).", obs2, holds2,
                        "the authors' SVM (SVC(kernel='linear') on the features rounded to 5 "
                        "decimals, unscaled, 80/20, random_state 42) beats the majority-class "
                        f"baseline on the held-out fifth of the {what}, one-sided exact "
                        "binomial test p < 0.05"))
    return claims


def _svm_text(svm: Mapping[str, Any]) -> str:
    return (f"held-out accuracy {svm['accuracy']:.3f} vs majority baseline "
            f"{svm['baseline_accuracy']:.3f} ({svm['n_test']} held out), binomial p = "
            f"{svm['p_value']:.2g}")


def num_text(v: float | None) -> str:
    """'0.0123', or 'n/a' for None or NaN."""
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3g}"


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
    """The key numbers of one set under one survival rule (counts, t-test of grad_4, SVM)."""
    t, svm = r["ttest"][f"s={MAIN_S}"], r["svm"]
    return {"runs": r["runs"], "survived": r["survived"], "dead": r["dead"],
            "ttest_t": t["statistic"], "ttest_p": t["p_value"],
            "mean_survived": t["mean_survived"], "mean_dead": t["mean_dead"],
            "svm_accuracy": svm and svm["accuracy"],
            "svm_baseline_accuracy": svm and svm["baseline_accuracy"],
            "svm_p_value": svm and svm["p_value"]}


EXPERIMENTS: list[Experiment] = [InitialGradient()]
