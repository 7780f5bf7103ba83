"""How a claim is judged at a scale: the significance level, and trends whose miss is
undecided where the runs are too few to refute them."""

from __future__ import annotations

import math

#: significance level of every statistical criterion
ALPHA = 0.05
#: how the trend claims treat a miss at the smoke scale (see :func:`trend_holds`)
SMOKE_MISS = "at smoke scale a miss is undecided unless significant the other way"


def scale_verdict(holds: bool | None, refutes: bool, against: bool = False) -> bool | None:
    """A claim's verdict where the runs may be too few to refute it: a miss (``holds``
    False) is undecided (None) when ``refutes`` is False (the smoke scale), unless the runs
    go significantly the other way (``against``); anything else is returned as it is."""
    if holds is not None and not holds and not refutes and not against:
        return None
    return holds


def trend_holds(r: float, p_value: float, sign: int, refutes: bool = True) -> bool | None:
    """Whether r has the given sign with p < 0.05: True / False, or None (undecided) when r is
    undefined (no variation). Where the runs cannot refute (``refutes`` False: the smoke
    scale) a miss is undecided too, unless the trend is significant in the opposite
    direction: a few runs can confirm a trend but not refute it."""
    if not math.isfinite(r):
        return None
    return scale_verdict(bool(sign * r > 0 and p_value < ALPHA), refutes,
                         against=bool(sign * r < 0 and p_value < ALPHA))
