"""The commands of the ``circle-survival`` CLI, one module per command (``sweep``: the group
of plan, run and status), and :mod:`.common`, what they share.

:func:`register_commands` adds them to the Typer app in help order, each with the shared
``-v/--verbose`` and ``--debug`` (:mod:`.log_options`).
"""

from __future__ import annotations

import typer

from . import (
    ablate,
    analyze,
    collaboration,
    explore,
    gradient,
    ode,
    ode_compare,
    ode_r2,
    plot,
    predict,
    report,
    reproduce,
    show,
    sweep,
    train,
    verify,
)
from .log_options import with_log_options

#: (name, command) in help order
COMMANDS = (
    ("train", train.train_command),
    ("show", show.show_command),
    ("analyze", analyze.analyze_command),
    ("plot", plot.plot_command),
    ("gradient", gradient.gradient_command),
    ("collaboration", collaboration.collaboration_command),
    ("ode", ode.ode_command),
    ("ode-r2", ode_r2.ode_r2_command),
    ("reproduce", reproduce.reproduce_command),
    ("report", report.report_command),
    ("ablate", ablate.ablate_command),
    ("explore", explore.explore_command),
    ("ode-compare", ode_compare.ode_compare_command),
    ("predict", predict.predict_command),
    ("verify", verify.verify_command),
)


def register_commands(app: typer.Typer) -> None:
    """Add every command to ``app``, in help order, then the ``sweep`` group (whose
    subcommands take the log options in :mod:`.sweep`)."""
    for name, command in COMMANDS:
        app.command(name)(with_log_options(command))
    app.add_typer(sweep.app, name="sweep")
