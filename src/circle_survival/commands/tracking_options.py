"""Run tracking on the commands that train (``train``, ``sweep run``, ``reproduce``):
``--track mlflow`` logs the sweep's runs to MLflow once they are in the store
(:func:`circle_survival.report.tracking.track_runs`; the store stays the source of truth)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import Opt

TrackOpt = Annotated[str | None, Opt(help="Log the runs to a tracker once trained: mlflow "
                                          "(pip install 'circle-survival[track]').")]
TrackUriOpt = Annotated[str | None, Opt(help="Tracking URI.", show_default="MLFLOW_TRACKING_URI, "
                                        "else an SQLite file beside the store: "
                                        "STORE-mlflow/mlflow.db")]


def check_track(track: str | None, uri: str | None) -> None:
    """Refuse, before anything trains, an unknown tracker, a URI without a tracker, or a
    missing extra (one line each)."""
    from ..errors import ConfigError

    if track is None:
        if uri is not None:
            raise ConfigError("--track-uri applies only with --track")
        return
    from ..report.tracking import TRACKERS, import_mlflow

    if track not in TRACKERS:
        raise ConfigError(f"--track: unknown tracker {track!r} (known: {', '.join(TRACKERS)})")
    import_mlflow()


def track_sweep(report, track: str | None, uri: str | None) -> None:
    """Log the runs of a finished sweep (a :class:`~circle_survival.sweep.SweepReport`) and
    say where they went."""
    if track is None:
        return
    from ..report.tracking import track_runs

    tracked = track_runs(report.after(), list(report.runs().index), tracker=track, uri=uri)
    typer.echo(tracked.summary())
