"""Experiment 9 of the paper: ablation-then-train. Restrict the initial embedding (all seeds 0)
to O (nothing removed), A (the strongest final circle of run O), B (its two strongest), C = {1}
and D = {1, 2}, train each 30,000 steps and compare the test losses. The helpers
(:func:`ablation_configs`, :func:`analyze_ablation`) also serve ``circle-survival ablate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import fourier
from ..config import RunConfig
from ..errors import ConfigError
from ..figures import interventions as ifigs
from ..store import Store
from ..sweep import SweepSpec
from .departures import PAPER_STEPS, base_deviations
from .preset import Experiment, InterventionPreset, Sizes
from .result import Claim, ExperimentResult, scale_note
from .run_table import resolved

#: variant -> (what is kept, the intervention)
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "O": ("no ablation", {}),
    "A": ("strongest circle", {"kind": "restrict", "strongest": 1, "keep_constant": False}),
    "B": ("two strongest circles", {"kind": "restrict", "strongest": 2,
                                    "keep_constant": False}),
    "C": ("one random circle", {"kind": "restrict", "random": 1, "exclude_strongest": 2,
                                "keep_constant": False}),
    "D": ("two random circles", {"kind": "restrict", "random": 2, "exclude_strongest": 2,
                                 "keep_constant": False}),
}
#: the authors' ablation feeds the complex ifft to the model; the real part is meant
REAL_PART_NOTE = ("the restricted embedding is the real part of the inverse DFT (the authors' "
                  "script feeds the complex result to the model)")
#: the authors' "random" circles of C and D
AUTHORS_RANDOM = ((1,), (1, 2))
#: a test loss rising by this factor between two consecutive records is a spike
SPIKE_FACTOR = 10.0
#: "B tracks O": the median factor between the two test losses at most this
TRACK_FACTOR = 2.0
#: ... over the recorded steps from this one on (before it every variant starts near log p)
TRACK_FROM = 100
#: "converged": the test loss within this factor of O's final one
CONVERGE_FACTOR = 10.0
#: the authors' five runs of 30,000 steps; the smoke scale trains the same (CPU-minutes each)
PAPER = Sizes(scale="paper")
SMOKE = Sizes(scale="smoke", refutes=False)



def ablation_configs(seed: int = 0, **fields_: Any) -> dict[str, RunConfig]:
    """The five runs O, A, B, C, D of one seed with the circles drawn from the initial
    embedding (:data:`ABLATIONS`: A, B the strongest initial circles, C, D random ones outside
    them), with extra config fields (``steps``, ``p``, ``d``, ``dtype``, ...)."""
    seeds = {"embedding_seed": seed, "mlp_seed": seed, "split_seed": seed}
    return {name: RunConfig(**{**fields_, **seeds, "intervention": iv})
            for name, (_, iv) in ABLATIONS.items()}


def authors_ablations(strongest_final: Sequence[int]) -> dict[str, dict[str, Any]]:
    """The authors' variants A, B, C, D: A and B keep the strongest and the two strongest
    final circles of run O (``strongest_final``, strongest first), C keeps k = 1 and D keeps
    {1, 2}, the constant term removed."""
    c1, c2 = (int(k) for k in strongest_final[:2])
    return {name: {"kind": "restrict", "keep": keep, "keep_constant": False}
            for name, keep in (("A", [c1]), ("B", [c1, c2]), ("C", list(AUTHORS_RANDOM[0])),
                               ("D", list(AUTHORS_RANDOM[1])))}


def strongest_final(store: Store, rid: str, n: int = 2) -> list[int]:
    """The n circle frequencies with the largest final signal of run ``rid``, strongest
    first."""
    p = int(store.runs.loc[rid, "p"])
    last = store.signals(rid)[1][-1]
    ks = np.arange(1, fourier.n_freq(p) + 1)
    return [int(k) for k in ks[np.argsort(-last[ks], kind="stable")[:n]]]


def count_spikes(loss: np.ndarray, factor: float = SPIKE_FACTOR) -> int:
    """How often the loss rises by at least ``factor`` from one record to the next."""
    x = np.asarray(loss, dtype=float)
    ok = np.isfinite(x[1:]) & np.isfinite(x[:-1]) & (x[:-1] > 0)
    return int(np.sum(ok & (x[1:] >= factor * np.where(ok, x[:-1], 1.0))))


def converge_step(steps: np.ndarray, loss: np.ndarray, tau: float) -> int | None:
    """The first recorded step from which the loss stays at or below ``tau``; None if the last
    record is above it."""
    x = np.asarray(loss, dtype=float)
    above = ~(x <= tau)
    if above[-1]:
        return None
    last_above = np.flatnonzero(above)
    i = 0 if last_above.size == 0 else int(last_above[-1]) + 1
    return int(np.asarray(steps)[i])


def track_ratio(steps: np.ndarray, loss_o: np.ndarray, loss_b: np.ndarray,
                from_step: int = TRACK_FROM) -> float:
    """Median over the recorded steps >= ``from_step`` of |log10(B / O)| of two test-loss
    curves recorded at the same steps, as a factor (10 ** median); NaN without such steps."""
    steps = np.asarray(steps)
    o, b = np.asarray(loss_o, dtype=float), np.asarray(loss_b, dtype=float)
    ok = (steps >= from_step) & (o > 0) & (b > 0) & np.isfinite(o) & np.isfinite(b)
    if not ok.any():
        return float("nan")
    return float(10 ** np.median(np.abs(np.log10(b[ok] / o[ok]))))


def _ablation_claims(v: Mapping[str, Mapping[str, Any]], track: float) -> list[Claim]:
    """The two claims of experiment 9 from the per-variant numbers and B's tracking factor."""
    o, b = v["O"], v["B"]
    tracks = bool(track <= TRACK_FACTOR) if math.isfinite(track) else None
    claims = [Claim(
        "Restricted to its two strongest circles (B), the initial embedding trains like the "
        "full one (O): B's test loss is nearly equal to O's throughout.",
        f"median factor between B's and O's test loss over the steps from {TRACK_FROM}: "
        f"{track:.3g}; final O = {o['final_test_loss']:.3g}, B = {b['final_test_loss']:.3g}; "
        f"B has {b['n_spikes']} spike(s).", tracks,
        f"median over recorded steps ≥ {TRACK_FROM} of max(B/O, O/B) ≤ {TRACK_FACTOR:g}")]
    late = []
    for name in ("A", "C", "D"):
        x = v[name]
        is_late = x["converge_step"] is None or (
            o["converge_step"] is not None and x["converge_step"] > o["converge_step"])
        late.append(x["n_spikes"] >= 1 and is_late)
    text = "; ".join(
        f"{n}: {v[n]['n_spikes']} spike(s), reaches it at "
        f"{'never' if v[n]['converge_step'] is None else v[n]['converge_step']}"
        for n in ("A", "C", "D"))
    claims.append(Claim(
        "Restricted to the strongest circle (A) or to one or two other circles (C, D), the "
        "test loss spikes and converges late.",
        f"O reaches {CONVERGE_FACTOR:g}x its final test loss at step {o['converge_step']} with "
        f"{o['n_spikes']} spike(s); {text}.", bool(all(late)),
        f"each of A, C, D has a spike (a rise of ≥ {SPIKE_FACTOR:g}x between consecutive "
        f"records) and reaches {CONVERGE_FACTOR:g}x O's final test loss later than O, or "
        "never"))
    return claims


def analyze_ablation(store: Store, ids: Mapping[str, str]
                     ) -> tuple[dict[str, Any], list[Claim], dict[str, Any]]:
    """Numbers, claims and figure inputs of the ablation runs ``ids`` (variant -> run id).

    Returns (numbers, claims, figure kwargs without ``note``): numbers hold, per variant, the
    frequencies kept, the final/min test loss, the spikes, the step at which the test loss
    reaches ``CONVERGE_FACTOR`` x O's final test loss, and the final circles; and B's
    tracking factor (:func:`track_ratio`).
    """
    curves, labels, per = {}, {}, {}
    for name, rid in ids.items():
        m = store.metrics(rid)
        steps, loss = m["step"].to_numpy(), m["test_loss"].to_numpy(float)
        curves[name] = (steps, loss)
        kept = resolved(store, rid).get("keep")
        labels[name] = ifigs.variant_label(name, ABLATIONS[name][0], kept)
        per[name] = {"run_id": rid, "kept": kept, "final_test_loss": float(loss[-1]),
                     "min_test_loss": float(np.nanmin(loss)), "n_spikes": count_spikes(loss),
                     "final_circles": [int(c) for c in store.runs.loc[rid, "circles"]],
                     "final_test_acc": float(store.runs.loc[rid, "test_acc"])}
    tau = CONVERGE_FACTOR * per["O"]["final_test_loss"]
    for name, (steps, loss) in curves.items():
        per[name]["converge_step"] = converge_step(steps, loss, tau)
    (so, lo), (sb, lb) = curves["O"], curves["B"]
    n = min(len(so), len(sb))
    track = track_ratio(so[:n], lo[:n], lb[:n]) if np.array_equal(so[:n], sb[:n]) else math.nan
    numbers = {"variants": per, "converge_threshold": tau, "spike_factor": SPIKE_FACTOR,
               "track_factor": TRACK_FACTOR, "b_to_o_median_factor": track,
               "metrics_every": int(store.runs.loc[ids["O"], "metrics_every"])}
    return numbers, _ablation_claims(per, track), {"curves": curves, "labels": labels}


class Ablation(InterventionPreset):
    """Experiment 9: restrict the initial embedding (all seeds 0) to O, A, B, C, D, train each
    30,000 steps (at both scales: five runs are CPU-minutes each), and compare the test losses
    (recorded every 10 steps) on log–log axes.

    ``choice="authors"`` (default, the authors' code): A and B keep the strongest and the two
    strongest FINAL circles of run O, so O is trained first and A, B, C, D after it; C = {1},
    D = {1, 2}. ``choice="drawn"``: A and B from the initial signals, C and D drawn at random
    outside them (:data:`ABLATIONS`), all five trained at once.
    """

    name = "ablation"
    number = 9
    title = "Ablation-then-train: test loss with the initial embedding restricted"
    choices = ("authors", "drawn")

    def __init__(self, seed: int = 0, choice: str = "authors", smoke: Sizes = SMOKE,
                 paper: Sizes = PAPER) -> None:
        super().__init__(smoke=smoke, paper=paper)
        if choice not in self.choices:
            raise ConfigError(f"ablation: choice must be one of {', '.join(self.choices)}, "
                              f"got {choice!r}")
        self.seed, self.choice = int(seed), choice

    def deviations_at(self, sizes: Sizes) -> list[str]:
        out = [REAL_PART_NOTE]
        if self.choice == "drawn":
            out.append("A, B the strongest initial circles and C, D drawn at random outside "
                       "them, instead of the strongest final circles of run O and C = {1}, "
                       "D = {1, 2}")
        out += base_deviations(sizes.base)
        if sizes.steps < PAPER_STEPS:
            out.insert(0, f"{sizes.steps:,} steps instead of {PAPER_STEPS:,} (in the "
                          "paper's figure A, C and D spike until about step 10^4 and reach "
                          "their final loss near 3·10^4; circles can still die later)")
        return out

    def _spec(self, sizes: Sizes, suffix: str, interventions: list[dict[str, Any]]
              ) -> SweepSpec:
        s = [self.seed]
        return SweepSpec(name=f"{self.spec_name(sizes)}{suffix}",
                         base=self.base(sizes, metrics_every=10),
                         axes={"intervention": interventions},
                         seeds={"embedding": s, "mlp": s, "split": s})

    def specs_at(self, sizes: Sizes) -> list[SweepSpec]:
        """The sweeps that need no earlier run: all five (drawn), or run O (authors')."""
        if self.choice == "drawn":
            return [self._spec(sizes, "", [iv for _, iv in ABLATIONS.values()])]
        return [self._spec(sizes, "-O", [{}])]

    def specs_after_at(self, sizes: Sizes, store: Store | None) -> list[SweepSpec]:
        out = self.specs_at(sizes)
        if self.choice == "drawn" or store is None:
            return out
        (rid,) = out[0].run_ids()
        if rid not in store.runs.index:
            return out
        ivs = authors_ablations(strongest_final(store, rid))
        return out + [self._spec(sizes, "-ABCD", list(ivs.values()))]

    def planned_configs_at(self, sizes: Sizes) -> list[RunConfig]:
        if self.choice == "drawn":
            return super().planned_configs_at(sizes)
        stand_in = authors_ablations([3, 4])  # the same shapes as any pair of circles
        specs = self.specs_at(sizes) + [self._spec(sizes, "-ABCD", list(stand_in.values()))]
        return [c for spec in specs for c in spec.configs()]

    def variant_ids(self, store: Store, sizes: Sizes) -> dict[str, str]:
        """Variant name -> run id (two variants can be one run: C = {1} is A when run O's
        strongest final circle is k = 1); ConfigError naming what is missing."""
        specs = self.specs_after_at(sizes, store)
        for spec in specs:
            self.select(store, spec)
        if self.choice == "drawn":
            return dict(zip(ABLATIONS, specs[0].run_ids(), strict=True))
        if len(specs) < 2:
            raise ConfigError(f"{self.name}: run O is in {store.path} but A, B, C, D are not; "
                              f"run 'circle-survival reproduce {self.name}' to train them")
        (o,) = specs[0].configs()
        ivs = authors_ablations(strongest_final(store, o.run_id))
        return {"O": o.run_id, **{k: o.replace(intervention=v).run_id for k, v in ivs.items()}}

    def analyze_at(self, store: Store, sizes: Sizes) -> ExperimentResult:
        ids = self.variant_ids(store, sizes)
        numbers, claims, fig_data = analyze_ablation(store, ids)
        numbers.update(seed=self.seed, steps=sizes.steps, choice=self.choice)
        result = self._result(sizes, len(ids), numbers)
        result.claims = claims
        result.figures = {"ablation_test_loss": ifigs.ablation_test_loss(
            **fig_data, note=scale_note(result))}
        return result


EXPERIMENTS: list[Experiment] = [Ablation()]
