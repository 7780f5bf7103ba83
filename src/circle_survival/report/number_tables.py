"""How the report shows the numbers behind a figure: three significant digits, "n/a" with the
reason for a missing value, nested lists and dicts as small tables or one-line summaries.

:func:`number_rows` turns a result's ``numbers`` into rows of ``{"key": str, "text": str}`` or
``{"key": str, "table": {"header": [...], "rows": [[...], ...]}}``; the templates render them.
All values are plain strings: escaping is the template's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: at most this many items of a list are shown one by one; longer lists are summarised
MAX_INLINE = 8
#: at most this many rows in a nested table; longer ones are summarised
MAX_ROWS = 30
#: the reason shown for a value stored as null, by what it was before (``not_finite``)
REASONS = {"nan": "not a number: undefined for these runs",
           "inf": "infinite", "-inf": "infinite (negative)"}
NO_VALUE = "no value for these runs"


def fmt(value: Any, reason: str | None = None) -> str:
    """One value as text: floats to 3 significant digits, integers exact, None as
    "n/a (reason)"."""
    if value is None:
        return f"n/a ({reason or NO_VALUE})"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"n/a ({REASONS.get(str(value), NO_VALUE)})"
        return f"{value:.3g}"
    return str(value)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _numbers(values: list) -> list[float]:
    return [float(v) for v in values
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]


def summary(value: Any) -> str:
    """A one-line summary of a list or dict too large (or too deep) for a table."""
    if isinstance(value, Mapping):
        return f"{len(value)} entries: " + ", ".join(map(str, list(value)[:MAX_INLINE])) + (
            ", ..." if len(value) > MAX_INLINE else "")
    if isinstance(value, list) and value and all(isinstance(x, list) for x in value):
        flat = [y for x in value for y in (x if isinstance(x, list) else [x])]
        shape = f"{len(value)} x {max(len(x) for x in value)} array"
        nums = _numbers(flat)
        return shape + (f", from {fmt(min(nums))} to {fmt(max(nums))}" if nums else "")
    if isinstance(value, list):
        nums = _numbers(value)
        text = f"{len(value)} values"
        if nums:
            nums.sort()
            text += (f": min {fmt(nums[0])}, median {fmt(nums[len(nums) // 2])}, "
                     f"max {fmt(nums[-1])}")
        missing = len(value) - len(nums)
        return text + (f"; {missing} n/a" if missing and nums else "")
    return fmt(value)


def _cell(value: Any, reason: str | None = None) -> str:
    if _scalar(value):
        return fmt(value, reason)
    if isinstance(value, list) and len(value) <= MAX_INLINE and all(map(_scalar, value)):
        return ", ".join(fmt(x) for x in value)
    return summary(value)


def _table(value: Any, path: str, not_finite: Mapping[str, str]) -> dict | None:
    """A small table for a dict of scalars, a dict of equal-length lists or a list of dicts
    with the same keys; None when the value does not fit one."""
    def reason(key: str) -> str | None:
        return REASONS.get(not_finite.get(key, ""))

    if isinstance(value, Mapping) and 0 < len(value) <= MAX_ROWS:
        cols = list(value.values())
        if (all(isinstance(c, list) for c in cols) and len({len(c) for c in cols}) == 1
                and 0 < len(cols[0]) <= MAX_ROWS and all(_scalar(x) for c in cols for x in c)):
            keys = list(value)
            return {"header": [str(k) for k in keys],
                    "rows": [[fmt(value[k][i], reason(f"{path}.{k}.{i}")) for k in keys]
                             for i in range(len(cols[0]))]}
        return {"header": [], "rows": [[str(k), _cell(v, reason(f"{path}.{k}"))]
                                       for k, v in value.items()]}
    if (isinstance(value, list) and 0 < len(value) <= MAX_ROWS
            and all(isinstance(x, Mapping) for x in value)
            and len({tuple(x) for x in value}) == 1):
        keys = list(value[0])
        return {"header": [str(k) for k in keys],
                "rows": [[_cell(row[k], reason(f"{path}.{i}.{k}")) for k in keys]
                         for i, row in enumerate(value)]}
    return None


def number_rows(numbers: Mapping[str, Any], not_finite: Mapping[str, str] | None = None
                ) -> list[dict[str, Any]]:
    """Rows of the numbers table. ``not_finite`` maps dotted key paths of values stored as
    null to what they were ("nan", "inf", "-inf"), giving each "n/a" its reason."""
    not_finite = not_finite or {}
    rows: list[dict[str, Any]] = []
    for key, value in numbers.items():
        key = str(key)
        table = None if _scalar(value) else _table(value, key, not_finite)
        if table is not None:
            rows.append({"key": key, "table": table})
        else:
            rows.append({"key": key,
                         "text": _cell(value, REASONS.get(not_finite.get(key, "")))})
    return rows
