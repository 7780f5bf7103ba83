"""Short texts the presets put in claims and departures: grids, per-point values, counts,
config overrides and correlations."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def fmt_grid(values: Sequence[Any]) -> str:
    """'{16, 32, 64}', with '…' in the middle of long lists."""
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    if len(vals) > 8:
        vals = [*vals[:3], "…", *vals[-2:]]
    return "{" + ", ".join(vals) + "}"


def per_x_text(name: str, xs: Sequence[Any], values: Sequence[float], fmt: str = ".2f") -> str:
    """'d=16: 2.10, d=17: 2.30, …, d=128: 5.00' (the first three and last two of long
    lists)."""
    items = [f"{name}={x}: {v:{fmt}}" for x, v in zip(xs, values, strict=True)]
    if len(items) > 8:
        items = [*items[:3], "…", *items[-2:]]
    return ", ".join(items)


def fmt_values(values: Sequence[float]) -> str:
    """'{0.85, 1, 1.15}', shortened in the middle for long lists."""
    vals = [f"{v:.3g}" for v in values]
    if len(vals) > 6:
        vals = [*vals[:2], "…", *vals[-2:]]
    return "{" + ", ".join(vals) + "}"


def count_text(counts) -> str:
    """'10' when every count is 10, else '9-11'."""
    c = np.asarray(counts, dtype=int)
    return f"{c.min()}" if c.min() == c.max() else f"{c.min()}-{c.max()}"


def override_text(overrides: Mapping[str, Any]) -> str:
    """'p=11, d=8' for the config fields a reduced preset changes."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items())


def r_text(r: float, p_value: float) -> str:
    """'+0.123 (p = 0.045)', or 'undefined (no variation)' for a NaN r."""
    return "undefined (no variation)" if not math.isfinite(r) else f"{r:+.3f} (p = {p_value:.2g})"
