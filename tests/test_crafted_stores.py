"""Stores someone else made, linked or damaged (issue #29): every id and name read from a store
is checked, nothing inside a store is followed as a link, a damaged batch counts as not
complete (set aside and trained again), reads check what they read, and nothing is written
outside the store or the output folder."""

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_runner import run_cli
from test_cli_errors import one_line

from circle_survival import RunConfig, StoreError, load, train_to_store
from circle_survival.store.integrity import DamagedBatch, DamagedBatchWarning, write_checksums
from circle_survival.store.layout import StoreLayout, safe_path

TINY = ["--p", "5", "--d", "4", "--hidden", "6", "--steps", "6", "--device", "cpu",
        "--quiet", "--seeds", "0:6", "--max-batch", "2"]
RUNS = [RunConfig(p=5, d=4, hidden=(6,), steps=6, device="cpu", embedding_seed=s, mlp_seed=s,
                  split_seed=s).run_id for s in range(6)]


@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory):
    """Six runs in three batches of two, as ``train STORE TINY`` trains them."""
    path = tmp_path_factory.mktemp("crafted") / "s"
    train_to_store([RunConfig(p=5, d=4, hidden=(6,), steps=6, device="cpu", embedding_seed=s,
                              mlp_seed=s, split_seed=s) for s in range(6)], path, max_batch=2)
    return path


@pytest.fixture
def world(pristine_store, tmp_path):
    """(store, out, root): a copy of the store four levels below ``root``, an output folder
    beside it; ``snapshot(root)`` before and after shows whether anything was written
    outside the two."""
    store = tmp_path / "a" / "b" / "c" / "d" / "s"
    shutil.copytree(pristine_store, store)
    return store, store.parent / "out", tmp_path


def outside_files(root: Path, store: Path, out: Path) -> dict[str, tuple[int, int]]:
    """Every file and link under ``root`` but outside ``store`` and ``out``: size, mtime."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if here / d not in (store, out)]
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            st = os.lstat(here / name)
            found[str((here / name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def batch_of(store: Path, run_id: str) -> Path:
    return store / "batches" / str(load(store).runs.loc[run_id, "batch_id"])


def rewrite(batch: Path, change) -> None:
    """Rewrite a batch's table and its checksums, as someone crafting a store would."""
    table = pq.read_table(batch / "runs.parquet").to_pandas()
    pq.write_table(pa.Table.from_pandas(change(table), preserve_index=False),
                   batch / "runs.parquet")
    write_checksums(batch)


def copies(store: Path) -> list[str]:
    """Every run id of every batch table, duplicates kept (a run present once: once)."""
    return sorted(rid for d in StoreLayout(store).batch_dirs()
                  for rid in pq.read_table(d / "runs.parquet").column("run_id").to_pylist())


def train_again(store, capsys):
    code, out, err = run_cli(["train", store, *TINY], capsys)
    assert code == 0, err
    assert copies(store) == sorted(RUNS)  # every run present exactly once
    return err


def test_a_run_id_that_is_a_path_makes_its_batch_damaged(world, capsys):
    store, out, root = world
    bad = batch_of(store, RUNS[0])
    rewrite(bad, lambda t: t.assign(run_id=["../../../../escaped-run", *t.run_id[1:]]))
    before = outside_files(root, store, out)
    with pytest.warns(DamagedBatchWarning, match="holds the run id '../../../../escaped-run'"):
        assert RUNS[0] not in load(store).runs.index
    code, _, err = run_cli(["plot", "signal-evolution", store, "--run",
                            "../../../../escaped-run", "-o", out], capsys)
    assert code == 2 and one_line(err) and "no run '../../../../escaped-run'" in err
    code, _, err = run_cli(["verify", store], capsys)
    assert code == 2 and one_line(err) and f"batch {bad.name} is damaged" in err
    assert outside_files(root, store, out) == before and not out.exists()
    err = train_again(store, capsys)
    assert f"batch {bad.name} of store {store} is damaged" in err and "set aside as damaged/" in err
    (aside,) = (store / "damaged").iterdir()
    assert aside.name.startswith(f"{bad.name}.") and (aside / "runs.parquet").is_file()
    assert outside_files(root, store, out) == before


def test_a_run_id_of_another_batch_or_config(world, capsys):
    store, out, root = world
    bad, good = batch_of(store, RUNS[0]), batch_of(store, RUNS[2])
    other = RunConfig(p=5, d=4, hidden=(6,), steps=6, embedding_seed=9).run_id
    rewrite(bad, lambda t: t.assign(run_id=[other, *t.run_id[1:]]))  # a valid-looking id
    rewrite(good, lambda t: t.assign(lr=t.lr * 2))  # checksums rewritten: the table reads
    with pytest.warns(DamagedBatchWarning, match="not those the batch was written with"):
        s = load(store)
    assert RUNS[2] in s.runs.index  # (its table reads: only its config tells)
    code, listed, err = run_cli(["show", store, "--format", "csv"], capsys)
    assert code == 0 and f"batch {good.name} of store {store} is damaged: a run id" in err
    assert {line.split(",")[0] for line in listed.splitlines()[1:]} == set(RUNS[4:])
    with pytest.raises(StoreError, match=f"batch {good.name} is damaged: a run id is not that "
                                         "of its config"):
        load(store, verify=True)
    train_again(store, capsys)


def test_a_config_that_does_not_load_is_a_damaged_batch(world):
    store, _, _ = world
    bad = batch_of(store, RUNS[0])
    rewrite(bad, lambda t: t.assign(intervention="{not json"))
    with pytest.raises(DamagedBatch, match=f"batch {bad.name} .* the config of run"):
        load(store).config(RUNS[0])


@pytest.mark.parametrize("folder", ["sweeps", "tmp", "claims", "damaged", "batches"])
def test_a_store_folder_that_is_a_link_is_refused(world, capsys, folder):
    store, out, root = world
    target = root / "outside"
    target.mkdir()
    if (store / folder).exists():
        shutil.rmtree(store / folder)
    os.symlink(target, store / folder)
    before = outside_files(root, store, out)
    code, _, err = run_cli(["train", store, *TINY], capsys)
    assert code == 2 and one_line(err) and f"{folder}/ is not a plain directory" in err, err
    assert not any(target.iterdir()) and outside_files(root, store, out) == before
    if folder == "batches":
        code, _, err = run_cli(["show", store], capsys)
        assert code == 2 and one_line(err) and "batches/ is not a plain directory" in err


def test_a_result_folder_that_is_a_link_is_never_written_through(world, capsys):
    store, out, root = world
    target = root / "outside"
    target.mkdir()
    (store / "results").mkdir()
    os.symlink(target, store / "results" / "lotka-volterra-store")
    code, _, err = run_cli(["ode-compare", store, "--fit-until", "2", "--heldout-until", "5"],
                           capsys)
    assert code == 2 and one_line(err) and "symbolic link" in err, err
    assert not any(target.iterdir())
    code, _, err = run_cli(["report", store, "-o", out], capsys)
    assert code == 2 and one_line(err) and "is not a result folder" in err
    shutil.rmtree(store / "results")
    os.symlink(target, store / "results")
    code, _, err = run_cli(["ode-compare", store, "--fit-until", "2", "--heldout-until", "5"],
                           capsys)
    assert code == 2 and one_line(err) and "results/ is not a plain directory" in err
    assert not any(target.iterdir())


def test_a_result_file_that_is_a_link_is_refused(world, capsys):
    store, out, root = world
    argv = ["ode-compare", store, "--fit-until", "2", "--heldout-until", "5"]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    folder = store / "results" / "lotka-volterra-store"
    target = root / "elsewhere"
    target.write_text("keep")
    for name in ("result.json", "result.json.part", "lotka_volterra.png"):
        was = folder / name
        was.unlink(missing_ok=True)
        os.symlink(target, was)
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and one_line(err) and "symbolic link" in err, (name, err)
        assert target.read_text() == "keep"
        was.unlink()
    os.symlink(target, folder / "result.json")
    code, _, err = run_cli(["report", store, "-o", out], capsys)
    assert code == 2 and one_line(err) and "result.json is not a plain file" in err


@pytest.mark.parametrize("how", ["linked to an outside copy", "batch_id ../../outside",
                                 "truncated runs.parquet", "no COMPLETE",
                                 "a flipped byte in a chunk"])
def test_a_damaged_batch_is_set_aside_and_trained_again(world, capsys, how):
    store, out, root = world
    bad = batch_of(store, RUNS[2])
    copy = root / "outside"
    if how == "linked to an outside copy":
        shutil.move(bad, copy)
        os.symlink(copy, bad)
    elif how == "batch_id ../../outside":
        rewrite(bad, lambda t: t.assign(batch_id="../../outside"))
    elif how == "truncated runs.parquet":
        table = bad / "runs.parquet"
        table.write_bytes(table.read_bytes()[:200])
    elif how == "no COMPLETE":
        (bad / "COMPLETE").unlink()
    else:
        chunk = bad / "arrays.zarr" / "signals" / "c" / "1" / "0" / "0"
        data = bytearray(chunk.read_bytes())
        data[-3] ^= 0x10
        chunk.write_bytes(bytes(data))
    before = outside_files(root, store, out)
    code, listed, err = run_cli(["show", store, "--format", "csv"], capsys)
    assert code == 0 and f"batch {bad.name}" in err and err.count("\n") == 1
    assert {line.split(",")[0] for line in listed.splitlines()[1:]} == set(RUNS) - set(RUNS[2:4])
    err = train_again(store, capsys)
    assert f"batch {bad.name} of store {store} is damaged" in err and "4 of 6 runs" in err
    assert len(list((store / "damaged").iterdir())) == 1
    assert outside_files(root, store, out) == before
    assert len(load(store, verify=True)) == 6
    code, _, err = run_cli(["analyze", store], capsys)
    assert code == 0 and err == ""


def test_altered_arrays_end_in_one_line_naming_the_batch(world, capsys):
    store, out, _ = world
    bad = batch_of(store, RUNS[1])
    for name in ("signals", "metrics"):
        chunk = bad / "arrays.zarr" / name / "c" / "1" / "0" / "0"
        data = bytearray(chunk.read_bytes())
        data[-4] ^= 0x01
        chunk.write_bytes(bytes(data))
    for argv in (["analyze", store], ["analyze", store, "--circle-rule", "absolute:10"],
                 ["plot", "n-circles", store, "--circle-rule", "absolute:10", "-o", out],
                 ["plot", "signal-evolution", store, "--run", RUNS[1], "-o", out],
                 ["explore", store, "-o", out, "--no-collaboration"]):
        code, stdout, err = run_cli(argv, capsys)
        assert code == 2 and one_line(err), (argv, err)
        assert f"batch {bad.name} of store {store} is damaged: arrays.zarr/" in err
    assert not out.exists() or not any(out.iterdir())
    s = load(store)
    with pytest.raises(DamagedBatch, match="metrics/c/1/0/0 does not match its checksum"):
        s.metrics(RUNS[1])
    s.metrics(RUNS[0])  # the same batch's other run: its own chunks are intact


def test_a_full_disk_while_a_batch_is_created_leaves_nothing_in_tmp(tmp_path, capsys,
                                                                     monkeypatch):
    import errno

    import zarr

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "s" / "tmp"))

    monkeypatch.setattr(zarr.Group, "create_array", full)
    code, _, err = run_cli(["train", tmp_path / "s", *TINY], capsys)
    assert code == 2 and one_line(err) and "No space left on device" in err
    assert list((tmp_path / "s" / "tmp").iterdir()) == []


def test_empty_names_files_and_k(tmp_path, capsys, monkeypatch, pristine_store):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "", *TINY], capsys)
    assert code == 2 and one_line(err) and "path is empty" in err
    code, _, err = run_cli(["show", " "], capsys)
    assert code == 2 and one_line(err) and "path is empty" in err
    assert list(tmp_path.iterdir()) == []
    spec = tmp_path / "empty.toml"
    for text in ("", 'name = "x"\n', "[base]\n"):
        spec.write_text(text)
        code, _, err = run_cli(["sweep", "run", spec, tmp_path / "s"], capsys)
        assert code == 2 and one_line(err) and "the sweep gives no runs" in err, text
    assert not (tmp_path / "s").exists()
    for k in ("5", "1,2,3"):
        code, _, err = run_cli(["plot", "planes", pristine_store, "--run", RUNS[0], "--k", k,
                                "-o", tmp_path / "o"], capsys)
        assert code == 2 and one_line(err) and "takes two frequencies" in err
    assert not (tmp_path / "o").exists()


def test_sweep_records_that_are_links_or_misnamed(world, capsys):
    store, out, root = world
    (record,) = (store / "sweeps").iterdir()
    for name in (".hidden.json", "a b.json"):
        shutil.copy(record, store / "sweeps" / name)
        code, _, err = run_cli(["sweep", "status", store], capsys)
        assert code == 2 and one_line(err) and "is not a sweep record" in err
        code, _, err = run_cli(["train", store, *TINY], capsys)
        assert code == 2 and one_line(err) and "is not a sweep record" in err
        (store / "sweeps" / name).unlink()
    target = root / "record.json"
    shutil.move(record, target)
    os.symlink(target, record)
    before = target.read_bytes()
    code, _, err = run_cli(["sweep", "status", store], capsys)
    assert code == 2 and one_line(err) and "is not a sweep record" in err
    assert target.read_bytes() == before


def test_a_linked_store_marker_is_refused(world, capsys):
    store, _, root = world
    marker = store / "circle-survival-store.json"
    shutil.move(marker, root / "marker.json")
    os.symlink(root / "marker.json", marker)
    for argv in (["show", store], ["train", store, *TINY]):
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and one_line(err) and "is not a plain file" in err


def test_a_planted_partial_with_a_link_inside_is_never_written_through(world, capsys):
    """A checkpointed partial batch of another host, a chunk inside it a link outside: not
    adopted (a fresh partial trains the batch), the link's target untouched."""
    store, out, root = world
    bad = batch_of(store, RUNS[0])
    shutil.rmtree(bad)
    partial = store / "tmp" / f"{bad.name}.otherhost.1.abcdef12"
    (partial / "arrays.zarr" / "signals" / "c" / "0" / "0").mkdir(parents=True)
    (partial / "checkpoint.safetensors").write_bytes(b"x")
    victim = root / "victim"
    victim.write_text("keep")
    os.symlink(victim, partial / "arrays.zarr" / "signals" / "c" / "0" / "0" / "0")
    train_again(store, capsys)
    assert victim.read_text() == "keep"


def test_safe_path(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert safe_path(tmp_path, "real", "x.png") == tmp_path / "real" / "x.png"
    assert safe_path(tmp_path / "link", "x.png") == tmp_path / "link" / "x.png"  # the base's
    for names in (("..", "x"), ("a/b",), ("",), ("link", "x.png"), (".",)):
        with pytest.raises(StoreError):
            safe_path(tmp_path, *names)


def test_a_figure_name_that_is_a_link_in_out_is_refused(pristine_store, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, out / f"signal-evolution-{RUNS[0]}.png")
    code, _, err = run_cli(["plot", "signal-evolution", pristine_store, "--run", RUNS[0],
                            "-o", out], capsys)
    assert code == 2 and one_line(err) and "symbolic link" in err
    assert victim.read_text() == "keep"
    code, _, err = run_cli(["analyze", pristine_store, "-o", out], capsys)
    assert code == 0, err
    (out / "survival.csv").unlink()
    os.symlink(victim, out / "survival.csv")
    code, _, err = run_cli(["analyze", pristine_store, "-o", out], capsys)
    assert code == 2 and one_line(err) and victim.read_text() == "keep"


def test_verify_names_what_is_wrong_with_the_store_itself(world, capsys):
    store, _, root = world
    (store / "results").mkdir()
    (store / "results" / "bad name").mkdir()
    code, _, err = run_cli(["verify", store], capsys)
    assert code == 2 and one_line(err) and "is not a result folder" in err
    shutil.rmtree(store / "results")
    code, out, err = run_cli(["verify", store], capsys)
    assert code == 0 and "6 runs in 3 batches, all intact" in out
    (store / "batches" / "not-an-id").mkdir()
    code, _, err = run_cli(["verify", store], capsys)
    assert code == 2 and one_line(err) and "not-an-id is damaged: not a batch directory" in err
    assert json.loads((store / "circle-survival-store.json").read_text())["version"] == 1
