"""``circle-survival ode-compare`` (the Lotka-Volterra form against the linear ODE) and
``circle-survival predict`` (how well survival is predicted at initialisation): each writes a
figure and result.json into ``STORE/results/<name>-store/``, where ``report`` finds them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ..report.wording import runs_text

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``ode-compare`` and ``predict`` to the CLI."""
    app.command("ode-compare")(ode_compare_command)
    app.command("predict")(predict_command)


def ode_compare_command(
    store: Annotated[Path, typer.Argument(help="A store directory.")],
    fit_until: Annotated[int, Opt(help="Last step of the fit window.")] = 500,
    heldout_until: Annotated[int, Opt(help="Last step of the held-out window.")] = 1000,
    method: Annotated[str, Opt(help="ols or lasso (both models).")] = "ols",
    alpha: Annotated[float, Opt(help="Lasso penalty.")] = 0.01,
    out: Annotated[Path | None, Opt(help="Directory for the figure and result.json "
                                         "[STORE/results/lotka-volterra-store].")] = None,
) -> None:
    """Fit ds = A s + b and ds = s (r + A s) on early steps of every run, compare one-step R²,
    rollout errors on held-out steps and the survivors each rollout ends with."""
    from ..experiments.beyond import lotka_volterra_result, write
    from ..store import load

    if method not in ("ols", "lasso"):
        raise ConfigError(f"unknown method {method!r} (choose from ols, lasso)")
    if not 1 <= fit_until < heldout_until:
        raise ConfigError(f"need 1 <= fit-until < heldout-until, got {fit_until}, "
                          f"{heldout_until}")
    s = load(store)
    if s.runs.empty:
        raise ConfigError(f"{store}: no complete runs")
    try:
        result = lotka_volterra_result(s, fit_until=fit_until, heldout_until=heldout_until,
                                       method=method, alpha=alpha)
    except ValueError as exc:
        raise ConfigError(f"{store}: {exc}") from None
    path = write(result, s, out)
    _echo(result, path)


def _echo(result, path: Path) -> None:
    typer.echo(f"{result.title} ({runs_text(result.n_runs)})")
    for c in result.claims:
        verdict = {True: "holds", False: "does not hold", None: "undecided"}[c.holds]
        typer.echo(f"  [{verdict}] paper: {c.paper}\n      here: {c.observed}")
    typer.echo(f"figures and numbers: {path.parent}")


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
    from ..experiments.beyond import predictability_result, write
    from ..store import load

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
