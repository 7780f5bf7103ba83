"""fourier/circle_rules.py: every circle rule against a count made one frequency at a time, the
rule's text read back, and bad rules refused in one line."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circle_survival import fourier
from circle_survival.errors import ConfigError
from circle_survival.fourier import AUTHORS_RULE, RULE_KINDS, CircleRule, circle_rule


def slow_circles(final, start, p, text):
    """The circles (k in 1 .. (p-1)//2, strongest first) by the rule's text, plainly."""
    ks = list(range(1, (p - 1) // 2 + 1))
    kind, _, value = text.partition(":")
    if kind == "2x-mean":
        return fourier.circles(final, p)  # the authors' rule, tested in test_fourier.py
    if kind == "half-2x-mean":
        keep = [k for k in ks if final[k] > 2 * sum(final[j] for j in ks) / len(ks)]
    elif kind == "absolute":
        keep = [k for k in ks if final[k] > float(value)]
    elif kind == "max":
        keep = [k for k in ks if final[k] > float(value) * max(final[j] for j in ks)]
    else:
        keep = [k for k in ks if final[k] > float(value) * start[k]]
    return sorted(keep, key=lambda k: (-final[k], k))


TEXTS = ["2x-mean", "absolute:10", "absolute:0", "max:0.3", "max:1", "start:1", "start:0.5",
         "half-2x-mean"]


@settings(max_examples=40, deadline=None)
@given(p=st.sampled_from([5, 11, 12, 23, 59]), seed=st.integers(0, 2**16),
       text=st.sampled_from(TEXTS))
def test_each_rule_against_a_slow_count(p, seed, text):
    rng = np.random.default_rng(seed)
    final = rng.gamma(0.6, 15, size=p // 2 + 1)
    start = rng.gamma(5.0, 4, size=p // 2 + 1)
    rule = circle_rule(text)
    expected = slow_circles(final, start, p, text)
    assert rule.circles(final, p, start) == expected
    alive = rule.survival(final, p, start)
    assert alive.shape == (p // 2 + 1,)
    if text != "2x-mean":
        assert sorted(np.flatnonzero(alive).tolist()) == sorted(expected)
        assert int(rule.n_circles(final, p, start)) == len(expected)
        assert not alive[0] and (p % 2 or not alive[p // 2])
    else:
        assert int(rule.n_circles(final, p)) == int(fourier.n_circles(final, p))
    # all p frequencies or the half spectrum: the same answer
    full = fourier.full_signal(final, p)
    assert rule.circles(full, p, fourier.full_signal(start, p)) == expected


def test_leading_axes():
    rng = np.random.default_rng(1)
    final, start = rng.gamma(0.6, 15, (3, 4, 12)), rng.gamma(5.0, 4, (3, 4, 12))
    for text in TEXTS:
        rule = circle_rule(text)
        n = rule.n_circles(final, 23, start)
        assert n.shape == (3, 4)
        nested = rule.circles(final, 23, start)
        for i in range(3):
            for j in range(4):
                assert nested[i][j] == rule.circles(final[i, j], 23, start[i, j])
                if text != "2x-mean":
                    assert n[i, j] == len(nested[i][j])


def test_text_round_trips_and_describes():
    for text in [*TEXTS, "absolute:10.958985566623387", "max:0.05"]:
        rule = circle_rule(text)
        assert circle_rule(str(rule)) == rule and str(rule) == text
    assert circle_rule(None) is AUTHORS_RULE and circle_rule(AUTHORS_RULE) is AUTHORS_RULE
    assert AUTHORS_RULE.is_authors and not circle_rule("absolute:1").is_authors
    assert circle_rule("start:1").needs_start and not circle_rule("max:0.2").needs_start
    assert circle_rule(" absolute:1e1 ") == CircleRule("absolute", 10.0)
    assert circle_rule("absolute:10").describe() == "circle rule absolute:10 (S_k > 10)"
    assert "the authors' rule" in AUTHORS_RULE.describe()
    assert circle_rule("absolute:2.5").slug == "absolute-2.5"
    assert set(RULE_KINDS) == {"2x-mean", "absolute", "max", "start", "half-2x-mean"}
    with pytest.raises(ValueError, match="signals at step 0"):
        circle_rule("start:1").survival(np.ones(6), 11)


@pytest.mark.parametrize("bad, why", [
    ("3x-mean", "unknown circle rule '3x-mean' \\(choose from 2x-mean, absolute:T, max:F"),
    ("absolute", "needs a finite value: absolute:T"), ("absolute:ten", "needs a number"),
    ("absolute:inf", "finite"), ("absolute:-1", "T >= 0"), ("max:0", "F in \\(0, 1\\]"),
    ("max:1.5", "F in \\(0, 1\\]"), ("start:0", "F > 0"), ("half-2x-mean:2", "takes no value"),
    (3, "text such as"), ("", "unknown circle rule")])
def test_bad_rules_are_one_line(bad, why):
    with pytest.raises(ConfigError, match=why) as caught:
        circle_rule(bad)
    assert "\n" not in str(caught.value)
