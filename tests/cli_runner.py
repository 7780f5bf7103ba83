"""Run the command line in-process, as the tests of every command do."""

import pytest

from circle_survival.cli import main


def run_cli(argv, capsys) -> tuple[int, str, str]:
    """Run ``circle-survival ARGV`` (items turned into strings); return (exit code, stdout,
    stderr). A command that returns without SystemExit counts as exit code 0."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err
