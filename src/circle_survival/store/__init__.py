"""The run store: a directory of completed batches, read back with :func:`load`.

The modules, in the order a store is made and read:

- :mod:`.layout`     every path under a store;
- :mod:`.integrity`  checksums, the checks of a batch's table, OS errors as one line;
- :mod:`.create`     the marker, a new store, the checks of a path before writing;
- :mod:`.run_table`  a config as a row of the runs table and back;
- :mod:`.writer`     one batch written and committed atomically (:class:`BatchWriter`);
- :mod:`.reader`     :class:`Store`: a run's arrays, weights and model, long frames;
- :mod:`.loading`    :func:`load`, :func:`verify_batch`, :func:`completed_run_ids`.

The files of one batch::

    batches/<batch_id>/
      runs.parquet          one row per run: run_id, its resolved config, versions, summary
                            (final losses and accuracies, circles, signals)
      arrays.zarr/          the records (``record_plan.array_shapes``): signals (M, T_s, K),
                            signal_steps (T_s,), metrics (M, T_m, 4), metric_steps (T_m,),
                            embedding_init / embedding_final (M, p, d), embeddings
                            (M, T_e, p, d) and embedding_steps (T_e,) if asked, train_idx
                            (M, n_train)
      weights.safetensors   final parameters, nn.Module layout, leading run axis
      snapshots/            parameters at chosen steps, if asked
      checksums.json        the SHA-256 of every file above, written at commit time

A batch is written under ``tmp/`` and renamed into ``batches/`` only when complete; the rename
is atomic, so a process killed at any moment leaves either a complete batch or none. Nothing
in a store is pickled: Parquet, Zarr, JSON and safetensors only.

Every :func:`load` checks each batch's table (columns, types, run ids of their pattern,
``batch_id`` their digest, ``batch_index``, the table's checksum) and that every listed file is
there as a plain file; a damaged batch is left out with a warning ("batch X of store S is
damaged: what") and the rest stays usable. Every read hashes what it reads against the
checksums at its first read (a chunk, an array's metadata, a weights file), so a chunk that
is missing, altered or does not decode is an error when it is read, never zeros or other
values. ``load(path, verify=True)`` also checks every file against its checksum, every
array's shape, every weights file and every run id against its config, and raises naming each
damaged batch; a sweep sets a damaged batch aside (:func:`.loading.set_aside`: moved to
``damaged/``) and trains its runs again. Nothing in a store is followed as a link, and every
path written goes through :func:`.layout.safe_path`.

Zarr is imported only when a store is opened or written, so training in memory needs none.
"""

from .create import (
    FORMAT,
    VERSION,
    ZARR_HINT,
    check_store_path,
    import_zarr,
    init_store,
    is_store,
    read_marker,
)
from .integrity import DamagedBatch, DamagedBatchWarning
from .loading import (
    check_same_base,
    completed_run_ids,
    load,
    read_batch_table,
    refuse_other_base,
    verify_batch,
)
from .reader import Store
from .run_table import LIST_FIELDS, config_from_row, config_row
from .writer import BatchWriter

__all__ = [
    "FORMAT",
    "LIST_FIELDS",
    "VERSION",
    "ZARR_HINT",
    "BatchWriter",
    "DamagedBatch",
    "DamagedBatchWarning",
    "Store",
    "check_same_base",
    "check_store_path",
    "completed_run_ids",
    "config_from_row",
    "config_row",
    "import_zarr",
    "init_store",
    "is_store",
    "load",
    "read_batch_table",
    "read_marker",
    "refuse_other_base",
    "verify_batch",
]
