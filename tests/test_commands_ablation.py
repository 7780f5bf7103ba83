"""``circle-survival ablate``: trains O, A, B, C, D from one seed, writes the figure, resumes,
and refuses bad input with one line and exit status 2 before writing anything."""

import contextlib
import io
import json

import numpy as np
import pytest
from cli_runner import run_cli

from circle_survival import fourier, load
from circle_survival.cli import main
from circle_survival.experiments.ablation import ABLATIONS, ablation_configs

ARGS = ["--steps", "30", "--p", "11", "--d", "8", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def ablated(tmp_path_factory):
    """One ablate run (seed 2) into a fresh store; returns (store, stem, stdout)."""
    root = tmp_path_factory.mktemp("ablate")
    store, stem = root / "store", root / "figs" / "ablation-seed2"
    buf = io.StringIO()  # capsys is function-scoped: capture this module-wide call by hand
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as exc:
        main(["ablate", "--seeds", "2", str(store), "--out", str(stem.parent), *ARGS])
        raise SystemExit(0)
    assert exc.value.code == 0
    return store, stem, buf.getvalue()


def test_trains_five_runs_and_writes_the_figure(ablated):
    store, stem, out = ablated
    runs = load(store).runs
    assert len(runs) == 5
    configs = ablation_configs(2, steps=30, p=11, d=8, device="cpu")
    assert set(runs.index) == {c.run_id for c in configs.values()}
    assert all(runs.loc[c.run_id, "steps"] == 30 for c in configs.values())
    assert all((r.embedding_seed, r.mlp_seed, r.split_seed) == (2, 2, 2)
               for r in runs.itertuples())
    for suffix in (".png", ".svg"):
        assert stem.with_suffix(suffix).stat().st_size > 1000
    lines = out.splitlines()
    for name in ABLATIONS:
        assert any(line.startswith(f"{name} ") for line in lines), name
    assert "final test loss" in lines[0]
    assert out.count("here:") == 2 and "figure:" in out


def test_initial_embeddings_are_restricted(ablated):
    store = load(ablated[0])
    configs = ablation_configs(2, steps=30, p=11, d=8, device="cpu")
    e0 = store.embeddings(configs["O"].run_id)[0]
    s0 = fourier.signal(e0, half=True)
    for name in "ABCD":
        rid = configs[name].run_id
        kept = json.loads(store.runs.loc[rid, "intervention_resolved"])["keep"]
        s = fourier.signal(store.embeddings(rid)[0], half=True)
        assert np.allclose(s[kept], s0[kept])
        assert np.delete(s, kept).max() < 1e-9
    top2 = [int(k) for k in 1 + np.argsort(-s0[1:])[:2]]
    b = configs["B"].run_id
    assert json.loads(store.runs.loc[b, "intervention_resolved"])["keep"] == top2


def test_second_call_resumes_and_writes_the_default_figure(ablated, capsys):
    store, _, _ = ablated
    code, out, err = run_cli(["ablate", "--seeds", "2", store, *ARGS], capsys)
    assert code == 0, err
    assert "5 of 5 runs already in" in err
    assert len(load(store).runs) == 5
    assert (store / "ablation-seed2.png").is_file() and (store / "ablation-seed2.svg").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "-1"], "--seeds"),
    (["--dtype", "float16"], "unknown dtype"),
    (["--p", "2"], "p must be"),
    (["--steps", "0"], "steps must be"),
])
def test_bad_input(tmp_path, capsys, argv, message):
    store = tmp_path / "store"
    code, _, err = run_cli(["ablate", store, "--device", "cpu", *argv], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not store.exists()
