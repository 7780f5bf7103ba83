"""The ``analyze`` and ``plot`` commands: tables, figures, and every bad request."""

import pandas as pd
import pytest
from cli_runner import run_cli

from circle_survival import RunConfig, load, train_to_store
from circle_survival.commands.plot import KINDS, RUN_KINDS
from circle_survival.store import init_store

TINY = dict(p=11, d=8, hidden=(16,), steps=30, lr=0.1, device="cpu", embedding_steps=(15,))


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store of four runs (two embeddings) and a store of one run."""
    root = tmp_path_factory.mktemp("cmd")
    configs = [RunConfig(**TINY, embedding_seed=e % 2, mlp_seed=e) for e in range(4)]
    train_to_store(configs, root / "many")
    train_to_store(configs[:1], root / "one")
    return root / "many", root / "one"


def test_analyze_prints_and_writes(stores, tmp_path, capsys):
    many, _ = stores
    out_dir = tmp_path / "tables"
    code, out, err = run_cli(["analyze", many, "--group-by", "embedding_seed", "--circle-rule",
                              "absolute:9", "--out", out_dir], capsys)
    assert code == 0, err
    runs = load(many).runs
    for rid in runs.index:
        assert rid in out
    assert "groups: embedding_seed" in out
    assert "Pearson r" in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("survival rate"))
    assert lines[start + 2].split() == ["k", "0", "1"]  # one column per embedding seed
    assert [line.split()[0] for line in lines[start + 3:start + 8]] == ["1", "2", "3", "4", "5"]
    assert lines[start + 8].split() == ["runs", "2", "2"]
    assert lines[start + 9].split()[0] == "circles"
    names = {p.name for p in out_dir.iterdir()}
    assert names == {f"{t}.{ext}" for t in ("circles", "survival", "frequencies")
                     for ext in ("csv", "parquet")}
    circ = pd.read_parquet(out_dir / "circles.parquet")
    assert set(circ["run_id"]) == set(runs.index)
    assert list(circ.columns[:4]) == ["run_id", "embedding_seed", "mlp_seed", "split_seed"]
    assert "circle rule absolute:9 (S_k > 9)" in out
    for name in ("circles", "survival", "frequencies"):  # every table records its rule
        assert set(pd.read_parquet(out_dir / f"{name}.parquet")["circle_rule"]) == {"absolute:9"}
    rates = pd.read_csv(out_dir / "survival.csv")
    assert len(rates) == 2 * 5 and (rates["n_runs"] == 2).all()
    pd.testing.assert_frame_equal(rates, pd.read_parquet(out_dir / "survival.parquet"),
                                  check_dtype=False)
    freq = pd.read_parquet(out_dir / "frequencies.parquet")
    assert len(freq) == 4 * 5 and "grad_4" in freq.columns


def test_analyze_default_rule(stores, capsys):
    many, _ = stores
    code, out, err = run_cli(["analyze", many], capsys)
    assert code == 0, err
    assert "circle rule 2x-mean (the authors' rule" in out and "groups: all runs" in out


@pytest.mark.parametrize("kind", KINDS)
def test_plot_every_kind(stores, tmp_path, capsys, kind):
    many, one = stores
    rid = load(one).runs.index[0]
    code, out, err = run_cli(["plot", kind, one, "--out", tmp_path / "fig"], capsys)  # one run
    assert code == 0, err
    name = f"{kind}-{rid}" if kind in RUN_KINDS else kind
    for ext in ("png", "svg"):
        path = tmp_path / "fig" / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 1000
    assert "wrote" in out


def test_plot_choices(stores, tmp_path, capsys):
    many, _ = stores
    rid = load(many).runs.index[1]
    code, _, err = run_cli(["plot", "planes", many, "--run", rid, "--k", "2,3", "--steps",
                            "0,15,30", "-o", tmp_path], capsys)
    assert code == 0, err
    assert (tmp_path / f"planes-{rid}.png").is_file()
    assert (tmp_path / f"planes-{rid}.svg").is_file()
    code, _, err = run_cli(["plot", "survival-rate", many, "-g", "embedding_seed", "--out",
                            tmp_path], capsys)
    assert code == 0, err
    assert (tmp_path / "survival-rate.png").is_file()
    assert (tmp_path / "survival-rate.svg").is_file()


def test_plot_loss_curves_of_a_run_and_of_the_store_as_pdf(stores, tmp_path, capsys):
    many, _ = stores
    rid = load(many).runs.index[1]
    code, _, err = run_cli(["plot", "loss-curves", many, "--run", rid, "-o", tmp_path,
                            "--pdf"], capsys)
    assert code == 0, err
    for ext in ("png", "svg", "pdf"):
        assert (tmp_path / f"loss-curves-{rid}.{ext}").stat().st_size > 1000
    assert (tmp_path / f"loss-curves-{rid}.pdf").read_bytes().startswith(b"%PDF")
    code, _, err = run_cli(["plot", "loss-curves", many, "-o", tmp_path], capsys)
    assert code == 0 and (tmp_path / "loss-curves.png").is_file(), err
    assert not (tmp_path / "loss-curves.pdf").exists()


def one_line_error(code, out, err, *fragments):
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    for f in fragments:
        assert f in err


def test_bad_requests(stores, tmp_path, capsys):
    many, one = stores
    rid = load(many).runs.index[0]
    one_line_error(*run_cli(["plot", "signal-evolution", many, "--run", "nope"], capsys),
                   "no run 'nope'")
    one_line_error(*run_cli(["plot", "histogram", one], capsys), "unknown figure kind",
                   "signal-evolution")
    one_line_error(*run_cli(["plot", "planes", many, "--run", rid, "--steps", "0,7,30"],
                            capsys), "no stored embedding at step(s) 7", "stored: 0, 15, 30")
    one_line_error(*run_cli(["plot", "circles-fft", many], capsys), "--run")
    one_line_error(*run_cli(["plot", "n-circles", many, "--run", rid], capsys),
                   "--run applies only to the figures of one run")
    one_line_error(*run_cli(["plot", "planes", one, "--k", "9"], capsys), "--k")
    one_line_error(*run_cli(["analyze", many, "--group-by", "colour"], capsys),
                   "unknown group column 'colour'")
    one_line_error(*run_cli(["analyze", many, "--circle-rule", "median"], capsys),
                   "unknown circle rule")
    one_line_error(*run_cli(["analyze", tmp_path / "missing"], capsys), "no store")
    init_store(tmp_path / "empty")
    for argv in (["analyze", tmp_path / "empty"], ["plot", "n-circles", tmp_path / "empty"]):
        one_line_error(*run_cli(argv, capsys), "no complete runs")
    assert not list(tmp_path.glob("*.png"))  # nothing written before the input was checked
