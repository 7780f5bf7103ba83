"""A store that checks itself: a damaged batch is named ("batch X of store S is damaged:
what") and the rest of the store stays usable; verification checks every file against the
checksums written at commit time; every file gets the umask's permissions."""

import json
import os
import shutil
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from circle_survival import RunConfig, StoreError, load, train_to_store
from circle_survival.store.integrity import (
    CHECKSUMS,
    DamagedBatch,
    DamagedBatchWarning,
    changed_files,
    os_error_line,
    umask,
)

SMALL = dict(p=7, d=4, hidden=(6,), steps=12)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store of two batches of one run each (seed 0 and seed 1)."""
    path = tmp_path_factory.mktemp("pristine") / "s"
    train_to_store([RunConfig(**SMALL, embedding_seed=e) for e in (0, 1)], path, max_batch=1)
    return path


@pytest.fixture
def store(pristine, tmp_path):
    path = tmp_path / "s"
    shutil.copytree(pristine, path)
    return path


def batches(path):
    """(run id, batch directory) of seed 0's run, then seed 1's."""
    runs = load(path).runs.sort_values("embedding_seed")
    return [(rid, path / "batches" / bid) for rid, bid in zip(runs.run_id, runs.batch_id,
                                                              strict=True)]


def rewrite_table(batch, change):
    table = pq.read_table(batch / "runs.parquet").to_pandas()
    pq.write_table(pa.Table.from_pandas(change(table), preserve_index=False),
                   batch / "runs.parquet")


TABLE_DAMAGE = {
    "another schema": (lambda b: pq.write_table(pa.table({"x": [1]}), b / "runs.parquet"),
                       "lacks the column"),
    "no batch_index": (lambda b: rewrite_table(b, lambda t: t.drop(columns="batch_index")),
                       "lacks the column.*batch_index"),
    "batch_index out of range": (
        lambda b: rewrite_table(b, lambda t: t.assign(batch_index=5)), "batch_index is not"),
    "wrong field type": (lambda b: rewrite_table(b, lambda t: t.assign(p=t.p.astype(str))),
                         "column p has type"),
    "batch_id leaving the store": (
        lambda b: rewrite_table(b, lambda t: t.assign(batch_id="../../outside")),
        "its table names batch '../../outside'"),
    "no COMPLETE": (lambda b: (b / "COMPLETE").unlink(), "no COMPLETE"),
}


def truncate_chunk(b):
    chunk = b / "arrays.zarr" / "signals" / "c" / "0" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:10])


def flip_byte(path, offset=-5):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


#: damage found when the data is read (and by verify): the table and the files are there
ARRAY_DAMAGE = {
    "truncated chunk": (truncate_chunk, "signals",
                        "arrays.zarr/signals/c/0/0/0 does not match its checksum"),
    "a flipped byte in a signals chunk": (
        lambda b: flip_byte(b / "arrays.zarr/signals/c/0/0/0"), "signals",
        "arrays.zarr/signals/c/0/0/0 does not match its checksum"),
    "a flipped byte in a metrics chunk": (
        lambda b: flip_byte(b / "arrays.zarr/metrics/c/0/0/0"), "metrics",
        "arrays.zarr/metrics/c/0/0/0 does not match its checksum"),
    "invalid zarr.json": (lambda b: (b / "arrays.zarr/metrics/zarr.json").write_text("{"),
                          "metrics", "arrays.zarr/metrics/zarr.json does not match"),
    "damaged weights": (lambda b: (b / "weights.safetensors").write_bytes(b"\x00" * 9),
                        "weights", "weights.safetensors does not match its checksum"),
    "an unlisted chunk among the run's": (
        lambda b: shutil.copy(b / "arrays.zarr/signals/c/0/0/0",
                              b / "arrays.zarr/signals/c/0/1"), "signals",
        "arrays.zarr/signals/c/0/1 is not in its checksums"),
}


@pytest.mark.parametrize("case", ARRAY_DAMAGE)
def test_damaged_arrays_and_weights_are_errors_never_zeros(store, case):
    damage, read, what = ARRAY_DAMAGE[case]
    (bad_run, bad), (good_run, _) = batches(store)
    damage(bad)
    s = load(store)  # the tables and the listed files are there: both runs listed
    reader = {"signals": s.signals, "metrics": s.metrics, "weights": s.weights}[read]
    with pytest.raises(DamagedBatch, match=f"batch {bad.name} of store {store} is damaged: "
                                           f"{what}"):
        reader(bad_run)
    reader(good_run)  # the other batch stays usable
    with pytest.raises(StoreError, match=f"batch {bad.name} is damaged"):
        load(store, verify=True)
    with pytest.warns(DamagedBatchWarning, match=f"batch {bad.name} .* is damaged"):
        assert list(load(store, every_byte=True).runs.index) == [good_run]  # what show lists


def link_to_copy(path, outside):
    """Replace ``path`` by a link to a copy of it outside the store (same bytes)."""
    shutil.copy(path, outside)
    path.unlink()
    os.symlink(outside, path)


#: damage every load finds (the batch is left out, named, and the rest stays usable)
LOAD_DAMAGE = {
    "deleted chunk": (lambda b, o: (b / "arrays.zarr/signals/c/0/0/0").unlink(),
                      "arrays.zarr/signals/c/0/0/0 is missing"),
    "deleted array": (lambda b, o: shutil.rmtree(b / "arrays.zarr/metrics"),
                      "arrays.zarr/metrics/.* is missing"),
    "deleted weights": (lambda b, o: (b / "weights.safetensors").unlink(),
                        "weights.safetensors is missing"),
    "a chunk that is a link to the same bytes": (
        lambda b, o: link_to_copy(b / "arrays.zarr/signals/c/0/0/0", o),
        "arrays.zarr/signals/c/0/0/0 is a symbolic link"),
    "weights that are a link": (lambda b, o: link_to_copy(b / "weights.safetensors", o),
                                "weights.safetensors is a symbolic link"),
    "no checksums": (lambda b, o: (b / CHECKSUMS).unlink(), "checksums.json is missing"),
    "checksums listing a path out of the batch": (
        lambda b, o: (b / CHECKSUMS).write_text(json.dumps({"algorithm": "sha256", "files": {
            "../../../escaped": "0" * 64}})), "checksums.json lists '../../../escaped'"),
    "a flipped byte in runs.parquet's numbers": (
        lambda b, o: rewrite_table(b, lambda t: t.assign(test_loss=t.test_loss + 1e-9)),
        "runs.parquet does not match its checksum"),
    "COMPLETE as a link": (lambda b, o: link_to_copy(b / "COMPLETE", o), "no COMPLETE"),
}


#: every damage a load finds: the table's, then the files'
FOUND_AT_LOAD = {**{k: (lambda b, o, f=f: f(b), f".*{w}") for k, (f, w) in TABLE_DAMAGE.items()},
                 **LOAD_DAMAGE}


@pytest.mark.parametrize("case", FOUND_AT_LOAD)
def test_damage_found_at_load_is_named_and_the_rest_stays_usable(store, tmp_path, case):
    damage, what = FOUND_AT_LOAD[case]
    (bad_run, bad), (good_run, _) = batches(store)
    damage(bad, tmp_path / "outside")
    with pytest.warns(DamagedBatchWarning,
                      match=f"batch {bad.name} of store {store} is damaged: {what}"):
        s = load(store)
    assert list(s.runs.index) == [good_run] and bad.name in s.damaged
    assert s.signals(good_run)[1].shape[0] == 13
    with pytest.raises(StoreError, match=f"1 damaged batch.*batch {bad.name} is damaged"):
        load(store, verify=True)


def test_a_file_removed_after_load_is_an_error_when_read(store):
    (bad_run, bad), _ = batches(store)
    s = load(store)
    (bad / "arrays.zarr/signals/c/0/0/0").unlink()
    with pytest.raises(DamagedBatch, match="arrays.zarr/signals/c/0/0/0 is missing"):
        s.signals(bad_run)


def test_each_chunk_is_hashed_once_and_only_when_read(store, monkeypatch):
    import circle_survival.store.reader as reader

    hashed = []
    real = reader.file_digest
    monkeypatch.setattr(reader, "file_digest", lambda p: hashed.append(p) or real(p))
    (run, _), _ = batches(store)
    s = load(store)
    s.signals(run)
    first = sorted(p.relative_to(store).as_posix().split("/", 2)[2] for p in hashed)
    assert first == ["arrays.zarr/signal_steps/c/0", "arrays.zarr/signal_steps/zarr.json",
                     "arrays.zarr/signals/c/0/0/0", "arrays.zarr/signals/zarr.json",
                     "arrays.zarr/zarr.json"]
    s.signals(run)
    s.stack("signals", [run], steps=slice(0, 2))
    assert len(hashed) == len(first)  # cached: read again, hashed once


def test_verify_passes_an_intact_store_and_checks_every_file(store):
    assert len(load(store, verify=True)) == 2
    _, batch = batches(store)[0]
    sums = json.loads((batch / CHECKSUMS).read_text())["files"]
    assert "weights.safetensors" in sums and "runs.parquet" in sums
    assert any(k.startswith("arrays.zarr/signals/c/") for k in sums)
    assert changed_files(batch, sums) == []
    (batch / "run_ids.json").write_text("[]")
    assert changed_files(batch, sums) == ["run_ids.json does not match its checksum"]
    (batch / "notes.txt").write_text("x")
    assert changed_files(batch, sums)[-1] == "notes.txt is not in checksums.json"


def test_a_batch_directory_that_is_a_link_or_not_an_id_is_left_out(store, tmp_path):
    (_, bad), (good_run, _) = batches(store)
    outside = tmp_path / "outside"
    shutil.move(bad, outside)
    os.symlink(outside, bad)
    (store / "batches" / "not-an-id").mkdir()
    with pytest.warns(DamagedBatchWarning, match="not a batch directory"):
        s = load(store)
    assert list(s.runs.index) == [good_run]


def test_every_file_gets_the_umask_permissions(tmp_path):
    before = os.umask(0o002)
    try:
        train_to_store(RunConfig(**SMALL, snapshot_steps=(6,)), tmp_path / "s")
    finally:
        os.umask(before)
    modes = {f.relative_to(tmp_path).as_posix(): stat.S_IMODE(f.stat().st_mode)
             for f in (tmp_path / "s").rglob("*") if f.is_file()}
    assert any(k.endswith("weights.safetensors") for k in modes)
    assert any("snapshots" in k for k in modes)
    assert set(modes.values()) == {0o664}, modes


def test_a_damaged_batch_error_survives_pickling():
    import pickle

    exc = pickle.loads(pickle.dumps(DamagedBatch("/s", "0123456789abcdef", "what")))
    assert str(exc) == "batch 0123456789abcdef of store /s is damaged: what"


def test_umask_and_os_error_line():
    before = os.umask(0o027)
    try:
        assert umask() == 0o027
    finally:
        os.umask(before)
    line = os_error_line("cannot write", OSError(28, "No space left on device", "/x/y"))
    assert line == "cannot write: No space left on device (/x/y)"
