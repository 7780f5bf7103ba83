"""Opening a store (:func:`load`): every batch's table and files checked (cheaply: the table
against its checksum, every listed file there), damaged batches left out or (with ``verify``)
every file checked against its checksum; :func:`check_batch`, every byte of one batch, and
:func:`set_aside`, a damaged batch moved to ``damaged/`` (never deleted).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..config import LATER_FIELDS, RunConfig
from ..errors import StoreError
from ..training.record_plan import array_shapes
from .create import import_zarr, is_store, read_marker
from .integrity import (
    DamagedBatch,
    DamagedBatchWarning,
    changed_files,
    check_table,
    file_digest,
    lost_files,
    os_error_line,
    read_checksums,
)
from .layout import (
    COMPLETE,
    DAMAGED,
    MARKER,
    RUN_IDS,
    RUNS_TABLE,
    SNAPSHOTS,
    WEIGHTS,
    StoreLayout,
    batch_id_for,
    is_batch_id,
    plain_dir,
    plain_file,
)
from .reader import Store
from .run_table import config_from_row


def completed_run_ids(path: str | Path) -> set[str]:
    """Ids of runs already complete in a store (empty if the store does not exist)."""
    path = Path(path)
    if not is_store(path):
        return set()
    return set(load(path).runs.index)


def load(path: str | Path, *, verify: bool = False, every_byte: bool = False) -> Store:
    """Open a store: runs as a DataFrame (index run_id), arrays by run id.

    Every batch's table is checked (:func:`read_batch_table`: its columns, types and ids,
    its checksum, every file its checksums list there as a plain file); a damaged batch is
    left out of ``runs`` with a :class:`DamagedBatchWarning` and listed in ``Store.damaged``.
    With ``verify``, every batch is also checked in full (:func:`verify_batch`: files against
    their checksums, arrays present with their recorded shapes and readable, weights
    loadable, run ids those of their configs), and so are the store's folders, sweep records
    and result folders; a StoreError naming each damaged batch is raised if any is. With
    ``every_byte`` (what ``show`` lists from), every file of every batch is read against its
    checksum too and every run id against its config (:func:`check_batch`, on a few
    threads), and a batch that fails is left out like one whose table is damaged.

    Raises StoreError for a missing, foreign or unreadable store, or one whose folders are
    links.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no store at {path}")
    if not path.is_dir():
        raise StoreError(f"{path} is not a directory")
    if not is_store(path):
        raise StoreError(f"{path} is not a circle-survival store (no {MARKER})")
    read_marker(path)
    import_zarr()  # its arrays need it: say so now rather than at the first array read
    tables, damaged = [], {}
    layout = StoreLayout(path)
    try:
        if verify:
            layout.check_folders()
            layout.sweep_records()
            layout.result_files()
        batch_dirs = layout.batch_dirs()
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot read store {path}", exc)) from None
    def open_batch(d: Path) -> pd.DataFrame | DamagedBatch:
        try:
            table = read_batch_table(path, d)
            if verify:
                verify_batch(path, d, table)
            elif every_byte:
                problems = changed_files(d, read_checksums(path, d))
                if problems:
                    raise DamagedBatch(path, d.name, summary(problems))
                check_configs(path, d, table)
        except DamagedBatch as exc:
            return exc
        return table

    if every_byte and not verify and len(batch_dirs) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(8, os.cpu_count() or 1, len(batch_dirs))) as pool:
            opened = list(pool.map(open_batch, batch_dirs))
    else:
        opened = [open_batch(d) for d in batch_dirs]
    for d, got in zip(batch_dirs, opened, strict=True):
        if isinstance(got, DamagedBatch):
            damaged[d.name[:80]] = got.what
            if not verify:
                warnings.warn(str(got), DamagedBatchWarning, stacklevel=2)
            continue
        tables.append(got)
    if verify and damaged:
        raise StoreError(f"store {path}: {len(damaged)} damaged batch(es): " + "; ".join(
            f"batch {b} is damaged: {what}" for b, what in damaged.items()))
    if tables:
        runs = pd.concat(tables, ignore_index=True)
        runs = runs.drop_duplicates("run_id", keep="first")
        for name, default in LATER_FIELDS.items():  # batches written before the field existed
            col = runs[name] if name in runs else pd.Series(default, index=runs.index)
            runs[name] = col.fillna(default).astype(type(default))
    else:
        runs = pd.DataFrame({"run_id": pd.Series(dtype=str)})
    return Store(path, runs.set_index("run_id", drop=False), damaged)


def read_batch_table(store: Path, batch_dir: Path) -> pd.DataFrame:
    """A committed batch's table, checked (:func:`integrity.check_table`, and against its
    checksum), and every file the batch's checksums list there as a plain file; raises
    :class:`DamagedBatch`."""
    bid = batch_dir.name
    if not is_batch_id(bid) or not plain_dir(batch_dir):
        raise DamagedBatch(store, bid[:80], "not a batch directory (a batch's name is 16 hex "
                                            "digits, and it is a plain directory)")
    if not plain_file(batch_dir / COMPLETE):
        raise DamagedBatch(store, bid, "no COMPLETE marker")
    try:
        if not plain_file(batch_dir / RUNS_TABLE):
            raise FileNotFoundError(RUNS_TABLE)
        table = pq.read_table(batch_dir / RUNS_TABLE).to_pandas()
    except Exception as exc:  # noqa: BLE001 - pyarrow's or the OS's errors: unreadable
        raise DamagedBatch(store, bid, f"{RUNS_TABLE} does not read ({type(exc).__name__})"
                           ) from None
    check_table(store, bid, table, optional=LATER_FIELDS)
    sums = read_checksums(store, batch_dir)
    try:
        same = file_digest(batch_dir / RUNS_TABLE) == sums.get(RUNS_TABLE)
    except OSError:
        same = False
    if not same:
        raise DamagedBatch(store, bid, f"{RUNS_TABLE} does not match its checksum")
    lost = lost_files(batch_dir, sums)
    if lost:
        raise DamagedBatch(store, bid, lost[0] + (f" (and {len(lost) - 1} more)"
                                                  if len(lost) > 1 else ""))
    return table


def check_batch(store: Path, batch_dir: Path) -> str | None:
    """What is wrong with one committed batch, reading every byte (its table as
    :func:`read_batch_table` checks it, every file against its checksum, no link and no file
    its checksums do not list); None when it is intact."""
    try:
        table = read_batch_table(store, batch_dir)
        problems = changed_files(batch_dir, read_checksums(store, batch_dir))
        if not problems:
            check_configs(store, batch_dir, table)
    except DamagedBatch as exc:
        return exc.what
    except OSError as exc:
        return os_error_line("a file does not read", exc)
    return summary(problems) if problems else None


def check_configs(store: Path, batch_dir: Path, table: pd.DataFrame) -> list[RunConfig]:
    """The configs of a batch's runs in batch order, each rebuilt from its row and its run id
    checked to be the one the config makes; DamagedBatch otherwise."""
    bid = batch_dir.name
    rows = table.sort_values("batch_index").to_dict("records")
    try:
        configs = [config_from_row(r) for r in rows]
    except Exception as exc:  # noqa: BLE001 - a config the table cannot rebuild
        what = " ".join(str(exc).split())[:120]
        raise DamagedBatch(store, bid, f"a run's config does not load ({what})") from None
    if [c.run_id for c in configs] != [r["run_id"] for r in rows]:
        raise DamagedBatch(store, bid, "a run id is not that of its config")
    return configs


def summary(problems: list[str]) -> str:
    """The first three problems of a batch, and how many more."""
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def set_aside(store: Path, batch_id: str) -> Path | None:
    """Move a damaged batch (a directory, a file or a link named by its id in ``batches/``)
    to ``damaged/<batch_id>.<time>`` (never deleted, never followed); returns where, or None
    when it is no longer there (another worker set it aside first)."""
    layout = StoreLayout(store)
    src = layout.batch(batch_id)
    layout.ensure(DAMAGED)
    dst = layout.damaged_batch(batch_id)
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot set damaged batch {batch_id} of store {store} "
                                       "aside", exc)) from None
    return dst


def verify_batch(store: Path, batch_dir: Path, table: pd.DataFrame) -> None:
    """Check one committed batch in full; raise :class:`DamagedBatch` saying what is wrong:
    a file missing or differing from its checksum, an array missing, of another shape or
    unreadable, a weights or snapshot file that does not load or holds another number of
    runs."""
    bid = batch_dir.name
    sums = read_checksums(store, batch_dir)
    problems = changed_files(batch_dir, sums)
    if problems:
        raise DamagedBatch(store, bid, summary(problems))
    configs = check_configs(store, batch_dir, table)
    ids = [c.run_id for c in configs]
    try:
        listed = json.loads((batch_dir / RUN_IDS).read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        listed = None
    if (RUN_IDS in sums and listed != ids) or batch_id_for(ids) != bid:
        raise DamagedBatch(store, bid, f"{RUN_IDS} does not list the batch's runs")
    reader = Store(store, table.set_index("run_id", drop=False))
    reader.trust(bid)  # every file was just checked against its checksum
    for name, (shape, _) in array_shapes(configs).items():
        group = reader._group(bid)
        if name not in group:
            raise DamagedBatch(store, bid, f"array {name} is missing")
        if tuple(group[name].shape) != shape:
            raise DamagedBatch(store, bid, f"array {name} has shape {group[name].shape}, "
                                           f"expected {shape}")
        reader._read(bid, name, slice(None))
    files = [batch_dir / WEIGHTS, *sorted((batch_dir / SNAPSHOTS).glob("*.safetensors"))]
    for f in files:
        tensors = reader._tensors(bid, f, slice(None))
        if any(v.shape[0] != len(configs) for v in tensors.values()):
            raise DamagedBatch(store, bid, f"{f.name} holds another number of runs")


def check_same_base(store: Store, cfg: RunConfig) -> None:
    """Refuse a store whose runs differ from ``cfg`` in anything but the seeds."""
    if not store.runs.empty:
        refuse_other_base(store.path, cfg, store.config(str(store.runs.index[0])))


def refuse_other_base(store: Path, cfg: RunConfig, other: RunConfig, where: str = "") -> None:
    """StoreError naming the fields in which ``other`` (a run of the store, or of a sweep
    recorded in it: ``where``) differs from ``cfg`` beyond the seeds; nothing if none."""
    if other.base_key() != cfg.base_key():
        mine, theirs = cfg.to_dict(), other.to_dict()
        diff = [k for k in mine if mine[k] != theirs[k] and not k.endswith("_seed")]
        raise StoreError(f"store {store} holds runs of another config{where} (differs in: "
                         f"{', '.join(diff)}); choose another store")
