"""Short phrases the report, the figures and the commands share."""

from __future__ import annotations


def runs_text(n: int) -> str:
    """'1 run' or 'n runs' (thousands separated)."""
    return f"{n:,} run" if n == 1 else f"{n:,} runs"
