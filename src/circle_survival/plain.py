"""Plain values: the JSON-ready form of configs and specs, and the type checks of values read
from TOML or JSON (a bool is not an integer here; a number must be finite)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def plain(v: Any) -> Any:
    """Tuples become lists and mappings plain dicts with string keys in sorted order,
    recursively; anything else is returned as it is."""
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    return v


def is_int(v: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
