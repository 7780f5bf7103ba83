"""Plain values: the JSON-ready form of configs and specs (:func:`plain`) and of results'
numbers (:func:`json_ready`), and the type checks of values read from TOML or JSON (a bool is
not an integer here; a number must be finite)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def plain(v: Any) -> Any:
    """Tuples become lists and mappings plain dicts with string keys in sorted order,
    recursively; anything else is returned as it is."""
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    return v


def json_ready(v: Any) -> Any:
    """Numbers as JSON holds them, recursively: NumPy arrays and scalars become lists and
    Python numbers, tuples lists, mapping keys strings (order kept), and NaN or an infinity
    None (JSON has no such number; the report reads None as "not available")."""
    if isinstance(v, Mapping):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_ready(x) for x in v]
    if isinstance(v, np.ndarray):
        return json_ready(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def is_int(v: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
