"""Command groups of the ``circle-survival`` CLI beyond ``train`` and ``show``.

Each module here defines ``register(app)``, adding its commands to the Typer app.
"""

from __future__ import annotations

import importlib

import typer

#: Modules (in this package) whose commands the CLI offers, in help order.
MODULES: list[str] = ["analyze", "sweep", "dynamics", "reproduce", "ablation", "explore",
                      "beyond"]


def register_all(app: typer.Typer) -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}").register(app)
