"""The explorer: one self-contained interactive HTML page of a store's runs (Plotly).

The page needs no server and no network: plotly.js is inlined and the data sit in the page as
JSON. This module gathers the data; the page's HTML and its script are the package's
``templates/explorer.html`` and ``templates/explorer.js``. For the run chosen in a run picker
it shows

- the signals S_k over training on a log step axis (x = step + 1, so that the initial state
  shows), survivors coloured and the rest grey, hover giving k, Δ and the value;
- the embedding at any stored step (a slider over the stored embedding steps) on the plane of
  any frequency k (a list), tokens labelled and joined in the order 0, Δ, 2Δ, ... round the
  circle; the plane is that of the final embedding's F[k] (so a circle is seen forming or
  collapsing, as in the paper's experiment 1) or of the shown step's own F[k]; and the same
  step on the first two PCA planes (``fourier.pca_planes``);
- the train and test loss, and, for runs with parameter snapshots, the collaboration losses
  (``analysis.collaboration``) of one chosen family;

and across the store's runs the survival rate of each frequency, the circles per run and the
initial signal of each (run, k) against whether it survived.

Size. plotly.js is about 4.8 MB. Signals and losses are thinned to at most ``max_points``
log-spaced records per run. Embedding coordinates are stored as 16-bit integers (each plane
scaled by its largest coordinate, so the error is below 1/32767 of the plot's range), base64
encoded: about 2 x K x T_e x p x 2 values per run for the two kinds of plane. Only the first
``max_embedding_runs`` runs (the chosen run first) carry embeddings; the others show a note.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import fourier
from ..fourier import CircleRule, circle_rule
from ..store import Store

MAX_POINTS = 400
MAX_EMBEDDING_RUNS = 8
PCA_PLANES = 2
#: the page (``%TITLE%``, ``%PLOTLY%``, ``%DATA%`` and ``%SCRIPT%`` filled in by
#: :func:`render_page`) and its script, in the package's ``templates/``
PAGE_TEMPLATE = "explorer.html"
SCRIPT_TEMPLATE = "explorer.js"


def _template(name: str) -> str:
    """The text of ``templates/<name>``."""
    return (resources.files("circle_survival") / "templates" / name).read_text(encoding="utf-8")


def _b64_int16(coords: np.ndarray) -> tuple[str, float]:
    """Coordinates (..., 2) as base64 little-endian int16 and the scale that undoes it."""
    c = np.nan_to_num(np.asarray(coords, dtype=float))
    big = float(np.abs(c).max()) or 1.0
    q = np.round(c / big * 32767).astype("<i2")
    return base64.b64encode(q.tobytes()).decode(), big / 32767


def thin_indices(steps: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most about ``max_points`` records spread evenly on a log step axis
    (the first and last always kept)."""
    steps = np.asarray(steps)
    if len(steps) <= max_points:
        return np.arange(len(steps))
    grid = np.geomspace(1, steps[-1] + 1, max_points) - 1
    idx = np.unique(np.searchsorted(steps, grid).clip(0, len(steps) - 1))
    return np.unique(np.concatenate([[0], idx, [len(steps) - 1]]))


def final_planes(embeddings: np.ndarray, final: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Coordinates of every stored embedding on the planes of the final embedding's F[k].

    embeddings: (T, p, d); final: (p, d). Returns (K, T, p, 2): the projections on
    Re F[k]/||Re F[k]|| and Im F[k]/||Im F[k]|| of the final spectrum (the convention of
    ``fourier.fft_plane``, with the plane taken from another embedding).
    """
    f = fourier.spectrum(final)[list(ks)]  # (K, d)
    u = np.stack([f.real, f.imag], axis=-1)  # (K, d, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.nan_to_num(u / np.linalg.norm(u, axis=-2, keepdims=True))
    return np.einsum("tpd,kdc->ktpc", embeddings, u)


def own_planes(embeddings: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """(T, p, d) -> (K, T, p, 2): each embedding on the plane of its own F[k]
    (``fourier.fft_plane``)."""
    return np.stack([np.nan_to_num(fourier.fft_plane(embeddings, k)) for k in ks])


def _round(a: np.ndarray, digits: int = 5) -> list:
    """Values rounded to ``digits`` significant digits, as nested lists (NaN -> None)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(a != 0, np.floor(np.log10(np.abs(a))), 0)
    scale = 10.0 ** (digits - 1 - np.nan_to_num(mag))
    r = np.round(a * scale) / scale
    return np.where(np.isfinite(r), r, None).tolist()


def _embedding_data(store: Store, rid: str, ks: np.ndarray) -> dict[str, Any]:
    embs = store.embeddings(rid)
    steps = sorted(embs)
    e = np.stack([embs[s] for s in steps])  # (T, p, d)
    fin, fin_scale = _b64_int16(final_planes(e, e[-1], ks))
    own = own_planes(e, ks)
    own_scales, own_data = [], []
    for plane in own:  # scaled per frequency: a dying circle stays visible on its own plane
        b, s = _b64_int16(plane)
        own_data.append(b)
        own_scales.append(s)
    n_pca = min(PCA_PLANES, min(e.shape[1:]) // 2)
    pca, pca_scale = _b64_int16(np.moveaxis(fourier.pca_planes(e, n_pca), 1, 0))
    return {"steps": steps, "final": fin, "final_scale": fin_scale, "own": own_data,
            "own_scale": own_scales, "pca": pca, "pca_scale": pca_scale, "n_pca": n_pca}


def _collaboration_data(store: Store, rid: str, final_signal: np.ndarray) -> dict | None:
    steps = store.snapshot_steps(rid)
    p = int(store.runs.loc[rid, "p"])
    if len(steps) < 1 or (p - 1) // 2 < 3:
        return None
    from ..analysis.collaboration import collaboration_losses

    snaps = {s: store.snapshot(rid, s) for s in steps}
    res = collaboration_losses(snaps, str(store.runs.loc[rid, "activation"]),
                               final_signal=final_signal)
    out: dict[str, Any] = {"steps": [int(s) for s in res.steps], "modes": {},
                           "strongest": res.strongest}
    for mode, g in res.losses.groupby("mode", sort=False):
        out["modes"][mode] = {int(k): _round(gk.sort_values("step")["loss"].to_numpy())
                              for k, gk in g.groupby("k")}
    return out


def run_data(store: Store, rid: str, *, embeddings: bool, collaboration: bool = True,
             max_points: int = MAX_POINTS, rule: CircleRule | str = "2x-mean"
             ) -> dict[str, Any]:
    """Everything the page shows of one run, JSON-ready (its circles by ``rule``)."""
    row, rule = store.runs.loc[rid], circle_rule(rule)
    p = int(row["p"])
    ks = np.arange(1, fourier.n_freq(p) + 1)
    steps, sig = store.signals(rid)
    keep = thin_indices(steps, max_points)
    met = store.metrics(rid)
    mkeep = thin_indices(met["step"].to_numpy(), max_points)
    met = met.iloc[mkeep]
    out: dict[str, Any] = {
        "id": rid, "p": p, "d": int(row["d"]), "steps": int(row["steps"]),
        "seeds": [int(row["embedding_seed"]), int(row["mlp_seed"]), int(row["split_seed"])],
        "circles": ([int(c) for c in row["circles"]] if rule.is_authors else
                    [int(c) for c in rule.circles(sig[-1], p, sig[0])]),
        "test_loss": float(row["test_loss"]), "test_acc": float(row["test_acc"]), "ks": ks.tolist(),
        "deltas": [int(fourier.delta(k, p, strict=False) or 0) for k in ks],
        "signal_steps": steps[keep].tolist(), "signals": _round(sig[keep][:, ks].T),
        "metric_steps": met["step"].tolist(), "train_loss": _round(met["train_loss"]),
        "test_loss_curve": _round(met["test_loss"]), "embedding": None, "collaboration": None,
    }
    if embeddings:
        out["embedding"] = _embedding_data(store, rid, ks)
        if collaboration:
            out["collaboration"] = _collaboration_data(store, rid, sig[-1])
    return out


def store_data(store: Store, rule: CircleRule | str = "2x-mean") -> dict[str, Any]:
    """The across-runs panels: survival rate by (p, k), circles per run, and initial signal
    against survival for every (run, k) (``analysis.survival``), all by ``rule``."""
    from ..analysis.survival import analyze

    res = analyze(store, group_by=["p"], rule=rule)
    f = res.frequencies
    return {
        "rates": {"p": res.rates["p"].tolist(), "k": res.rates["k"].tolist(),
                  "rate": _round(res.rates["rate"]), "n_runs": res.rates["n_runs"].tolist()},
        "circles": {"run_id": res.circles["run_id"].tolist(),
                    "n_circles": res.circles["n_circles"].tolist()},
        "freq": {"run_id": f["run_id"].tolist(), "k": f["k"].tolist(),
                 "initial_signal": _round(f["initial_signal"]),
                 "survived": f["survived"].astype(bool).tolist()},
        "correlation": {"r": _round(res.correlation.r), "p_value": _round(
            res.correlation.p_value), "n_points": res.correlation.n_points},
    }


def explorer_data(store: Store, run_id: str | None = None, *,
                  max_embedding_runs: int = MAX_EMBEDDING_RUNS, collaboration: bool = True,
                  max_points: int = MAX_POINTS, rule: CircleRule | str = "2x-mean"
                  ) -> dict[str, Any]:
    """The page's data: every run (the chosen one first; the first ``max_embedding_runs``
    with their embeddings) and the across-runs panels, circles counted by ``rule``."""
    rule = circle_rule(rule)
    ids = list(store.require_runs().runs.sort_values(["p", "d", "embedding_seed", "mlp_seed",
                                       "split_seed"]).index)
    if run_id is not None:
        store.run_ids([run_id])
        ids.remove(run_id)
        ids.insert(0, run_id)
    runs = [run_data(store, rid, embeddings=i < max_embedding_runs,
                     collaboration=collaboration, max_points=max_points, rule=rule)
            for i, rid in enumerate(ids)]
    return {"store": str(store.path), "runs": runs, "summary": store_data(store, rule),
            "max_embedding_runs": max_embedding_runs, "circle_rule": str(rule),
            "circle_rule_text": rule.describe()}


def render_page(data: dict[str, Any], title: str = "circle-survival explorer") -> str:
    """The HTML page for :func:`explorer_data`'s output (plotly.js inlined)."""
    from plotly.offline import get_plotlyjs

    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (_template(PAGE_TEMPLATE).replace("%TITLE%", html.escape(title))
            .replace("%PLOTLY%", get_plotlyjs())
            .replace("%DATA%", payload)
            .replace("%SCRIPT%", _template(SCRIPT_TEMPLATE)))


def write_explorer(store: Store, out: str | Path, run_id: str | None = None, **kwargs) -> Path:
    """Write the page for ``store`` to ``out`` (written whole or not at all); returns it."""
    page = render_page(explorer_data(store, run_id, **kwargs),
                       f"circle-survival explorer: {Path(store.path).name}")
    from ..store.layout import safe_path

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out = safe_path(out.parent, out.name)  # never written through a link
    tmp = safe_path(out.parent, out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out

