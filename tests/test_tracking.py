"""Run tracking against real MLflow: a tiny store logged to local MLflow stores in tmp_path,
read back with MLflow's own client and compared with the store's table and curves."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import circle_survival as cs
from circle_survival.errors import ConfigError
from circle_survival.report.tracking import (
    BATCH_TAG,
    CIRCLES_TAG,
    INSTALL,
    RUN_PARAMS,
    RUN_TAG,
    STORE_TAG,
    track_runs,
)
from circle_survival.store import Store

mlflow = pytest.importorskip("mlflow")
MlflowClient = pytest.importorskip("mlflow.tracking").MlflowClient

FIELDS = [f.name for f in dataclasses.fields(cs.RunConfig)]
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three runs, circles [], [2] and [5]; metrics every 3 steps and at the last (40)."""
    path = tmp_path_factory.mktemp("tracked") / "runs"
    cs.train_to_store([cs.RunConfig(p=11, d=6, hidden=(12,), steps=40, lr=0.1,
                                    metrics_every=3, signal_every=10, device="cpu",
                                    embedding_seed=i) for i in range(3)], path)
    return cs.load(path)


@pytest.fixture
def file_uri(tmp_path, monkeypatch):
    """A fresh MLflow file store (MLflow 3 opens one only when allowed)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return (tmp_path / "mlruns").as_uri()


def logged(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def same_value(text: str, value) -> bool:
    """A param's text against the store's value, parsed back (a second computation)."""
    if isinstance(value, np.ndarray | list):
        parts = text.split(", ") if text else []
        return [float(x) for x in parts] == [float(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return text == ("True" if value else "False")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(text) == float(value)
    return text == value


def check_run(run, store: Store, client: MlflowClient) -> None:
    rid = run.data.tags[RUN_TAG]
    row = store.runs.loc[rid]
    params = run.data.params
    assert set(params) == set(FIELDS) | set(RUN_PARAMS)
    for name in FIELDS:
        assert same_value(params[name], row[name]), name
    for seed in ("embedding_seed", "mlp_seed", "split_seed"):
        assert int(params[seed]) == row[seed]
    assert params["run_id"] == rid == run.info.run_name
    assert params["batch_id"] == row["batch_id"]
    assert params["package_version"] == row["package_version"] == cs.__version__
    assert params["store"] == run.data.tags[STORE_TAG] == str(store.path.resolve())
    for name in (*METRICS, "n_circles"):
        assert run.data.metrics[name] == row[name], name
    curves = store.metrics(rid)
    for name in METRICS:
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id,
                                                                              name))
        assert history == list(zip(curves["step"].tolist(), curves[name].tolist(),
                                   strict=True)), name
    assert run.data.tags[CIRCLES_TAG] == ", ".join(str(c) for c in row["circles"])
    assert run.info.status == "FINISHED"


def test_a_file_store_holds_every_run_as_the_store_does(store, file_uri):
    report = track_runs(store, uri=file_uri)
    assert (report.logged, report.replaced, report.skipped) == (3, 0, 0)
    assert report.uri == file_uri and report.experiment_name == "circle-survival/runs"
    runs = logged(file_uri, "circle-survival/runs")
    assert sorted(r.data.tags[RUN_TAG] for r in runs) == sorted(store.runs.index)
    assert sorted(report.mlflow_run_ids.values()) == sorted(r.info.run_id for r in runs)
    client = MlflowClient(file_uri)
    for run in runs:
        check_run(run, store, client)
    assert sorted(r.data.tags[CIRCLES_TAG] for r in runs) == ["", "2", "5"]
    assert store.metrics(store.runs.index[0])["step"].tolist()[-2:] == [39, 40]

    again = track_runs(store.path, uri=file_uri)  # a path works as well as a Store
    assert (again.logged, again.replaced, again.skipped) == (0, 0, 3)
    assert again.mlflow_run_ids == report.mlflow_run_ids
    assert len(logged(file_uri, "circle-survival/runs")) == 3


def test_circles_as_text(store, file_uri):
    runs = store.runs.copy()
    runs.at[runs.index[0], "circles"] = np.array([2, 5, 17])
    runs.at[runs.index[0], "n_circles"] = 3
    track_runs(Store(store.path, runs), store.runs.index[:1], uri=file_uri,
               experiment="doctored")
    (run,) = logged(file_uri, "doctored")
    assert run.data.tags[CIRCLES_TAG] == "2, 5, 17" and run.data.metrics["n_circles"] == 3


def test_the_default_is_an_sqlite_file_beside_the_store(store, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    inside = sorted(p.relative_to(store.path) for p in store.path.rglob("*"))
    report = track_runs(store)
    beside = store.path.resolve().with_name("runs-mlflow")
    assert report.uri == f"sqlite:///{beside / 'mlflow.db'}"
    assert (beside / "mlflow.db").is_file()
    assert sorted(p.relative_to(store.path) for p in store.path.rglob("*")) == inside
    assert list(cwd.iterdir()) == []
    runs = logged(report.uri, "circle-survival/runs")
    assert len(runs) == 3 and report.logged == 3
    check_run(runs[0], store, MlflowClient(report.uri))
    assert track_runs(store).skipped == 3 and len(logged(report.uri, report.experiment_name)) == 3


def test_uri_wins_over_the_environment_which_wins_over_the_default(store, file_uri,
                                                                 tmp_path, monkeypatch):
    env_uri = (tmp_path / "env-mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_uri)
    assert track_runs(store, store.runs.index[:1], experiment="e").uri == env_uri
    assert track_runs(store, store.runs.index[:1], uri=file_uri, experiment="e").uri == file_uri
    assert len(logged(env_uri, "e")) == len(logged(file_uri, "e")) == 1


def test_some_runs_then_the_rest_and_an_interrupted_run_replaced(store, file_uri):
    first, second, third = store.runs.index
    assert track_runs(store, [first, first], uri=file_uri).logged == 1  # each run once
    client = MlflowClient(file_uri)
    exp = client.get_experiment_by_name("circle-survival/runs").experiment_id
    # a track killed after it made the MLflow run of `second`, before it finished it
    client.create_run(exp, tags={RUN_TAG: second, STORE_TAG: str(store.path.resolve())})
    # another store's run of the same id is another run, left alone
    client.create_run(exp, tags={RUN_TAG: third, STORE_TAG: "/elsewhere/runs"})
    report = track_runs(store, uri=file_uri)
    assert (report.logged, report.replaced, report.skipped) == (1, 1, 1)
    ours = [r for r in logged(file_uri, "circle-survival/runs")
            if r.data.tags[STORE_TAG] == str(store.path.resolve())]
    assert sorted(r.data.tags[RUN_TAG] for r in ours) == sorted(store.runs.index)
    for run in ours:
        check_run(run, store, client)
    # the MLflow run of an earlier batch of that run (a store trained again at this path)
    client.set_tag(report.mlflow_run_ids[first], BATCH_TAG, "an-earlier-batch")
    again = track_runs(store, uri=file_uri)
    assert (again.logged, again.replaced, again.skipped) == (0, 1, 2)
    assert again.mlflow_run_ids[first] != report.mlflow_run_ids[first]
    assert sum(r.data.tags[STORE_TAG] == str(store.path.resolve())
               for r in logged(file_uri, "circle-survival/runs")) == 3


def one_line_error(match: str, **kwargs) -> str:
    with pytest.raises(ConfigError, match=match) as info:
        track_runs(**kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_without_mlflow_a_one_line_error_naming_the_extra(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    assert INSTALL in one_line_error("needs mlflow", store=store)


def test_an_unknown_tracker_is_one_line(store):
    assert "known: mlflow" in one_line_error("unknown tracker 'wandb'", store=store,
                                             tracker="wandb")


def test_a_refused_file_store_or_a_missing_sql_backend_is_one_line(store, tmp_path,
                                                                  monkeypatch):
    if not hasattr(mlflow.environment_variables, "MLFLOW_ALLOW_FILE_STORE"):
        pytest.skip("this MLflow opens file stores without asking")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    one_line_error("refuses the file store.*MLFLOW_ALLOW_FILE_STORE=true", store=store,
                   uri=(tmp_path / "refused").as_uri())
    monkeypatch.setitem(sys.modules, "mlflow.store.tracking.sqlalchemy_store", None)
    assert INSTALL in one_line_error("cannot open sqlite", store=store,
                                     uri=f"sqlite:///{tmp_path / 'no-sql.db'}")


def test_sweep_run_tracks_its_runs_once(tmp_path, capsys):
    from cli_runner import run_cli

    spec = tmp_path / "spec.toml"
    spec.write_text('name = "tracked"\n[base]\np = 11\nd = 6\nhidden = [12]\nsteps = 20\n'
                    'device = "cpu"\n[seeds]\nembedding = "0:2"\n')
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    argv = ["sweep", "run", str(spec), str(tmp_path / "st"), "--quiet", "--track", "mlflow",
            "--track-uri", uri]
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and "MLflow: 2 runs logged" in out, err
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and "0 runs logged, 0 replaced, 2 already there" in out
    runs = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("circle-survival/st").experiment_id])
    assert sorted(r.data.tags[RUN_TAG] for r in runs) == sorted(cs.load(tmp_path / "st").runs.index)
    code, _, err = run_cli(["sweep", "run", str(spec), str(tmp_path / "s2"), "--track-uri",
                            uri], capsys)
    assert code == 2 and "--track-uri applies only with --track" in err
    assert not (tmp_path / "s2").exists()
