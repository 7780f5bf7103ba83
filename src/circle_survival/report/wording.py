"""Short phrases the report, the figures and the commands share."""

from __future__ import annotations

#: where the repository keeps the page of departures from the authors' code
DIFFERENCES_PAGE = "docs/differences-from-the-authors-code.md"

VERDICTS = {True: "holds", False: "does not hold", None: "undecided at this scale"}


def verdict_text(holds: bool | None) -> str:
    """'holds', 'does not hold' or 'undecided at this scale'."""
    return VERDICTS[holds]


def runs_text(n: int) -> str:
    """'1 run' or 'n runs' (thousands separated)."""
    return f"{n:,} run" if n == 1 else f"{n:,} runs"
