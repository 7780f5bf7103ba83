"""``circle-survival verify``: every batch of a store checked in full."""

from __future__ import annotations

import typer

from .common import StoreArg


def verify_command(store: StoreArg) -> None:
    """Check every batch of a store (tables, checksums, arrays, weights); name each damaged
    one (exit 2 if any)."""
    from ..store import load

    s = load(store, verify=True)
    typer.echo(f"{store}: {len(s.runs)} runs in {s.runs['batch_id'].nunique() if len(s) else 0}"
               " batches, all intact")
