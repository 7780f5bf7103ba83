"""The circle rule: which frequencies of a final embedding count as circles, as one named
choice. Every command, analysis, figure, report and table that counts circles takes a
:class:`CircleRule` (or its text) and calls it; this module is the only place a rule is
defined.

Rules, as written on the command line (``--circle-rule``) and recorded in tables:

- ``2x-mean`` (the authors', the default): with the signals of all p FFT entries
  (S_k = S_{p-k}), n = floor(#{k : S_k > 2 x mean_k S_k} / 2) circles, the frequencies
  min(k, p-k) of the 2n strongest entries. For p = 59 it can never give more than 14 circles
  (2n entries above twice the mean need 4n < p).
- ``absolute:T``: S_k > T.
- ``max:F``: S_k > F x max_k S_k (relative to the strongest frequency).
- ``start:F``: S_k(T) > F x S_k(0) (relative to the run's own start; ``start:1``: the
  frequencies that grew).
- ``half-2x-mean``: the authors' threshold over the half spectrum, S_k > 2 x the mean of S_k
  over k = 1 … (p-1)/2.

Except under ``2x-mean`` (kept exactly as the authors' code, degenerate cases included), the
candidates are k = 1 … (p-1)//2 and each k above the threshold is one circle; k = 0 and the
Nyquist k = p/2 of an even p never are. Signals: (..., p) or (..., p//2 + 1); outputs per
frequency are (..., p//2 + 1), indexed by k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import paper_circles
from .spectrum import half_signal, n_freq

#: rule kind -> (its value's name or None, what it means)
RULE_KINDS: dict[str, tuple[str | None, str]] = {
    "2x-mean": (None, "the authors' rule: the pairs of FFT entries above 2 × the mean of all "
                      "p entries"),
    "absolute": ("T", "S_k > T"),
    "max": ("F", "S_k > F × the strongest S_k"),
    "start": ("F", "S_k > F × its own S_k at step 0"),
    "half-2x-mean": (None, "S_k > 2 × the mean of S_k over k = 1 … (p-1)/2"),
}


@dataclass(frozen=True)
class CircleRule:
    """One circle rule: ``kind`` (a key of :data:`RULE_KINDS`) and its ``value`` (None for
    the rules without one). ``str(rule)`` is its text, e.g. ``"absolute:10"``."""

    kind: str = "2x-mean"
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ConfigError(f"unknown circle rule {self.kind!r} (choose from "
                              f"{', '.join(_examples())})")
        name = RULE_KINDS[self.kind][0]
        if name is None and self.value is not None:
            raise ConfigError(f"the circle rule {self.kind!r} takes no value")
        if name is not None:
            v = self.value
            if v is None or isinstance(v, bool) or not math.isfinite(float(v)):
                raise ConfigError(f"the circle rule {self.kind!r} needs a finite value: "
                                  f"{self.kind}:{name}")
            if v < 0 or (self.kind != "absolute" and v == 0) or (self.kind == "max" and v > 1):
                allowed = {"absolute": ">= 0", "max": "in (0, 1]", "start": "> 0"}[self.kind]
                raise ConfigError(f"the circle rule {self.kind}:{v:g} needs {name} {allowed}")
            object.__setattr__(self, "value", float(v))

    def __str__(self) -> str:  # round-trips through circle_rule()
        if self.value is None:
            return self.kind
        short = f"{self.value:g}"
        return f"{self.kind}:{short if float(short) == self.value else repr(self.value)}"

    @property
    def slug(self) -> str:
        """The text as a file-name part: ``absolute-10`` for ``absolute:10``."""
        return str(self).replace(":", "-")

    @property
    def is_authors(self) -> bool:
        return self.kind == "2x-mean"

    @property
    def needs_start(self) -> bool:
        """Whether the rule compares with the run's signals at step 0."""
        return self.kind == "start"

    def describe(self) -> str:
        """``"2x-mean (the authors' rule: …)"``: the text and its meaning, for captions."""
        name, meaning = RULE_KINDS[self.kind]
        if name is not None:
            meaning = meaning.replace(name, str(self).partition(":")[2], 1)
        return f"circle rule {self} ({meaning})"

    def survival(self, final: np.ndarray, p: int, start: np.ndarray | None = None
                 ) -> np.ndarray:
        """Which frequencies are circles: final signals (..., K) -> bool (..., p//2 + 1);
        ``start``: the signals at step 0, same shape (only ``start:F`` reads them)."""
        if self.is_authors:
            return paper_circles.survival(final, p)
        s = half_signal(np.asarray(final, dtype=float), p)
        ks = slice(1, n_freq(p) + 1)
        if self.kind == "absolute":
            thr: Any = self.value
        elif self.kind == "max":
            thr = self.value * s[..., ks].max(-1, keepdims=True)
        elif self.kind == "half-2x-mean":
            thr = 2 * s[..., ks].mean(-1, keepdims=True)
        else:
            if start is None:
                raise ValueError(f"the circle rule {self} needs the signals at step 0")
            thr = self.value * half_signal(np.asarray(start, dtype=float), p)
        out = s > thr
        out[..., 0] = False
        out[..., n_freq(p) + 1:] = False
        return out

    def circles(self, final: np.ndarray, p: int, start: np.ndarray | None = None
                ) -> list[list[int]] | list[int]:
        """The circles, strongest first (ties: lower k first): a list for one signal vector
        (K,), nested lists following the leading axes."""
        if self.is_authors:
            return paper_circles.circles(final, p)
        s = half_signal(np.asarray(final, dtype=float), p)
        alive = self.survival(s, p, start)
        return _nested_pairs(s, alive)

    def n_circles(self, final: np.ndarray, p: int, start: np.ndarray | None = None
                  ) -> np.ndarray:
        """The number of circles: (..., K) -> int (...)."""
        if self.is_authors:
            return np.asarray(paper_circles.n_circles(final, p), dtype=np.int64)
        return self.survival(final, p, start).sum(-1).astype(np.int64)


#: the authors' rule, the default everywhere
AUTHORS_RULE = CircleRule()


def circle_rule(rule: CircleRule | str | None = None) -> CircleRule:
    """A CircleRule from its text (``"2x-mean"``, ``"absolute:10"``, ``"max:0.1"``,
    ``"start:1"``, ``"half-2x-mean"``), a CircleRule, or None (the authors' rule). Bad text
    raises ConfigError naming the rules."""
    if rule is None:
        return AUTHORS_RULE
    if isinstance(rule, CircleRule):
        return rule
    if not isinstance(rule, str):
        raise ConfigError(f"a circle rule is text such as 'absolute:10', got {rule!r}")
    kind, colon, value = rule.strip().partition(":")
    if kind not in RULE_KINDS:
        raise ConfigError(f"unknown circle rule {rule!r} (choose from {', '.join(_examples())})")
    if not colon:
        return CircleRule(kind)
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"the circle rule {rule!r} needs a number after ':'") from None
    return CircleRule(kind, number)


def circles_above(sig: np.ndarray, p: int, threshold: float) -> list[list[int]] | list[int]:
    """Circles by an absolute threshold, ``absolute:T``: the k in 1 .. (p-1)//2 with
    S_k > ``threshold``, strongest first (see :meth:`CircleRule.circles`)."""
    return CircleRule("absolute", threshold).circles(sig, p)


def survival(sig: np.ndarray, p: int, threshold: float | None = None) -> np.ndarray:
    """Which frequencies are circles, bool (..., p//2 + 1): by the authors' 2x-mean rule, or
    with a ``threshold`` by ``absolute:T`` (the paper's initial-gradient analysis uses 10)."""
    rule = AUTHORS_RULE if threshold is None else CircleRule("absolute", threshold)
    return rule.survival(sig, p)


def _examples() -> list[str]:
    return [k if name is None else f"{k}:{name}" for k, (name, _) in RULE_KINDS.items()]


def _nested_pairs(s: np.ndarray, alive: np.ndarray) -> Any:
    if s.ndim == 1:
        ks = np.flatnonzero(alive)
        return [int(k) for k in ks[np.argsort(-s[ks], kind="stable")]]
    return [_nested_pairs(a, b) for a, b in zip(s, alive, strict=True)]
