"""Sweeps: a grid of runs, expanded from one spec, trained in batches into one store.

- :mod:`.spec`       the spec (:class:`SweepSpec`): base, axes, seeds; its runs;
- :mod:`.plan`       batches, and the cost of training them (time, disk);
- :mod:`.lock`       the lock a sweep holds on its store;
- :mod:`.status`     the record of a sweep in its store, and the store's status;
- :mod:`.executors`  how batches are trained: in this process, in worker processes, on Ray;
- :mod:`.run`        :func:`run_sweep` and :func:`train_to_store`, the one way to train into
  a store.
"""

from .executors import ray_session
from .lock import StoreLock, describe_holder, read_holder
from .plan import (
    Calibration,
    TimeEstimate,
    batch_all,
    batch_seconds,
    calibrate,
    default_max_batch,
    drop_done,
    estimate_disk,
    estimate_time,
    model_step_flops,
    per_task,
    plan_batches,
    plan_sweep,
    wall_clock,
)
from .run import SweepReport, configs_spec, run_sweep, train_to_store
from .spec import SweepSpec, spec_from_configs
from .status import StoreStatus, SweepProgress, record_sweep, sweep_status

__all__ = [
    "Calibration",
    "StoreLock",
    "StoreStatus",
    "SweepProgress",
    "SweepReport",
    "SweepSpec",
    "TimeEstimate",
    "batch_all",
    "batch_seconds",
    "calibrate",
    "configs_spec",
    "default_max_batch",
    "describe_holder",
    "drop_done",
    "estimate_disk",
    "estimate_time",
    "model_step_flops",
    "per_task",
    "plan_batches",
    "plan_sweep",
    "ray_session",
    "read_holder",
    "record_sweep",
    "run_sweep",
    "spec_from_configs",
    "sweep_status",
    "train_to_store",
    "wall_clock",
]
