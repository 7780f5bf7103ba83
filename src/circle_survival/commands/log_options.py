"""``-v/--verbose`` and ``--debug``, the options every command shares, written once.

Both go through Python's :mod:`logging`: ``-v`` sets the package's logger
(``logging.getLogger("circle_survival")``) to INFO, ``--debug`` to DEBUG; ``--debug`` also
makes an unexpected error show its traceback (:func:`circle_survival.cli.main` looks for it
on the command line). The records go to stderr as ``info: ...`` / ``debug: ...`` lines.

:func:`with_log_options` adds the two options to a command's signature (Typer reads a
command's options from it); :func:`circle_survival.commands.register_commands` applies it to
every command and subcommand, and the root callback takes them too, so they may stand before
the command's name as well.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Annotated, Any

import typer

from .common import Opt

#: the package's logger, the one the two options set
LOGGER = "circle_survival"

VerboseOpt = Annotated[bool, Opt("--verbose", "-v", help="Log what the command does (opening "
                                 "stores, planning batches, writing files) on stderr.")]
DebugOpt = Annotated[bool, Opt("--debug", help="Log in detail, and show the traceback of an "
                               "unexpected error.")]


class _EchoHandler(logging.Handler):
    """Each record as one ``level: message`` line on the stderr of the moment (so a test's
    captured stream gets it, too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            typer.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)
        except Exception:  # pragma: no cover - logging must never end a command
            self.handleError(record)


_handler = _EchoHandler()


def set_log_level(verbose: bool = False, debug: bool = False) -> None:
    """The package's logger at INFO (``verbose``) or DEBUG (``debug``), writing to stderr;
    neither: left as it is (a lower level set by a root option stays)."""
    if not (verbose or debug):
        return
    log = logging.getLogger(LOGGER)
    level = logging.DEBUG if debug else logging.INFO
    if log.level == logging.NOTSET or log.level > level:
        log.setLevel(level)
    if _handler not in log.handlers:
        log.addHandler(_handler)


def reset_logging() -> None:
    """Undo :func:`set_log_level` (the end of every command line)."""
    log = logging.getLogger(LOGGER)
    log.removeHandler(_handler)
    log.setLevel(logging.NOTSET)


def with_log_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with ``-v/--verbose`` and ``--debug`` after its own parameters: they set
    the log level (:func:`set_log_level`) and are not passed on."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]

    @functools.wraps(command)
    def run(*args: Any, verbose: bool = False, debug: bool = False, **kwargs: Any) -> Any:
        set_log_level(verbose, debug)
        return command(*args, **kwargs)

    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False,
                               annotation=kind)
             for name, kind in (("verbose", VerboseOpt), ("debug", DebugOpt))]
    run.__signature__ = inspect.Signature([*own, *extra])  # type: ignore[attr-defined]
    return run
