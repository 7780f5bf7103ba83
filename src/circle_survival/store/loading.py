"""Opening a store (:func:`load`): every batch's table checked, damaged batches left out or
(with ``verify``) every file checked against its checksum.
"""

from __future__ import annotations

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
    os_error_line,
    read_checksums,
)
from .layout import (
    COMPLETE,
    MARKER,
    RUNS_TABLE,
    SNAPSHOTS,
    WEIGHTS,
    StoreLayout,
    is_batch_id,
    plain_dir,
)
from .reader import Store
from .run_table import config_from_row


def completed_run_ids(path: str | Path) -> set[str]:
    """Ids of runs already complete in a store (empty if the store does not exist)."""
    path = Path(path)
    if not is_store(path):
        return set()
    return set(load(path).runs.index)


def load(path: str | Path, *, verify: bool = False) -> Store:
    """Open a store: runs as a DataFrame (index run_id), arrays by run id.

    Every batch's table is checked (:func:`integrity.check_table`); a damaged batch is left
    out of ``runs`` with a :class:`DamagedBatchWarning` and listed in ``Store.damaged``. With
    ``verify``, every batch is also checked in full (:func:`verify_batch`: files against their
    checksums, arrays present with their recorded shapes and readable, weights loadable) and
    a StoreError naming each damaged batch is raised if any is.

    Raises StoreError for a missing, foreign or unreadable store.
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
    try:
        batch_dirs = StoreLayout(path).batch_dirs()
    except OSError as exc:
        raise StoreError(os_error_line(f"cannot read store {path}", exc)) from None
    for d in batch_dirs:
        try:
            table = read_batch_table(path, d)
            if verify:
                verify_batch(path, d, table)
        except DamagedBatch as exc:
            damaged[d.name] = exc.what
            if not verify:
                warnings.warn(str(exc), DamagedBatchWarning, stacklevel=2)
            continue
        tables.append(table)
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
    """A committed batch's table, checked (:func:`integrity.check_table`); raises
    :class:`DamagedBatch`."""
    bid = batch_dir.name
    if not is_batch_id(bid) or not plain_dir(batch_dir):
        raise DamagedBatch(store, bid, "not a batch directory (a batch's name is 16 hex "
                                       "digits, and it is a plain directory)")
    if not (batch_dir / COMPLETE).is_file():
        raise DamagedBatch(store, bid, "no COMPLETE marker")
    try:
        table = pq.read_table(batch_dir / RUNS_TABLE).to_pandas()
    except Exception as exc:  # noqa: BLE001 - pyarrow's or the OS's errors: unreadable
        raise DamagedBatch(store, bid, f"{RUNS_TABLE} does not read ({type(exc).__name__})"
                           ) from None
    check_table(store, bid, table, optional=LATER_FIELDS)
    return table


def verify_batch(store: Path, batch_dir: Path, table: pd.DataFrame) -> None:
    """Check one committed batch in full; raise :class:`DamagedBatch` saying what is wrong:
    a file missing or differing from its checksum, an array missing, of another shape or
    unreadable, a weights or snapshot file that does not load or holds another number of
    runs."""
    bid = batch_dir.name
    sums = read_checksums(store, batch_dir)
    if sums is not None:
        problems = changed_files(batch_dir, sums)
        if problems:
            raise DamagedBatch(store, bid, "; ".join(problems[:3]) + (
                f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""))
    table = table.sort_values("batch_index")
    try:
        configs = [config_from_row(r) for _, r in table.iterrows()]
    except Exception as exc:  # noqa: BLE001 - a config the table cannot rebuild
        raise DamagedBatch(store, bid, f"a run's config does not load ({exc})") from None
    reader = Store(store, table.set_index("run_id", drop=False))
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
        refuse_other_base(store.path, cfg, config_from_row(store.runs.iloc[0]))


def refuse_other_base(store: Path, cfg: RunConfig, other: RunConfig, where: str = "") -> None:
    """StoreError naming the fields in which ``other`` (a run of the store, or of a sweep
    recorded in it: ``where``) differs from ``cfg`` beyond the seeds; nothing if none."""
    if other.base_key() != cfg.base_key():
        mine, theirs = cfg.to_dict(), other.to_dict()
        diff = [k for k in mine if mine[k] != theirs[k] and not k.endswith("_seed")]
        raise StoreError(f"store {store} holds runs of another config{where} (differs in: "
                         f"{', '.join(diff)}); choose another store")
