"""``circle-survival gradient``: initial gradients against survival (experiment 8's analysis).

Prints Student's t-test, the authors' linear SVM and a standardised one, over all runs and per
group; with ``-o/--out DIR`` also writes the table (CSV, Parquet), the histograms and
survival-rate curves (PNG, SVG) and the printed numbers (JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from .common import (
    CIRCLE_RULE_HELP,
    Opt,
    StoreArg,
    WhereOpt,
    group_name,
    num,
    open_store,
    report_written,
    save_figures,
    select_where,
    write_json,
    write_tables,
)

#: The steps s of the survival-rate curves and histograms (the paper's s = 1 .. 4).
CURVE_S = (1, 2, 3, 4)


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


def gradient_lines(numbers: dict[str, Any], s: int) -> list[str]:
    """The printed numbers of one set of runs: frequencies, the t-test, both SVMs."""
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
    lines.append(_svm_line("the authors' linear SVM (SVC, features rounded to 5 decimals, "
                           "unscaled, 80/20, random_state 42)",
                           numbers["svm"], numbers.get("svm_skipped"), s))
    lines.append(_svm_line("standardised LinearSVC (stratified 80/20)",
                           numbers["svm_standardised"], numbers.get("svm_standardised_skipped"),
                           s))
    return lines


def gradient_command(
    store: StoreArg,
    circle_rule: Annotated[str, Opt("--circle-rule", help=CIRCLE_RULE_HELP + " The paper's "
                                    "initial-gradient analysis uses absolute:10.")
                           ] = "2x-mean",
    s: Annotated[int, Opt("--s", help="Step s of the tested gradient (S_k(s) - S_k(s-1)) / "
                                      "S_k(0).")] = 4,
    group_by: Annotated[list[str] | None, Opt("--group-by", "-g", help="Config column "
                                              "(repeatable): also test each group, e.g. "
                                              "embedding_seed.")] = None,
    where: WhereOpt = None,
    out: Annotated[Path | None, Opt("--out", "-o", help="Write the table (CSV, Parquet), the "
                                    "figures (PNG, SVG) and the numbers (JSON) into this "
                                    "directory.")] = None,
) -> None:
    """Initial gradients against survival (experiment 8's analysis): Student's t-test, the
    authors' linear SVM and a standardised one, histograms and survival-rate curves."""
    from ..analysis.gradient import survival_rate_by_gradient
    from ..analysis.survival import check_group_by, frequency_table
    from ..experiments.initial_gradient import gradient_numbers
    from ..fourier import circle_rule as parse_rule

    rule = parse_rule(circle_rule)
    if s < 1:
        raise ConfigError(f"--s must be >= 1, got {s}")
    st = open_store(store)
    ids = select_where(st, where)
    group_by = check_group_by(st, group_by or [])
    s_values = sorted({*CURVE_S, s})
    check_gradient_steps(st, ids, s_values[-1])
    table = frequency_table(st, ids, group_by=group_by, rule=rule, s_max=s_values[-1])
    typer.echo(f"initial gradient and survival ({rule.describe()}; step s = {s})")
    numbers = {"store": str(store), "circle_rule": str(rule), "s": s,
               "where": list(where or []), **gradient_numbers(table, s), "groups": []}
    for line in gradient_lines(numbers, s):
        typer.echo(line)
    for key, part in (table.groupby(group_by, sort=True) if group_by else []):
        label = group_name(group_by, key)
        group = {"group": label, **gradient_numbers(part, s)}
        numbers["groups"].append(group)
        typer.echo("")
        typer.echo(f"{label}:")
        for line in gradient_lines(group, s):
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
    report_written(paths, out)
