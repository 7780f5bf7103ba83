"""The command line under hostile input: every bad input, damaged file and refused write is one
line on stderr with exit status 2 and nothing written; anything else is one line naming the
exception with exit status 1 (``--debug`` shows the traceback)."""

import errno

import pytest
from cli_runner import run_cli

from circle_survival import RunConfig, load, train_to_store

TINY = ["--p", "5", "--d", "4", "--hidden", "6", "--steps", "6", "--quiet"]


def one_line(err: str) -> bool:
    lines = [x for x in err.strip().splitlines() if not x.startswith("warning:")]
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


@pytest.fixture
def store(tmp_path):
    """A store of one small run."""
    train_to_store(RunConfig(p=5, d=4, hidden=(6,), steps=6, device="cpu"), tmp_path / "s")
    return tmp_path / "s"


TOO_BIG = [
    (["--p", "100000"], "of memory"),
    (["--d", "1000000000"], "of memory"),
    (["--hidden", "1000000000"], "of memory"),
    (["--steps", "1000000000000"], "rows per run, more than"),
    (["--p", str(10**30)], "p must be < 2**31"),
    (["--seeds", "0:100000000"], "gives more than 1,000,000 seeds"),
]


@pytest.mark.parametrize(("argv", "message"), TOO_BIG)
def test_sizes_too_big_refused_before_the_store_exists(tmp_path, capsys, argv, message):
    store = tmp_path / "s"
    code, _, err = run_cli(["train", store, "--device", "cpu", "--quiet", *argv],
                           capsys)
    assert code == 2 and message in err and one_line(err), err
    assert not store.exists()


def test_sizes_too_big_in_toml_and_sweep_specs(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('p = 100000\ndevice = "cpu"\n')
    code, _, err = run_cli(["train", "--config", config, tmp_path / "s"], capsys)
    assert code == 2 and "of memory" in err and one_line(err)
    spec = tmp_path / "sw.toml"
    spec.write_text('name = "big"\n[base]\nd = 1000000000\ndevice = "cpu"\n')
    code, _, err = run_cli(["sweep", "run", spec, tmp_path / "s"], capsys)
    assert code == 2 and "of memory" in err and one_line(err)
    spec.write_text('name = "big"\n[seeds]\nembedding = "0:100000000"\n')
    code, _, err = run_cli(["sweep", "run", spec, tmp_path / "s"], capsys)
    assert code == 2 and "more than 1,000,000" in err and one_line(err)
    assert not (tmp_path / "s").exists()


NOT_UTF8 = {"random bytes": b"\xff\xfe\x00\x81garbage", "UTF-16": "p = 5\n".encode("utf-16")}


@pytest.mark.parametrize("content", NOT_UTF8.values(), ids=NOT_UTF8)
def test_files_that_are_not_utf8(tmp_path, capsys, store, content):
    config = tmp_path / "c.toml"
    config.write_bytes(content)
    code, _, err = run_cli(["train", "--config", config, tmp_path / "x"], capsys)
    assert code == 2 and "is not UTF-8 text" in err and one_line(err)
    code, _, err = run_cli(["sweep", "run", config, tmp_path / "x"], capsys)
    assert code == 2 and "is not UTF-8 text" in err and one_line(err)
    assert not (tmp_path / "x").exists()
    record = store / "sweeps" / "broken.json"
    record.write_bytes(content)
    code, _, err = run_cli(["sweep", "status", store], capsys)
    assert code == 2 and "damaged sweep record" in err and one_line(err)
    record.unlink()
    result = store / "results" / "x-smoke" / "result.json"
    result.parent.mkdir(parents=True)
    result.write_bytes(content)
    from circle_survival.errors import StoreError
    from circle_survival.report.page import load_results

    with pytest.raises(StoreError, match="damaged result file"):
        load_results([store])
    (store / "circle-survival-store.json").write_bytes(content)
    code, _, err = run_cli(["show", store], capsys)
    assert code == 2 and "damaged store marker" in err and one_line(err)


def test_store_paths_the_system_refuses(tmp_path, capsys, monkeypatch):
    regular = tmp_path / "file"
    regular.write_text("x")
    for path, message in [(regular / "s", "is not a directory"),
                          (tmp_path / ("n" * 300), "longer than the file system allows")]:
        code, _, err = run_cli(["train", path, *TINY], capsys)
        assert code == 2 and message in err and one_line(err), err
    # a read-only file system or tmp/ (os.access answers for it: root ignores permissions)
    import circle_survival.store.create as store_create

    monkeypatch.setattr(store_create.os, "access", lambda path, mode: False)
    code, _, err = run_cli(["train", tmp_path / "ro", *TINY], capsys)
    assert code == 2 and "is not writable" in err and one_line(err)
    assert not (tmp_path / "ro").exists()


@pytest.mark.parametrize(("where", "err_no"), [("commit", errno.ENOSPC),
                                               ("mid-run", errno.EROFS)])
def test_a_full_or_read_only_disk_mid_run_is_one_line(tmp_path, capsys, monkeypatch, where,
                                                      err_no):
    import circle_survival.store.writer as store_writer

    def refuse(*args, **kwargs):
        raise OSError(err_no, os_strerror(err_no), str(tmp_path / "s" / "tmp" / "x"))

    if where == "commit":
        monkeypatch.setattr(store_writer, "save_file", refuse)
    else:
        import zarr

        monkeypatch.setattr(zarr.Array, "__setitem__", refuse)
    code, _, err = run_cli(["train", tmp_path / "s", *TINY], capsys)
    assert code == 2 and one_line(err), err
    assert os_strerror(err_no) in err and "cannot write batch" in err
    assert len(load(tmp_path / "s")) == 0
    assert not any((tmp_path / "s" / "tmp").iterdir())  # nothing half-written is left


def os_strerror(n: int) -> str:
    import os

    return os.strerror(n)


def test_unexpected_errors_name_their_type_and_debug_shows_them(tmp_path, capsys,
                                                                monkeypatch):
    import circle_survival.store as store_mod

    def boom(*args, **kwargs):
        raise ZeroDivisionError("something unforeseen")

    monkeypatch.setattr(store_mod, "load", boom)
    code, _, err = run_cli(["show", tmp_path], capsys)
    assert code == 1 and one_line(err)
    assert "unexpected ZeroDivisionError: something unforeseen" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        run_cli(["show", tmp_path, "--debug"], capsys)


def test_verify_command(store, capsys):
    code, out, err = run_cli(["verify", store], capsys)
    assert code == 0 and "all intact" in out, err
    batch = next((store / "batches").iterdir())
    (batch / "arrays.zarr" / "signals" / "c" / "0" / "0" / "0").unlink()
    code, out, err = run_cli(["verify", store], capsys)
    assert code == 2 and one_line(err)
    assert f"batch {batch.name} is damaged: arrays.zarr/signals/c/0/0/0 is missing" in err


def test_a_damaged_batch_is_one_warning_line(store, capsys):
    batch = next((store / "batches").iterdir())
    (batch / "runs.parquet").write_bytes(b"garbage")
    code, out, err = run_cli(["show", store], capsys)
    assert code == 0 and "no complete runs" in out
    assert err.strip() == (f"warning: batch {batch.name} of store {store} is damaged: "
                           "runs.parquet does not read (ArrowInvalid)")


def test_outputs_that_are_regular_files(store, tmp_path, capsys):
    regular = tmp_path / "file"
    regular.write_text("x")
    code, out, err = run_cli(["analyze", store, "--out", regular], capsys)
    assert code == 2 and "is a file" in err and one_line(err) and out == ""
    code, out, err = run_cli(["ablate", regular, "--quiet"], capsys)
    assert code == 2 and "is not a directory" in err and one_line(err) and out == ""
    code, out, err = run_cli(["ablate", regular], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "%" not in err  # no progress bar


def test_strict_toml_types(tmp_path, capsys):
    config = tmp_path / "c.toml"
    for text, message in [('grid = "false"\n', "grid must be true or false, got 'false'"),
                          ("embedding_seed = 2.7\n", "embedding_seed must be an integer"),
                          ("embedding_seed = true\n", "embedding_seed must be an integer"),
                          ('embedding_seed = "3"\n', "embedding_seed must be an integer"),
                          ('p = "11"\n', "p must be an integer")]:
        config.write_text(text)
        code, _, err = run_cli(["train", "--config", config, tmp_path / "s",
                                "--quiet"], capsys)
        assert code == 2 and message in err and one_line(err), (text, err)
    assert not (tmp_path / "s").exists()
