"""The training-dynamics commands: ``gradient`` (initial gradients and survival, experiment 8),
``collaboration`` (losses with the embedding restricted to a few circles, experiment 10),
``ode`` (linear dynamics of one run's signals, experiment 11) and ``ode-r2`` (the fit quality
of every run against the embedding width d).

Each prints its key numbers; with ``--out DIR`` it also writes its tables (CSV, and Parquet
where a table has list or many rows), its figures (PNG and SVG) and a JSON of the printed
numbers. Every bad request (empty store, unknown run or column, missing snapshots, too few
recorded steps for ``--s`` or ``--window``) ends with one line and exit status 2, before
anything is written.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from ..errors import ConfigError, StoreError
from .analyze import open_store, pick_run, write_tables

Arg, Opt = typer.Argument, typer.Option

#: The steps s of the survival-rate curves and histograms (the paper's s = 1 .. 4).
CURVE_S = (1, 2, 3, 4)
#: Columns the ``--where`` error message suggests.
SUGGESTED_COLUMNS = ("embedding_seed", "mlp_seed", "split_seed", "p", "d", "weight_decay", "lr")


def register(app: typer.Typer) -> None:
    """Add ``gradient``, ``collaboration``, ``ode`` and ``ode-r2`` to the CLI."""
    app.command("gradient")(gradient_command)
    app.command("collaboration")(collaboration_command)
    app.command("ode")(ode_command)
    app.command("ode-r2")(ode_r2_command)


# -- helpers -----------------------------------------------------------------------------
def num(x: float, fmt: str = ".3g") -> str:
    """A number for the terminal; NaN and infinities as 'nan', 'inf'."""
    x = float(x)
    return f"{x:{fmt}}" if math.isfinite(x) else str(x)


def group_name(keys: Sequence[str], values: Any) -> str:
    """'d=16' or 'd=16,embedding_seed=0' for a group of runs."""
    values = values if isinstance(values, tuple) else (values,)
    return ",".join(f"{k}={_text(v)}" for k, v in zip(keys, values, strict=True))


def _text(v: Any) -> str:
    """A run-table value as the text ``--where`` compares with: lists as '16,16'."""
    if isinstance(v, list | tuple | np.ndarray):
        return ",".join(_text(x) for x in v)
    return str(v.item() if isinstance(v, np.generic) else v)


def _matches(column: pd.Series, value: str, name: str) -> np.ndarray:
    """Which rows of a run-table column equal ``value`` (given as text)."""
    if pd.api.types.is_bool_dtype(column):
        v = value.lower()
        if v not in ("true", "false", "1", "0"):
            raise ConfigError(f"--where {name}: expected true or false, got {value!r}")
        return column.to_numpy(bool) == (v in ("true", "1"))
    if pd.api.types.is_numeric_dtype(column):
        try:
            x = float(value)
        except ValueError:
            raise ConfigError(f"--where {name}: expected a number, got {value!r}") from None
        return np.isclose(column.to_numpy(float), x, rtol=1e-12, atol=0.0)
    return (column.map(_text) == value).to_numpy(bool)


def select_where(store, where: Sequence[str]) -> list[str]:
    """The run ids matching every COL=VALUE filter (all runs without filters)."""
    runs = store.runs
    keep = np.ones(len(runs), dtype=bool)
    for item in where:
        col, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not col:
            raise ConfigError(f"--where: expected COL=VALUE (e.g. embedding_seed=0), got "
                              f"{item!r}")
        if col not in runs.columns:
            known = ", ".join(c for c in SUGGESTED_COLUMNS if c in runs.columns)
            raise ConfigError(f"--where: unknown column {col!r} (config columns such as "
                              f"{known})")
        keep &= _matches(runs[col], value, col)
    ids = [str(r) for r in runs.index[keep]]
    if not ids:
        raise StoreError(f"no run of {store.path} matches {' '.join(where)} "
                         f"({len(runs)} runs in all)")
    return ids


def _plain(x: Any) -> Any:
    """JSON-ready values: numpy scalars and arrays as Python ones, NaN and inf as null."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(data: dict, path: Path) -> Path:
    """Write ``data`` as indented JSON (NaN as null); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(data), indent=2) + "\n")
    return path


def save_figures(figures: dict[str, Any], out: Path) -> list[Path]:
    """Write each figure as NAME.png and NAME.svg under ``out``; return the paths."""
    from ..figures.io import save_figure

    paths = []
    for name, fig in figures.items():
        paths += save_figure(fig, out / name)
    return paths


def check_device(device: str) -> str:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (cuda when present); CUDA must be present."""
    from ..config import resolve_device

    if device not in ("cpu", "auto") and not (device == "cuda" or device.startswith("cuda:")):
        raise ConfigError(f"--device: expected cpu, cuda or auto, got {device!r}")
    return resolve_device(device)


def _report_written(paths: Sequence[Path], out: Path) -> None:
    typer.echo(f"wrote {len(paths)} files to {out}")


# -- gradient ------------------------------------------------------------------------------
def check_gradient_steps(store, run_ids: Sequence[str], s_max: int) -> None:
    """Every run must record its signals at steps 0 .. s_max."""
    from ..analysis.survival import shape_groups

    for ids, _, steps in shape_groups(store, run_ids):
        missing = sorted(set(range(s_max + 1)) - set(steps))
        if not missing:
            continue
        cfg = store.config(ids[0])
        need = f"the gradients up to s = {s_max} need the signals of steps 0 .. {s_max}"
        if cfg.steps < s_max:
            raise ConfigError(f"run {ids[0]} has only {cfg.steps} steps; {need}")
        raise ConfigError(f"run {ids[0]} records signals every {cfg.signal_every} steps, so "
                          f"step {missing[0]} is missing; {need} (train with --signal-every 1 or "
                          f"--signal-dense-until {s_max} or more)")


def _svm_line(name: str, svm: dict[str, Any] | None, skipped: str | None, s: int) -> str:
    if svm is None:
        return f"{name}: skipped ({skipped})"
    return (f"{name} on (grad_{s}, initial_signal): held-out accuracy {svm['accuracy']:.3f} vs "
            f"majority baseline {svm['baseline_accuracy']:.3f} ({svm['n_test']} held out, "
            f"{svm['n_train']} trained on; binomial p = {num(svm['p_value'], '.2g')})")


def _gradient_lines(numbers: dict[str, Any], s: int) -> list[str]:
    t = numbers["ttest"][f"s={s}"]
    lines = [f"frequencies: {numbers['frequencies']} ({numbers['runs']} runs); survived: "
             f"{numbers['survived']}, dead: {numbers['dead']}"]
    if math.isfinite(t["statistic"]):
        lines.append(f"Student's t-test of grad_{s}, survivors vs dead: t = "
                     f"{num(t['statistic'])}, p = {num(t['p_value'])} (means "
                     f"{num(t['mean_survived'])} vs {num(t['mean_dead'])})")
    else:
        lines.append(f"Student's t-test of grad_{s}: skipped (needs at least two survivors "
                     "and two dead frequencies)")
    lines.append(_svm_line("the authors' linear SVM (SVC, unscaled, 80/20, random_state 42)",
                           numbers["svm"], numbers.get("svm_skipped"), s))
    lines.append(_svm_line("standardised LinearSVC (stratified 80/20)",
                           numbers["svm_standardised"], numbers.get("svm_standardised_skipped"),
                           s))
    return lines


def gradient_command(
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    rule: Annotated[str, Opt(help="Survival rule: 2x-mean (the paper's circles) or absolute "
                                  "(final S_k > threshold, the paper's choice here).")
                    ] = "2x-mean",
    threshold: Annotated[float, Opt(help="Threshold of the absolute rule.")] = 10.0,
    s: Annotated[int, Opt("--s", help="Step s of the tested gradient (S_k(s) - S_k(s-1)) / "
                                      "S_k(0).")] = 4,
    group_by: Annotated[list[str] | None, Opt("--group-by", "-g", help="Config column "
                                              "(repeatable): also test each group, e.g. "
                                              "embedding_seed.")] = None,
    where: Annotated[list[str] | None, Opt("--where", "-w", help="Keep runs with COL=VALUE "
                                           "(repeatable), e.g. embedding_seed=0.")] = None,
    out: Annotated[Path | None, Opt(
        "--out", "-o", help="Write the table (CSV, Parquet), the figures (PNG, "
                                         "SVG) and the numbers (JSON) into this directory.")
                   ] = None,
) -> None:
    """Initial gradients against survival (experiment 8's analysis): Student's t-test, the
    authors' linear SVM and a standardised one, histograms and survival-rate curves."""
    from ..analysis.gradient import survival_rate_by_gradient
    from ..analysis.survival import check_group_by, check_rule, frequency_table
    from ..experiments.initial_gradient import gradient_numbers

    check_rule(rule, threshold)
    if s < 1:
        raise ConfigError(f"--s must be >= 1, got {s}")
    st = open_store(store)
    ids = select_where(st, where or [])
    group_by = check_group_by(st, group_by or [])
    s_values = sorted({*CURVE_S, s})
    check_gradient_steps(st, ids, s_values[-1])
    table = frequency_table(st, ids, group_by=group_by, rule=rule, threshold=threshold,
                            s_max=s_values[-1])
    rule_text = rule if rule == "2x-mean" else f"absolute, S_k > {threshold:g}"
    typer.echo(f"initial gradient and survival (rule: {rule_text}; step s = {s})")
    numbers = {"store": str(store), "rule": rule, "threshold": threshold, "s": s,
               "where": list(where or []), **gradient_numbers(table, s), "groups": []}
    for line in _gradient_lines(numbers, s):
        typer.echo(line)
    for key, part in (table.groupby(group_by, sort=True) if group_by else []):
        label = group_name(group_by, key)
        group = {"group": label, **gradient_numbers(part, s)}
        numbers["groups"].append(group)
        typer.echo("")
        typer.echo(f"{label}:")
        for line in _gradient_lines(group, s):
            typer.echo(f"  {line}")
    if out is None:
        return
    from ..figures.dynamics import initial_gradient_histograms, survival_rate_curves

    rates = survival_rate_by_gradient(table, s_values, bins=20, binning="width")
    paths = write_tables({"gradient_table": table, "survival_by_gradient": rates}, out)
    paths += save_figures({"gradient_histograms": initial_gradient_histograms(
                               table, s_values, equal_var=True),
                           "survival_rate_curves": survival_rate_curves(rates)}, out)
    paths.append(write_json(numbers, out / "gradient.json"))
    _report_written(paths, out)


# -- collaboration ------------------------------------------------------------------------
def read_snapshots(store, run_id: str) -> dict[int, dict[str, np.ndarray]]:
    """Every parameter snapshot of a run (step -> state dict); StoreError if it has none."""
    steps = store.snapshot_steps(run_id)
    if not steps:
        raise StoreError(f"run {run_id} has no parameter snapshots; record them when training "
                         "(circle-survival train ... --snapshot-every 100)")
    return {s: store.snapshot(run_id, s) for s in steps}


def format_collaboration(losses: pd.DataFrame, survivors: Sequence[int],
                         strongest: Sequence[int]) -> list[str]:
    """Loss at the last snapshot: one row per k, one column per mode (* marks survivors)."""
    from ..analysis.collaboration import MODES

    last = losses[losses["step"] == losses["step"].max()]
    heads = {"single": "k alone", "strongest+k": f"{strongest[0]} + k",
             "pair+k": f"{strongest[0]}, {strongest[1]} + k"}
    cells = {m: dict(zip(g["k"], g["loss"], strict=True)) for m, g in last.groupby("mode")}
    widths = [max(10, len(heads[m])) for m in MODES]
    lines = ["    k   " + "  ".join(f"{heads[m]:>{w}}" for m, w in zip(MODES, widths,
                                                                    strict=True))]
    for k in sorted(last["k"].unique()):
        mark = "*" if k in survivors else " "
        row = "  ".join(f"{num(cells[m][k]):>{w}}" if k in cells.get(m, {}) else f"{'-':>{w}}"
                        for m, w in zip(MODES, widths, strict=True))
        lines.append(f"{int(k):>5}{mark}  {row}")
    return lines


def collaboration_command(
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    run: Annotated[str | None, Opt(help="Run id (default: the store's only run).")] = None,
    out: Annotated[Path | None, Opt(
        "--out", "-o", help="Write the figure (PNG, SVG) and the losses (CSV, "
                                         "Parquet) into this directory.")] = None,
    device: Annotated[str, Opt(help="Device of the forward passes: cpu, cuda, cuda:N or "
                                    "auto.")] = "auto",
) -> None:
    """Loss with the embedding restricted to one circle, {strongest, k}, {two strongest, k}."""
    from ..analysis.collaboration import collaboration_losses, full_loss
    from ..fourier import n_freq

    device = check_device(device)
    st = open_store(store)
    rid = pick_run(st, run)
    cfg = st.config(rid)
    if n_freq(cfg.p) < 3:
        raise ConfigError(f"run {rid}: the collaboration analysis needs at least 3 circles, "
                          f"p = {cfg.p} has {n_freq(cfg.p)}")
    snaps = read_snapshots(st, rid)
    final = st.signals(rid)[1][-1]
    res = collaboration_losses(snaps, cfg.activation, final_signal=final, device=device)
    full = full_loss(snaps, cfg.activation, device=device)
    steps = res.steps
    last = int(steps[-1])
    typer.echo(f"run {rid}: {len(steps)} snapshots (steps {int(steps[0])} .. {last}), "
               f"p = {cfg.p}, d = {cfg.d}")
    typer.echo(f"survivors (circles of the final signal): "
               f"{', '.join(map(str, res.survivors)) or '-'}")
    typer.echo(f"strongest (final signal): {', '.join(map(str, res.strongest))}")
    note = "" if last == cfg.steps else f", the last snapshot of {cfg.steps} steps"
    typer.echo(f"loss on all p^2 pairs at step {last}{note} (* survivor); full model "
               f"{num(full['loss'].iloc[-1])}")
    for line in format_collaboration(res.losses, res.survivors, res.strongest):
        typer.echo(line)
    if out is None:
        return
    from ..figures.dynamics import collaboration_figure

    paths = write_tables({"collaboration_losses": res.losses, "full_loss": full}, out)
    paths += save_figures({"collaboration": collaboration_figure(
        res.losses, res.survivors, res.strongest, full=full)}, out)
    _report_written(paths, out)


# -- ode -------------------------------------------------------------------------------------
def window_signals(store, run_id: str, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, signals) of a run over steps 0 .. window, reading only those records.

    ConfigError when the run is shorter than the window or records fewer than three signals
    in it (two transitions).
    """
    from ..training.trainer import RecordPlan

    cfg = store.config(run_id)
    if cfg.steps < window:
        raise ConfigError(f"run {run_id} has {cfg.steps} steps, fewer than the window "
                          f"{window}; choose --window {cfg.steps} or less")
    steps = np.asarray(RecordPlan.of(cfg).signal_steps)
    n = int((steps <= window).sum())
    if n < 3:
        raise ConfigError(f"run {run_id} records signals every {cfg.signal_every} steps: "
                          f"{n} record(s) in steps 0 .. {window}, the fit needs at least 3")
    sig = store.stack("signals", [run_id], steps=slice(0, n))[0]
    return steps[:n], sig


def check_window(window: int, alpha: float) -> None:
    if window < 2:
        raise ConfigError(f"--window must be >= 2, got {window}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"--alpha must be a positive number, got {alpha}")


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


#: (prediction key, column title) of the printed rollout table.
ERROR_COLUMNS = (("lasso_rollout", "Lasso rollout"), ("lasso0_rollout", "Lasso(0) rollout"),
                 ("ols_rollout", "OLS rollout"),
                 ("lasso_analytic_authors", "analytic (Lasso)"))


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
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    run: Annotated[str | None, Opt(help="Run id (default: the store's only run).")] = None,
    window: Annotated[int, Opt(help="Fit over steps 0 .. WINDOW.")] = 1000,
    alpha: Annotated[float, Opt(help="Lasso penalty (scikit-learn's alpha).")] = 0.01,
    model: Annotated[str, Opt(help="linear (the paper's fits) or lv (the generalised "
                                   "Lotka-Volterra form, fitted on the first half of the "
                                   "window and judged on the second, next to the linear "
                                   "form).")] = "linear",
    out: Annotated[Path | None, Opt(
        "--out", "-o", help="Write the figures (PNG, SVG), the errors (CSV) and "
                                         "the numbers (JSON) into this directory.")] = None,
) -> None:
    """Fit s_{t+1} - s_t = A s_t + b to one run (experiment 11's three fits: Lasso, the
    authors' Lasso(alpha=0), exact least squares) and roll the fits out; with --model lv,
    compare the Lotka-Volterra form ds = s (r + A s) with it."""
    from ..fourier import survival

    check_window(window, alpha)
    if model not in ("linear", "lv"):
        raise ConfigError(f"--model: expected linear or lv, got {model!r}")
    st = open_store(store)
    rid = pick_run(st, run)
    if model == "lv":
        lv_command(st, rid, window, alpha, out)
        return
    cfg = st.config(rid)
    res, notes = analyse_run(st, rid, window, alpha)
    alive = survival(st.signals(rid)[1][-1], cfg.p)[res.ks]
    errors = res.errors.merge(pd.DataFrame({"k": res.ks, "survived": alive}), on="k")
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
    typer.echo("rollout errors per frequency (final rel = |pred - true| / true at the last "
               "step)")
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
    out.mkdir(parents=True, exist_ok=True)
    errors.to_csv(out / "ode_errors.csv", index=False)
    paths.append(out / "ode_errors.csv")
    numbers = {"store": str(store), "run_id": rid, "p": cfg.p, "d": cfg.d, "window": window,
               "alpha": alpha, "step_unit": unit, "n_transitions": len(res.steps) - 1,
               **{m: _fit_numbers(fit) for m, fit in res.fits.items()},
               "notes": notes}
    paths.append(write_json(numbers, out / "ode.json"))
    _report_written(paths, out)


def lv_command(st, rid: str, window: int, alpha: float, out: Path | None) -> None:
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
        out.mkdir(parents=True, exist_ok=True)
        cmp.scores.to_csv(out / "ode_lv_scores.csv", index=False)
        typer.echo(f"wrote {out / 'ode_lv_scores.csv'}")


# -- ode-r2 ----------------------------------------------------------------------------------
def format_r2(summary: pd.DataFrame) -> list[str]:
    """One row per d: number of runs, then the R^2 of each fit (Lasso, Lasso(alpha=0), exact
    least squares) as mean ± SD."""
    heads = {"lasso": "Lasso", "lasso0": "Lasso(0)", "ols": "least squares"}
    lines = [f"{'d':>5}  {'runs':>4}  " + "  ".join(f"{h:>17}" for h in heads.values())]
    for d, g in summary.groupby("d", sort=True):
        cell = {r.method: f"{num(r.mean, '.4f')} ± {num(r.sd, '.4f')}"
                for r in g.itertuples(index=False)}
        lines.append(f"{int(d):>5}  {int(g['runs'].max()):>4}  "
                     + "  ".join(f"{cell.get(m, '-'):>17}" for m in heads))
    return lines


def ode_r2_command(
    store: Annotated[Path, Arg(metavar="STORE", help="A store directory.")],
    window: Annotated[int, Opt(help="Fit over steps 0 .. WINDOW.")] = 1000,
    alpha: Annotated[float, Opt(help="Lasso penalty (scikit-learn's alpha).")] = 0.01,
    where: Annotated[list[str] | None, Opt("--where", "-w", help="Keep runs with COL=VALUE "
                                           "(repeatable).")] = None,
    out: Annotated[Path | None, Opt(
        "--out", "-o", help="Write the R^2 tables (CSV), the figure (PNG, SVG) "
                                         "and the numbers (JSON) into this directory.")
                   ] = None,
) -> None:
    """R^2 of the linear ODE fits (experiment 11's Lasso, the authors' Lasso(alpha=0) and the
    exact least squares) of every run, by embedding width d."""
    from ..experiments.ode import r2_by_d, r2_table

    check_window(window, alpha)
    st = open_store(store)
    ids = select_where(st, where or [])
    for rid in ids:  # enough recorded signals in the window, before the first (slow) fit
        window_signals(st, rid, window)
    results = r2_table(st, ids, window, alpha)
    summary = r2_by_d(results)
    typer.echo(f"R^2 of the linear ODE over steps 0 .. {window} (Lasso alpha = {alpha:g}, "
               f"Lasso(alpha = 0), exact least squares), mean ± SD over runs; {len(ids)} runs")
    for line in format_r2(summary):
        typer.echo(line)
    bad = results.loc[~results["identifiable"] & (results["method"] == "ols"), "run_id"]
    if len(bad):
        typer.echo(f"note: {len(bad)} of {len(ids)} runs are not identifiable (rank-deficient "
                   f"design; e.g. {bad.iloc[0]})")
    if out is None:
        return
    from ..experiments.ode import FITS
    from ..figures.dynamics import r2_vs_d

    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "ode_r2.csv", index=False)
    summary.to_csv(out / "ode_r2_by_d.csv", index=False)
    paths = [out / "ode_r2.csv", out / "ode_r2_by_d.csv"]
    plot = results.assign(method=results["method"].map(FITS))
    paths += save_figures({"ode_r2_vs_d": r2_vs_d(plot)}, out)
    numbers = {"store": str(store), "window": window, "alpha": alpha, "runs": len(ids),
               "by_d": summary.to_dict(orient="records")}
    paths.append(write_json(numbers, out / "ode_r2.json"))
    _report_written(paths, out)
