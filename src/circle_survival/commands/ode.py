"""``circle-survival ode``: linear dynamics of one run's signals (experiment 11's three fits:
Lasso, the authors' Lasso(alpha=0), exact least squares) rolled out and scored; with
``--model lv``, the generalised Lotka-Volterra form against the linear one. With ``-o/--out
DIR`` it also writes the figures (PNG, SVG), the errors (CSV) and the numbers (JSON).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from ..errors import ConfigError
from .common import (
    AlphaOpt,
    CircleRuleOpt,
    Opt,
    RunOpt,
    StoreArg,
    WindowOpt,
    check_window,
    num,
    open_store,
    pick_run,
    report_written,
    save_figures,
    window_signals,
    write_csv,
    write_json,
)

#: (prediction key, column title) of the printed rollout table.
ERROR_COLUMNS = (("lasso_rollout", "Lasso rollout"), ("lasso0_rollout", "Lasso(0) rollout"),
                 ("ols_rollout", "OLS rollout"),
                 ("lasso_analytic_authors", "analytic (Lasso)"))


def fit_quietly(fn, *args, **kwargs) -> tuple[Any, list[str]]:
    """Call a fit, collecting its warnings (non-identifiable design, Lasso not converged)
    as short notes instead of printing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    notes = sorted({w.category.__name__ for w in caught})
    return result, notes


def analyse_run(store, run_id: str, window: int, alpha: float):
    """:func:`circle_survival.analysis.ode.analyse_ode` of one run's recorded signals
    (ValueError as ConfigError), with the notes of its warnings."""
    from ..analysis.ode import analyse_ode

    steps, sig = window_signals(store, run_id, window)
    p = int(store.runs.loc[run_id, "p"])
    try:
        return fit_quietly(analyse_ode, sig, steps, p, window=window, alpha=alpha)
    except ValueError as exc:
        raise ConfigError(f"run {run_id}: {exc}") from None


def _fit_numbers(fit) -> dict[str, Any]:
    return {"r2_mean": fit.r2_mean, "r2": dict(zip(fit.ks.tolist(), fit.r2.tolist(),
                                                   strict=True)),
            "identifiable": fit.identifiable, "rank": fit.rank, "condition": fit.condition,
            "n_samples": fit.n_samples, "alpha": fit.alpha}


def format_errors(errors: pd.DataFrame) -> list[str]:
    """The rollout errors as a table: k, survived, then RMSE and final relative error of each
    prediction of :data:`ERROR_COLUMNS`."""
    w = 19
    head1 = "    k  survived  " + "  ".join(f"{t:^{w}}" for _, t in ERROR_COLUMNS)
    head2 = "                 " + "  ".join(f"{'RMSE':>9} {'final rel':>9}"
                                            for _ in ERROR_COLUMNS)
    lines = [head1, head2]
    by = {(r.prediction, r.k): r for r in errors.itertuples(index=False)}
    for k in sorted(errors["k"].unique()):
        surv = "yes" if errors.loc[errors["k"] == k, "survived"].iloc[0] else "no"
        cells = "  ".join(f"{num(by[key, k].rmse):>9} {num(by[key, k].final_rel_error):>9}"
                          for key, _ in ERROR_COLUMNS)
        lines.append(f"{int(k):>5}  {surv:>8}  {cells}")
    return lines


def _identifiability_line(fit) -> str:
    k = len(fit.ks)
    if fit.identifiable:
        return (f"identifiable: yes (design [s_t, 1] of {fit.n_samples} transitions has full "
                f"rank {fit.rank}; condition number {num(fit.condition)})")
    return (f"identifiable: NO (design [s_t, 1] has rank {fit.rank} < {k + 1} unknowns per "
            f"frequency, {fit.n_samples} transitions): A and b are not determined by the data")


def ode_command(
    store: StoreArg,
    run: RunOpt = None,
    window: WindowOpt = 1000,
    alpha: AlphaOpt = 0.01,
    model: Annotated[str, Opt(help="linear (the paper's fits) or lv (the generalised "
                                   "Lotka-Volterra form, fitted on the first half of the "
                                   "window and judged on the second, next to the linear "
                                   "form).")] = "linear",
    out: Annotated[Path | None, Opt("--out", "-o", help="Write the figures (PNG, SVG), the "
                                    "errors (CSV) and the numbers (JSON) into this "
                                    "directory.")] = None,
    circle_rule: CircleRuleOpt = "2x-mean",
) -> None:
    """Fit s_{t+1} - s_t = A s_t + b to one run (experiment 11's three fits: Lasso, the
    authors' Lasso(alpha=0), exact least squares) and roll the fits out; with --model lv,
    compare the Lotka-Volterra form ds = s (r + A s) with it."""
    from ..fourier import circle_rule as parse_rule

    rule = parse_rule(circle_rule)
    check_window(window, alpha)
    if model not in ("linear", "lv"):
        raise ConfigError(f"--model: expected linear or lv, got {model!r}")
    st = open_store(store)
    rid = pick_run(st, run)
    if model == "lv":
        lotka_volterra(st, rid, window, alpha, out)
        return
    cfg = st.config(rid)
    res, notes = analyse_run(st, rid, window, alpha)
    sig = st.signals(rid)[1]
    alive = rule.survival(sig[-1], cfg.p, sig[0])[res.ks]
    errors = res.errors.merge(pd.DataFrame({"k": res.ks, "survived": alive,
                                            "circle_rule": str(rule)}), on="k")
    unit = int(res.steps[1] - res.steps[0])
    typer.echo(f"run {rid}: linear ODE over steps 0 .. {int(res.steps[-1])} "
               f"({len(res.steps) - 1} transitions of {unit} step(s)), p = {cfg.p}, d = {cfg.d}")
    typer.echo(f"R^2 mean: Lasso (alpha = {alpha:g}) {num(res.lasso.r2_mean, '.4f')}, "
               f"Lasso(alpha = 0) {num(res.fits['lasso0'].r2_mean, '.4f')}, "
               f"OLS {num(res.ols.r2_mean, '.4f')}")
    typer.echo(_identifiability_line(res.ols))
    if "ConvergenceWarning" in notes:
        typer.echo("note: the Lasso fit did not converge (scikit-learn ConvergenceWarning)")
    typer.echo("")
    typer.echo(f"rollout errors per frequency (final rel = |pred - true| / true at the last "
               f"step; survived: {rule.describe()})")
    for line in format_errors(errors):
        typer.echo(line)
    if out is None:
        return
    from ..figures.dynamics import ode_coefficients, ode_trajectories

    figures = {
        "ode_trajectories": ode_trajectories(res.steps, res.true, res.predictions, res.ks,
                                             survived=alive),
        "ode_coefficients": ode_coefficients(res.lasso.A, res.ks, title=f"Lasso coefficients "
                                             f"A (alpha = {alpha:g})"),
        "ode_coefficients_ols": ode_coefficients(res.ols.A, res.ks, title="OLS coefficients A"),
    }
    paths = save_figures(figures, out)
    paths += write_csv({"ode_errors": errors}, out)
    numbers = {"store": str(store), "run_id": rid, "p": cfg.p, "d": cfg.d, "window": window,
               "alpha": alpha, "step_unit": unit, "n_transitions": len(res.steps) - 1,
               **{m: _fit_numbers(fit) for m, fit in res.fits.items()},
               "notes": notes, "circle_rule": str(rule)}
    paths.append(write_json(numbers, out / "ode.json"))
    report_written(paths, out)


def lotka_volterra(st, rid: str, window: int, alpha: float, out: Path | None) -> None:
    """``ode --model lv``: both forms fitted by least squares on steps 0 .. window/2 of run
    ``rid``, scored on the steps after (:func:`analysis.lotka_volterra.compare_linear_lv`)."""
    from ..analysis.lotka_volterra import compare_linear_lv

    cfg = st.config(rid)
    steps, sig = st.signals(rid)
    fit_until = max(1, window // 2)
    try:
        cmp = compare_linear_lv(sig, steps, cfg.p, fit_until=fit_until, heldout_until=window,
                                method="ols", alpha=alpha)
    except ValueError as exc:
        raise ConfigError(f"run {rid}: {exc}") from None
    typer.echo(f"run {rid}: linear and Lotka-Volterra forms fitted on steps 0 .. {fit_until}, "
               f"held out {fit_until} .. {window} and after, p = {cfg.p}, d = {cfg.d}")
    cols = ["model", "r2_fit", "r2_heldout", "rel_error_heldout", "rel_error_beyond",
            "diverged", "survivors_match"]
    typer.echo(cmp.scores[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if out is not None:
        typer.echo(f"wrote {write_csv({'ode_lv_scores': cmp.scores}, out)[0]}")
