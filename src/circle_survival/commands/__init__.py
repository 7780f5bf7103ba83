"""The commands of the ``circle-survival`` CLI, one module per group.

Each module defines ``register(app)``, adding its commands to the Typer app.
"""

from __future__ import annotations

import typer

from . import ablation, analyze, beyond, dynamics, explore, reproduce, sweep, train


def register_commands(app: typer.Typer) -> None:
    """Add every command to ``app``, in help order."""
    for module in (train, analyze, sweep, dynamics, reproduce, ablation, explore, beyond):
        module.register(app)
