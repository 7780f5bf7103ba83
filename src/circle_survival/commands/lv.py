"""``circle-survival ode-compare``: the Lotka-Volterra form against the linear ODE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``ode-compare`` to the CLI."""
    app.command("ode-compare")(ode_compare_command)


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
    from ..beyond import lotka_volterra_result, write
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
    typer.echo(f"{result.title} ({result.n_runs} runs)")
    for c in result.claims:
        verdict = {True: "holds", False: "does not hold", None: "undecided"}[c.holds]
        typer.echo(f"  [{verdict}] paper: {c.paper}\n      here: {c.observed}")
    typer.echo(f"figures and numbers: {path.parent}")
