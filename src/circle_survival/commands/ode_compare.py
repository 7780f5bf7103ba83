"""``circle-survival ode-compare``: the Lotka-Volterra form against the linear ODE on every run
of a store; writes a figure and result.json into ``-o/--out DIR`` (default
``STORE/results/lotka-volterra-store/``, where ``report`` finds them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from ..errors import ConfigError
from .common import Opt, StoreArg, check_out_dir, echo_claims, open_store


def ode_compare_command(
    store: StoreArg,
    fit_until: Annotated[int, Opt(help="Last step of the fit window.")] = 500,
    heldout_until: Annotated[int, Opt(help="Last step of the held-out window.")] = 1000,
    method: Annotated[str, Opt(help="ols or lasso (both models).")] = "ols",
    alpha: Annotated[float, Opt(help="Lasso penalty.")] = 0.01,
    out: Annotated[Path | None, Opt("--out", "-o", help="Directory for the figure and "
                                    "result.json.",
                                    show_default="STORE/results/lotka-volterra-store")
                   ] = None,
) -> None:
    """Fit ds = A s + b and ds = s (r + A s) on early steps of every run, compare one-step R²,
    rollout errors on held-out steps and the survivors each rollout ends with."""
    from ..experiments.beyond import lotka_volterra_result, write

    if method not in ("ols", "lasso"):
        raise ConfigError(f"unknown method {method!r} (choose from ols, lasso)")
    if not 1 <= fit_until < heldout_until:
        raise ConfigError(f"need 1 <= fit-until < heldout-until, got {fit_until}, "
                          f"{heldout_until}")
    check_out_dir(out, "the figure and result.json")
    s = open_store(store)
    try:
        result = lotka_volterra_result(s, fit_until=fit_until, heldout_until=heldout_until,
                                       method=method, alpha=alpha)
    except ValueError as exc:
        raise ConfigError(f"{store}: {exc}") from None
    echo_claims(result, write(result, s, out))
