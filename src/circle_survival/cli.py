"""The ``circle-survival`` command.

Every user error (bad config, bad store, unknown run) ends with one line on stderr naming the
problem and exit status 2; nothing is written before the input has been checked.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ._version import __version__
from .commands import register_commands
from .errors import CircleSurvivalError

app = typer.Typer(
    add_completion=True,
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train modular-addition networks in batches and study which Fourier circles survive.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"circle-survival {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Train modular-addition networks in batches and study which Fourier circles survive.

    Every command names its store as its STORE argument; -o/--out is always a directory
    that files are written into.
    """


register_commands(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except CircleSurvivalError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted; completed batches are kept in the store", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Command-line parsing errors (click's UsageError family, vendored by Typer).
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message())
            sys.exit(0)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            msg = " ".join(exc.format_message().split())
            typer.echo(f"error: {msg}", err=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
