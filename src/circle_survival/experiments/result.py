"""What an experiment's analysis gives: the paper's claims next to what the runs show
(:class:`Claim`), the numbers and figures (:class:`ExperimentResult`), and their files.

Results are written by :func:`write_result` as ``OUT/result.json`` (with its provenance) plus
one PNG and one SVG (and on request a PDF) per figure; the report
(:mod:`circle_survival.report.page`) reads those files back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..plain import json_ready
from ..report.wording import runs_text
from ..store.layout import RESULT_FILE


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and what these runs show.

    paper: what the paper states. observed: what these runs show. holds: True / False as
    judged at this scale, None when the runs cannot decide it. criterion: how this tool
    decides (the test and its threshold), shown in its own column of the report.
    """

    paper: str
    observed: str
    holds: bool | None
    criterion: str = ""


@dataclass
class ExperimentResult:
    """The outcome of an experiment's analysis on a store.

    numbers: JSON-ready numbers behind the figures (run counts, correlations, p-values, ...).
    figures: name -> matplotlib Figure.
    deviations: how this scale departs from the paper (fewer steps, fewer runs, ...).
    """

    name: str
    number: int
    title: str
    scale: str
    n_runs: int
    numbers: dict[str, Any]
    figures: dict[str, Figure]
    claims: list[Claim]
    deviations: list[str] = field(default_factory=list)


def scale_note(result: ExperimentResult) -> str:
    """A one-line note for figure titles: scale, runs, deviations."""
    note = f"{result.scale} scale, {runs_text(result.n_runs)}"
    if result.deviations:
        note += "; " + "; ".join(result.deviations)
    return note


def _not_finite(v: Any, path: str = "") -> dict[str, str]:
    """Where ``v`` (nested numbers) holds NaN or an infinity: dotted key path -> "nan", "inf"
    or "-inf" (list items as ``key.3``); ``result.json`` stores them as null."""
    if isinstance(v, Mapping):
        items = ((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
    elif isinstance(v, list | tuple | np.ndarray):
        items = ((f"{path}.{i}", x) for i, x in enumerate(v))
    else:
        x = v.item() if isinstance(v, np.generic) else v
        return {path: str(x)} if isinstance(x, float) and not math.isfinite(x) else {}
    out: dict[str, str] = {}
    for key, x in items:
        out.update(_not_finite(x, key))
    return out


def write_result(result: ExperimentResult, out: str | Path, *, runs: Any = None,
                 formats: tuple[str, ...] = ("png", "svg")) -> Path:
    """Write figures (in ``formats``: png, svg, pdf) and ``result.json`` into ``out``; return
    the JSON path. ``runs`` is the runs table the result was computed from; its device and
    dtype go into the provenance record (:func:`circle_survival.report.provenance.provenance`)."""
    from ..figures.io import save_figure
    from ..report.provenance import provenance
    from ..store.layout import safe_path

    out = Path(out)
    for name in [RESULT_FILE, f"{RESULT_FILE}.part"] + [
            f"{n}.{f}" for n in result.figures for f in formats]:
        safe_path(out, name)  # every file written: a plain name, never through a link
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    for name, fig in result.figures.items():
        paths = save_figure(fig, safe_path(out, name), formats)
        figures[name] = [p.name for p in paths]
    doc = {
        "name": result.name,
        "number": result.number,
        "title": result.title,
        "scale": result.scale,
        "n_runs": result.n_runs,
        "numbers": json_ready(result.numbers),
        "claims": [asdict(c) for c in result.claims],
        "deviations": list(result.deviations),
        "figures": figures,
        "not_finite": _not_finite(result.numbers),
        "provenance": provenance(runs),
    }
    path = safe_path(out, RESULT_FILE)
    tmp = safe_path(out, f"{RESULT_FILE}.part")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False))
    tmp.replace(path)
    return path
