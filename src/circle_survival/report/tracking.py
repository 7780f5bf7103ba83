"""Run tracking: the runs of a store logged to MLflow, as a view of the store. The store stays
the source of truth; tracking copies what it holds and never writes into it.

    report = track_runs(load(path))                    # every run of the store
    report = track_runs(sweep.after(), sweep.run_ids)  # right after a sweep (a SweepReport)
    print(report.summary())

Where the runs go, the first that is set: ``uri=`` (any MLflow tracking URI: ``http://...``,
``sqlite:///...``, ``file:///...``, ``databricks``), the environment's ``MLFLOW_TRACKING_URI``,
else the default, an SQLite file *beside* the store: ``<store>-mlflow/mlflow.db`` (a store at
``/data/runs`` tracks to ``sqlite:////data/runs-mlflow/mlflow.db``; its experiments' artifact
root is ``<store>-mlflow/artifacts``, where nothing is logged). Beside the store, because
nothing but the store's own files lives inside a store, and never the current folder, which is
where MLflow's own defaults (``./mlruns``, ``./mlflow.db``) would write. SQLite, not a file
store (``mlruns/``), because MLflow 3 keeps the file store in maintenance mode and refuses to
open one unless ``MLFLOW_ALLOW_FILE_STORE=true`` is set (for the writer and every reader, the
UI included); a file store given as ``uri=`` works where MLflow allows it. An SQLite URI given
as ``uri=`` opens as MLflow opens it (up to 3.4 at least, making ``./mlruns`` where it runs).
``mlflow ui --backend-store-uri sqlite:////data/runs-mlflow/mlflow.db`` shows the runs.

One MLflow run per run of the store, named by its run id:

- params: every :class:`~circle_survival.config.RunConfig` field, one each (the three seeds
  among them; lists as text, "100, 100"; the intervention as JSON), ``run_id``, ``batch_id``,
  ``package_version`` and ``store`` (the store's absolute path);
- metrics: ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` at every recorded step
  (:meth:`Store.metrics <circle_survival.store.Store.metrics>`), whose last point, at the final
  step, is the run's final value; ``n_circles`` at the final step;
- tags: ``circle_survival.circles`` ("2, 5, 17", "" for none), ``circle_survival.run_id``,
  ``circle_survival.store`` and ``circle_survival.batch_id``.

Logging a store again adds nothing: an MLflow run is found by its run id and store tags in the
experiment. A finished one of the same batch is skipped; an unfinished one (a track that was
interrupted) or one of another batch (the run trained again into a new store at that path) is
deleted and logged anew ("replaced"). A store moved elsewhere is another store: its runs are
logged again under its new path. Two tracks of one store at the same time may replace each
other's run in progress; the next track completes it.

MLflow is imported only here, when asked: ``pip install 'circle-survival[track]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..store import Store, config_row, load
from ..training.record_plan import METRIC_NAMES

TRACKERS = ("mlflow",)
INSTALL = "pip install 'circle-survival[track]'"
RUN_TAG = "circle_survival.run_id"
STORE_TAG = "circle_survival.store"
BATCH_TAG = "circle_survival.batch_id"
CIRCLES_TAG = "circle_survival.circles"
#: the params every MLflow run has besides the config fields
RUN_PARAMS = ("run_id", "batch_id", "package_version", "store")
#: what one ``log_batch`` call may carry (MLflow's limits)
MAX_PARAMS_PER_CALL = 100
MAX_METRICS_PER_CALL = 1000
#: loggers of MLflow's SQL backend that announce every new database on stderr
_CHATTY_LOGGERS = ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration")


@dataclass(frozen=True)
class TrackReport:
    """What :func:`track_runs` did. ``logged``: MLflow runs made for runs logged for the first
    time; ``replaced``: an earlier MLflow run of a run, unfinished or of another batch, deleted
    and logged anew; ``skipped``: already logged, finished. ``mlflow_run_ids`` maps every run
    asked for to its MLflow run id."""

    uri: str
    experiment_id: str
    experiment_name: str
    logged: int = 0
    replaced: int = 0
    skipped: int = 0
    mlflow_run_ids: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the command line."""
        return (f"MLflow: {self.logged} runs logged, {self.replaced} replaced, "
                f"{self.skipped} already there; experiment {self.experiment_name!r} "
                f"at {self.uri}")


def tracking_dir(store_path: str | Path) -> Path:
    """The folder beside a store that its default tracking URI uses: ``<store>-mlflow``."""
    path = Path(store_path).resolve()
    return path.with_name(path.name + "-mlflow")


def default_uri(store_path: str | Path) -> str:
    """``sqlite:///<store>-mlflow/mlflow.db`` (an absolute path, so four slashes)."""
    return f"sqlite:///{tracking_dir(store_path) / 'mlflow.db'}"


def resolve_uri(store_path: str | Path, uri: str | None = None) -> str:
    """The tracking URI: ``uri`` when given, else ``MLFLOW_TRACKING_URI`` when set, else
    :func:`default_uri`."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(store_path)


def default_experiment(store_path: str | Path) -> str:
    """``circle-survival/<store folder name>``."""
    return f"circle-survival/{Path(store_path).resolve().name}"


def param_text(value: Any) -> str:
    """A value as an MLflow param or tag: lists as "100, 100" ("" when empty), numbers as
    Python writes them (0.01, 1e-08), booleans as True/False."""
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(param_text(v) for v in value)
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def run_params(store: Store, run_id: str) -> dict[str, str]:
    """The params of one run's MLflow run: every config field, then :data:`RUN_PARAMS`."""
    params = {k: param_text(v) for k, v in config_row(store.config(run_id)).items()}
    row = store.runs.loc[run_id]
    params.update(run_id=run_id, batch_id=str(row["batch_id"]),
                  package_version=str(row["package_version"]),
                  store=str(Path(store.path).resolve()))
    return params


def run_tags(store: Store, run_id: str) -> dict[str, str]:
    row = store.runs.loc[run_id]
    return {RUN_TAG: run_id, STORE_TAG: str(Path(store.path).resolve()),
            BATCH_TAG: str(row["batch_id"]),
            CIRCLES_TAG: ", ".join(str(int(c)) for c in row["circles"])}


def track_runs(store: Store | str | Path, run_ids: Iterable[str] | None = None, *,
               tracker: str = "mlflow", uri: str | None = None,
               experiment: str | None = None) -> TrackReport:
    """Log each run of ``store`` (a :class:`Store` or its path; default every run, else those
    of ``run_ids``) to MLflow, one MLflow run per run, in the experiment ``experiment``
    (default ``circle-survival/<store folder name>``, made when missing) at the tracking URI
    :func:`resolve_uri` gives. Runs already logged are skipped (see the module's text).
    A missing mlflow, an unknown tracker, a URI MLflow cannot open and MLflow's refusals are
    one-line :class:`ConfigError`\\ s."""
    if tracker not in TRACKERS:
        raise ConfigError(f"unknown tracker {tracker!r} (known: {', '.join(TRACKERS)})")
    mlflow = import_mlflow()
    if not isinstance(store, Store):
        store = load(store)
    ids = list(dict.fromkeys(store.run_ids(run_ids)))  # each once, in order
    store_path = Path(store.path).resolve()
    uri = resolve_uri(store_path, uri)
    name = experiment or default_experiment(store_path)
    home = artifacts = None
    if uri == default_uri(store_path):
        home = tracking_dir(store_path)
        home.mkdir(parents=True, exist_ok=True)
        artifacts = (home / "artifacts").as_uri()
    with _quiet(), _one_line(mlflow, uri):
        client = _client(mlflow, uri, home)
        exp_id = _experiment(client, name, artifacts, uri)
        found = _logged_runs(mlflow, client, exp_id, str(store_path))
        counts = {"logged": 0, "replaced": 0, "skipped": 0}
        mlflow_ids: dict[str, str] = {}
        for rid in ids:
            batch = str(store.runs.loc[rid, "batch_id"])
            earlier = found.get(rid, [])
            done = [r for r in earlier if r.info.status == "FINISHED"
                    and r.data.tags.get(BATCH_TAG) == batch]
            for r in earlier:
                if not done or r is not done[0]:
                    client.delete_run(r.info.run_id)
            if done:
                mlflow_ids[rid] = done[0].info.run_id
                counts["skipped"] += 1
                continue
            mlflow_ids[rid] = _log_run(mlflow, client, exp_id, store, rid)
            counts["replaced" if earlier else "logged"] += 1
    return TrackReport(uri=uri, experiment_id=str(exp_id), experiment_name=name,
                       mlflow_run_ids=mlflow_ids, **counts)


def import_mlflow() -> Any:
    try:
        import mlflow
        import mlflow.entities
        import mlflow.tracking
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "mlflow":
            raise ConfigError(f"tracking with MLflow needs mlflow: {INSTALL}") from None
        raise ConfigError(f"mlflow does not import ({exc}); {INSTALL}") from None
    return mlflow


def _client(mlflow: Any, uri: str, home: Path | None = None) -> Any:
    """An MlflowClient at ``uri``, its backend opened (MlflowClient opens it at once), from
    the folder ``home`` when given: MLflow's SQL backend (2.x, and 3.x up to 3.4 at least)
    makes its default artifact root, ``./mlruns``, in the current folder when it opens (once
    per URI and process), so the default URI is opened from the folder beside the store. (The
    current folder changes for that moment, for every thread of the process.)"""
    try:
        with contextlib.chdir(home) if home else contextlib.nullcontext():
            return mlflow.tracking.MlflowClient(tracking_uri=uri)
    except ImportError as exc:  # the SQL backend without sqlalchemy or alembic
        raise ConfigError(f"MLflow cannot open {uri}: {' '.join(str(exc).split())} (an "
                          f"SQLite URI needs sqlalchemy and alembic: {INSTALL})") from None
    except mlflow.exceptions.MlflowException as exc:
        if "MLFLOW_ALLOW_FILE_STORE" in str(exc):
            raise ConfigError(
                f"MLflow {mlflow.__version__} refuses the file store {uri} unless "
                "MLFLOW_ALLOW_FILE_STORE=true is set: set it, or track to a sqlite:/// or "
                "http:// URI (the default is an SQLite file beside the store)") from None
        raise


def _experiment(client: Any, name: str, artifacts: str | None, uri: str) -> str:
    """The id of the experiment ``name``, made when missing; a deleted one is an error."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=artifacts)
        except Exception:  # noqa: BLE001 - made meanwhile by another process: read it back
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage != "active":
        raise ConfigError(f"MLflow experiment {name!r} at {uri} is deleted: restore it "
                          "(mlflow experiments restore) or name another experiment")
    return exp.experiment_id


def _logged_runs(mlflow: Any, client: Any, exp_id: str, store: str) -> dict[str, list[Any]]:
    """The active MLflow runs of this store in the experiment, by run id."""
    # a path with a quote cannot go into a filter string: then every run is read and sorted
    # out here
    where = f"tags.`{STORE_TAG}` = '{store}'" if "'" not in store else ""
    out: dict[str, list[Any]] = {}
    token = None
    while True:
        page = client.search_runs([exp_id], filter_string=where, max_results=1000,
                                  run_view_type=mlflow.entities.ViewType.ACTIVE_ONLY,
                                  page_token=token)
        for r in page:
            if r.data.tags.get(STORE_TAG) == store and RUN_TAG in r.data.tags:
                out.setdefault(r.data.tags[RUN_TAG], []).append(r)
        token = page.token
        if not token:
            return out


def _log_run(mlflow: Any, client: Any, exp_id: str, store: Store, run_id: str) -> str:
    """One MLflow run of ``run_id``, finished; its id. A failure marks it FAILED (the next
    track replaces it)."""
    ent = mlflow.entities
    run = client.create_run(exp_id, run_name=run_id, tags=run_tags(store, run_id))
    mid = run.info.run_id
    try:
        params = [ent.Param(k, _fit(v)) for k, v in run_params(store, run_id).items()]
        for chunk in _chunks(params, MAX_PARAMS_PER_CALL):
            client.log_batch(mid, params=chunk)
        for chunk in _chunks(_metrics(ent, store, run_id), MAX_METRICS_PER_CALL):
            client.log_batch(mid, metrics=chunk)
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(mid, status="FAILED")
        raise
    client.set_terminated(mid, status="FINISHED")
    return mid


def _metrics(ent: Any, store: Store, run_id: str) -> list[Any]:
    """The loss and accuracy curves at every recorded step, then ``n_circles`` at the last."""
    now = int(time.time() * 1000)
    curves = store.metrics(run_id)
    steps = curves["step"].to_numpy()
    out = [ent.Metric(name, float(v), now, int(s))
           for name in METRIC_NAMES for s, v in zip(steps, curves[name].to_numpy(), strict=True)]
    row = store.runs.loc[run_id]
    out.append(ent.Metric("n_circles", float(row["n_circles"]), now, int(row["steps"])))
    return out


def _fit(text: str) -> str:
    """A param value within MLflow's length limit (cut with an ellipsis beyond it)."""
    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
    except ImportError:
        limit = 500
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Without the deprecation warnings of MLflow's dependencies and the SQL backend's notes
    on stderr ("Creating initial MLflow database tables...")."""
    loggers = {n: logging.getLogger(n) for n in _CHATTY_LOGGERS}
    levels = {n: lg.level for n, lg in loggers.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            for lg in loggers.values():
                lg.setLevel(logging.WARNING)
            yield
    finally:
        for n, lg in loggers.items():
            lg.setLevel(levels[n])


@contextlib.contextmanager
def _one_line(mlflow: Any, uri: str) -> Iterator[None]:
    """MLflow's errors (an unreachable server, a refused request) as one line."""
    try:
        yield
    except mlflow.exceptions.MlflowException as exc:
        text = " ".join(str(exc).split())
        raise ConfigError(f"MLflow at {uri}: {text[:300]}") from None

