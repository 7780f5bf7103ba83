"""``circle-survival show``: the runs of a store, as a table, CSV or JSON; ``--where EXPR``
keeps the runs matching a pandas query over the run table's columns."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
import typer

from ..errors import ConfigError
from .common import CircleRuleOpt, Opt, StoreArg, check_format, print_runs

log = logging.getLogger(__name__)

WhereExprOpt = Annotated[str | None, Opt(
    "--where", "-w", help="Keep the runs matching this condition over the run table's "
    "columns (a pandas query), e.g. \"weight_decay > 0.01 and n_circles >= 3\".")]


def query_runs(runs: pd.DataFrame, expr: str) -> pd.DataFrame:
    """The rows of ``runs`` for which ``expr`` (a pandas query; ``run_id`` names the index)
    holds; ConfigError in one line for an expression that is not a condition over the
    columns."""
    hint = "e.g. \"weight_decay > 0.01 and n_circles >= 3\""
    if not expr.strip():
        raise ConfigError(f"--where: the condition is empty ({hint})")
    try:
        mask = runs.eval(expr)
    except Exception as exc:  # pandas raises many kinds: name, syntax, type errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        known = ", ".join(c for c in ("p", "d", "weight_decay", "lr", "embedding_seed",
                                      "n_circles", "test_loss") if c in runs.columns)
        raise ConfigError(f"--where {expr!r}: {first} (columns such as {known}; {hint})"
                          ) from None
    if not (isinstance(mask, pd.Series) and pd.api.types.is_bool_dtype(mask)):
        raise ConfigError(f"--where {expr!r}: not a condition (true or false for each run; "
                          f"{hint})")
    return runs[mask.to_numpy(bool)]


def show_command(
    store: StoreArg,
    fmt: Annotated[str, Opt("--format", "-f", help="table, csv or json.")] = "table",
    where: WhereExprOpt = None,
    circle_rule: CircleRuleOpt = "2x-mean",
) -> None:
    """List the runs of a store: seeds, final test loss and accuracy, circles (by
    --circle-rule; --where sees the rule's n_circles).

    Every file of every batch is read against its checksum first: the runs of a damaged
    batch are never listed (a warning names the batch; ``train`` sets it aside and trains its
    runs again)."""
    from ..fourier import circle_rule as parse_rule
    from ..store import load

    check_format(fmt)
    rule = parse_rule(circle_rule)
    log.info("opening %s (every byte read against its checksum)", store)
    s = load(store, every_byte=True)
    runs = s.runs
    log.debug("%s: %d complete runs, columns %s", store, len(runs), ", ".join(runs.columns))
    if not rule.is_authors and not runs.empty:  # the run table holds the authors' count
        from ..analysis.survival import circles_table

        counted = circles_table(s, list(runs.index), rule=rule).set_index("run_id")
        runs = runs.assign(n_circles=counted["n_circles"], circles=counted["circles"])
    runs = runs.assign(circle_rule=str(rule))
    if where is not None and not runs.empty:
        runs = query_runs(runs, where)
        log.info("--where %s: %d of %d runs", where, len(runs), len(s.runs))
    if runs.empty:  # a listing of nothing, not an error: scripts read it
        what = "no complete runs" if s.runs.empty else f"no run matches --where {where!r}"
        typer.echo(f"{store}: {what}", err=fmt != "table")
        if fmt == "json":
            typer.echo("[]")
        return
    print_runs(runs.sort_values(["embedding_seed", "mlp_seed", "split_seed"]), fmt)
