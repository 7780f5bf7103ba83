"""``circle-survival predict``: how well survival is predicted at initialisation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the CLI."""
    app.command("predict")(predict_command)


def predict_command(
    store: Annotated[Path, typer.Argument(help="A store directory.")],
    n_splits: Annotated[int, Opt(help="GroupKFold splits (by run).")] = 5,
    n_boot: Annotated[int, Opt(help="Bootstrap resamples of runs for the AUC interval.")
                      ] = 1000,
    seed: Annotated[int, Opt(help="Seed of the bootstrap and the boosted model.")] = 0,
    out: Annotated[Path | None, Opt(help="Directory for the figure and result.json "
                                         "[STORE/results/predictability-store].")] = None,
) -> None:
    """Predict each frequency's survival from its initial signal and rank, initial gradients
    and initial circularity: logistic regression and gradient boosting, cross-validated by
    run, ROC AUC with a bootstrap interval, calibration, each feature alone."""
    from ..beyond import predictability_result, write
    from ..store import load
    from .lv import _echo

    if n_splits < 2 or n_boot < 1:
        raise ConfigError(f"need n-splits >= 2 and n-boot >= 1, got {n_splits}, {n_boot}")
    s = load(store)
    if s.runs.empty:
        raise ConfigError(f"{store}: no complete runs")
    try:
        result = predictability_result(s, n_splits=n_splits, n_boot=n_boot, seed=seed)
    except ValueError as exc:
        raise ConfigError(f"{store}: {exc}") from None
    path = write(result, s, out)
    _echo(result, path)
    for row in result.numbers["scores"]:
        typer.echo(f"  {row['name']:<28} AUC {row['auc']:.3f} "
                   f"[{row['auc_low']:.3f}, {row['auc_high']:.3f}]")
