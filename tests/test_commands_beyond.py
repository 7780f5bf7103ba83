"""``train --record explore``, ``explore``, ``ode-compare`` and ``predict`` on a small store: each
writes its page or its result (found by the report), and refuses bad input with one line and
exit status 2."""

import json

import pytest
from cli_runner import run_cli

from circle_survival import load
from circle_survival.report.page import load_results
from circle_survival.training.record_plan import log_steps

TRAIN = ["train", "--p", "17", "--d", "16", "--hidden", "32", "--steps", "1200", "--device",
         "cpu", "--quiet", "--seeds", "0:6"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("beyond") / "s"
    from circle_survival.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*TRAIN, str(path), "--record", "explore"])
        raise SystemExit(0)
    assert exc.value.code == 0
    return path


def test_record_preset_stores_log_spaced_embeddings(store):
    s = load(store)
    rid = s.runs.index[0]
    assert sorted(s.embeddings(rid)) == sorted({0, *log_steps(1200)})
    steps, _ = s.signals(rid)
    assert list(steps[:1001]) == list(range(1001)) and steps[1001] == 1010


def test_explore_writes_a_page(store, tmp_path, capsys):
    code, out, _ = run_cli(["explore", store, "--out", tmp_path / "e",
                            "--max-embedding-runs", "2"], capsys)
    assert code == 0 and "6 runs" in out
    assert (tmp_path / "e" / "explore.html").stat().st_size > 1e6


def test_ode_compare_and_predict_write_report_sections(store, capsys):
    code, out, _ = run_cli(["ode-compare", store], capsys)
    assert code == 0 and "Lotka-Volterra" in out
    code, out, _ = run_cli(["predict", store, "--n-boot", "50", "--n-splits", "3"], capsys)
    assert code == 0 and "AUC" in out
    names = {d["name"] for d in load_results([store])}
    assert {"lotka-volterra", "predictability"} <= names
    doc = json.loads((store / "results" / "lotka-volterra-store" / "result.json").read_text())
    assert doc["n_runs"] == 6 and doc["numbers"]["fit_until"] == 500
    assert doc["deviations"] == ["p = 17 instead of 59", "d = 16 instead of 128",
                                 "hidden = (32,) instead of (100, 100)",
                                 "steps = 1200 instead of 30000"]
    assert (store / "results" / "lotka-volterra-store" / "lotka_volterra.png").is_file()


def test_ode_compare_writes_into_out(store, tmp_path, capsys):
    code, out, _ = run_cli(["ode-compare", store, "-o", tmp_path / "lv"], capsys)
    assert code == 0 and f"figures and numbers: {tmp_path / 'lv'}" in out
    assert (tmp_path / "lv" / "result.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["explore", "{missing}"], "no store"),
    (["ode-compare", "{store}", "--method", "ridge"], "unknown method"),
    (["ode-compare", "{store}", "--fit-until", "900", "--heldout-until", "5000"], "every step"),
    (["predict", "{store}", "--n-splits", "1"], "n-splits"),
    (["train", "--record", "nope", "{missing}"], "unknown recording preset"),
])
def test_bad_input_is_one_line(store, tmp_path, capsys, argv, message):
    argv = [a.format(store=store, missing=tmp_path / "none") for a in argv]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "none").exists()
