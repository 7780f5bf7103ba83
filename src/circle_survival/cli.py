"""The ``circle-survival`` command.

Every user error (bad config, bad store, unknown run, a file system that refuses a write)
ends with one line on stderr naming the problem and exit status 2; nothing is written before
the input has been checked. Any other exception ends with one line naming its type and exit
status 1; ``--debug`` (an option of every command, and of the root) shows its traceback
instead. ``-v/--verbose`` and ``--debug`` set the package's logger to INFO and DEBUG
(:mod:`circle_survival.commands.log_options`).
"""

from __future__ import annotations

import sys
import warnings
from typing import Annotated

import typer

from ._version import __version__
from .commands import register_commands
from .commands.log_options import DebugOpt, VerboseOpt, reset_logging, set_log_level
from .errors import CircleSurvivalError, StoreWarning
from .store.integrity import os_error_line

app = typer.Typer(
    add_completion=True,
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train modular-addition networks in batches and study which Fourier circles survive. "
         "Add -v to any command to log what it does, --debug to log in detail and see the "
         "traceback of an unexpected error.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"circle-survival {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train modular-addition networks in batches and study which Fourier circles survive.

    Every command names its store as its STORE argument; -o/--out is always a directory
    that files are written into.
    """
    set_log_level(verbose, debug)


register_commands(app)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Store warnings as one line ``warning: ...``; others as Python prints them."""
    if issubclass(category, StoreWarning):
        typer.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit status 2, and any
    other exception into one line and exit status 1 (``--debug``: its traceback)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args[:args.index("--")] if "--" in args else "--debug" in args
    warnings.showwarning = _show_warning
    try:
        app(args=args, standalone_mode=False)
    except CircleSurvivalError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted; completed batches are kept in the store", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        if debug:
            raise
        typer.echo(f"error: {os_error_line('cannot read or write a file', exc)}", err=True)
        sys.exit(2)
    except MemoryError:
        if debug:
            raise
        typer.echo("error: out of memory; use smaller sizes or fewer runs per batch "
                   "(--max-batch)", err=True)
        sys.exit(2)
    except Exception as exc:
        # Command-line parsing errors (click's UsageError family, vendored by Typer).
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message())
            sys.exit(0)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            msg = " ".join(exc.format_message().split())
            typer.echo(f"error: {msg}", err=True)
            sys.exit(2)
        if debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        typer.echo(f"error: unexpected {type(exc).__name__}: {first} (run the command again "
                   "with --debug to see the traceback)", err=True)
        sys.exit(1)
    finally:
        warnings.showwarning = _python_show_warning
        reset_logging()


if __name__ == "__main__":
    main()
