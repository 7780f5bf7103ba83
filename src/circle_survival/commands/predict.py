"""``circle-survival predict``: how well each frequency's survival is predicted at
initialisation, over every run of a store; writes a figure and result.json into ``-o/--out
DIR`` (default ``STORE/results/predictability-store/``, where ``report`` finds them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from .common import CircleRuleOpt, Opt, StoreArg, check_out_dir, echo_claims, open_store


def predict_command(
    store: StoreArg,
    n_splits: Annotated[int, Opt(help="GroupKFold splits (by run).")] = 5,
    n_boot: Annotated[int, Opt(help="Bootstrap resamples of runs for the AUC interval.")
                      ] = 1000,
    seed: Annotated[int, Opt(help="Seed of the bootstrap and the boosted model.")] = 0,
    out: Annotated[Path | None, Opt("--out", "-o", help="Directory for the figure and "
                                    "result.json.",
                                    show_default="STORE/results/predictability-store")
                   ] = None,
    circle_rule: CircleRuleOpt = "2x-mean",
) -> None:
    """Predict each frequency's survival from its initial signal and rank, initial gradients
    and initial circularity: logistic regression and gradient boosting, cross-validated by
    run, ROC AUC with a bootstrap interval, calibration, each feature alone."""
    from ..experiments.beyond import predictability_result, write
    from ..fourier import circle_rule as parse_rule

    rule = parse_rule(circle_rule)

    if n_splits < 2 or n_boot < 1:
        raise ConfigError(f"need n-splits >= 2 and n-boot >= 1, got {n_splits}, {n_boot}")
    check_out_dir(out, "the figure and result.json")
    s = open_store(store)
    try:
        result = predictability_result(s, n_splits=n_splits, n_boot=n_boot, seed=seed,
                                       rule=rule)
    except ValueError as exc:
        raise ConfigError(f"{store}: {exc}") from None
    echo_claims(result, write(result, s, out))
    for row in result.numbers["scores"]:
        typer.echo(f"  {row['name']:<28} AUC {row['auc']:.3f} "
                   f"[{row['auc_low']:.3f}, {row['auc_high']:.3f}]")
