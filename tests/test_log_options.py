"""-v/--verbose and --debug: the package's logger at INFO and DEBUG, on every command (before
or after its name), and --debug's traceback of an unexpected error."""

import logging

import pytest
from cli_runner import run_cli

from circle_survival import train_to_store
from circle_survival.commands.log_options import LOGGER, reset_logging, set_log_level
from circle_survival.config import RunConfig


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "s"
    train_to_store([RunConfig(p=11, d=6, hidden=(12,), steps=5, embedding_seed=s)
                    for s in range(2)], path)
    return path


def test_levels_and_reset():
    log = logging.getLogger(LOGGER)
    try:
        set_log_level()
        assert log.level == logging.NOTSET and not log.handlers
        set_log_level(verbose=True)
        assert log.level == logging.INFO and len(log.handlers) == 1
        set_log_level(debug=True)
        assert log.level == logging.DEBUG
        set_log_level(verbose=True)  # a lower level set first (a root --debug) stays
        assert log.level == logging.DEBUG and len(log.handlers) == 1
    finally:
        reset_logging()
    assert log.level == logging.NOTSET and not log.handlers


def test_quiet_by_default_info_with_v_debug_with_debug(store, tmp_path, capsys):
    code, _, err = run_cli(["analyze", store, "-o", tmp_path / "a"], capsys)
    assert code == 0 and "info:" not in err and "debug:" not in err
    code, _, err = run_cli(["analyze", store, "-v", "-o", tmp_path / "a"], capsys)
    assert code == 0, err
    assert f"info: opening store {store}" in err and "info: writing circles" in err
    assert "debug:" not in err
    code, _, err = run_cli(["analyze", store, "--debug", "-o", tmp_path / "a"], capsys)
    assert code == 0 and "debug: " in err and f"info: opening store {store}" in err
    # before the command's name, too; and nothing is left set after a command line
    code, _, err = run_cli(["--verbose", "show", store, "--where", "embedding_seed == 1"],
                           capsys)
    assert code == 0 and "info: --where embedding_seed == 1: 1 of 2 runs" in err
    assert logging.getLogger(LOGGER).level == logging.NOTSET


def test_training_logs_its_batches(tmp_path, capsys):
    code, _, err = run_cli(["train", tmp_path / "s", "--p", "11", "--d", "6", "--hidden", "12",
                            "--steps", "5", "--quiet", "--seeds", "0:2", "-v"], capsys)
    assert code == 0, err
    assert "2 runs, 0 complete, 1 batch(es) to train (local)" in err
    assert "info: wrote batch" in err and "(2 runs)" in err


def test_debug_shows_the_traceback_of_an_unexpected_error(store, capsys, monkeypatch):
    import circle_survival.store as store_mod

    def boom(*args, **kwargs):
        raise ZeroDivisionError("something unforeseen")

    monkeypatch.setattr(store_mod, "load", boom)
    code, _, err = run_cli(["show", store, "-v"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 2  # the info line, the error line
    assert err.strip().splitlines()[-1].startswith("error: unexpected ZeroDivisionError")
    for argv in (["show", store, "--debug"], ["--debug", "show", store]):
        with pytest.raises(ZeroDivisionError):
            run_cli(argv, capsys)
