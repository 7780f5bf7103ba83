"""The explorer: one self-contained interactive HTML page of a store's runs (Plotly).

The page needs no server and no network: plotly.js is inlined and the data sit in the page as
JSON. For the run chosen in a run picker it shows

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
from pathlib import Path
from typing import Any

import numpy as np

from .. import fourier
from ..store import Store

MAX_POINTS = 400
MAX_EMBEDDING_RUNS = 8
PCA_PLANES = 2


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
             max_points: int = MAX_POINTS) -> dict[str, Any]:
    """Everything the page shows of one run, JSON-ready."""
    row = store.runs.loc[rid]
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
        "circles": [int(c) for c in row["circles"]], "test_loss": float(row["test_loss"]),
        "test_acc": float(row["test_acc"]), "ks": ks.tolist(),
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


def store_data(store: Store) -> dict[str, Any]:
    """The across-runs panels: survival rate by (p, k), circles per run, and initial signal
    against survival for every (run, k) (``analysis.survival``)."""
    from ..analysis.survival import analyze

    res = analyze(store, group_by=["p"])
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
                  max_points: int = MAX_POINTS) -> dict[str, Any]:
    """The page's data: every run (the chosen one first; the first ``max_embedding_runs``
    with their embeddings) and the across-runs panels."""
    ids = list(store.require_runs().runs.sort_values(["p", "d", "embedding_seed", "mlp_seed",
                                       "split_seed"]).index)
    if run_id is not None:
        store.run_ids([run_id])
        ids.remove(run_id)
        ids.insert(0, run_id)
    runs = [run_data(store, rid, embeddings=i < max_embedding_runs,
                     collaboration=collaboration, max_points=max_points)
            for i, rid in enumerate(ids)]
    return {"store": str(store.path), "runs": runs, "summary": store_data(store),
            "max_embedding_runs": max_embedding_runs}


def render_page(data: dict[str, Any], title: str = "circle-survival explorer") -> str:
    """The HTML page for :func:`explorer_data`'s output (plotly.js inlined)."""
    from plotly.offline import get_plotlyjs

    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (PAGE.replace("%TITLE%", html.escape(title))
            .replace("%PLOTLY%", get_plotlyjs())
            .replace("%DATA%", payload)
            .replace("%SCRIPT%", SCRIPT))


def write_explorer(store: Store, out: str | Path, run_id: str | None = None, **kwargs) -> Path:
    """Write the page for ``store`` to ``out`` (written whole or not at all); returns it."""
    page = render_page(explorer_data(store, run_id, **kwargs),
                       f"circle-survival explorer: {Path(store.path).name}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out


PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222}
.controls{display:flex;flex-wrap:wrap;gap:1.2em;align-items:center;margin:.6em 0}
.row{display:flex;flex-wrap:wrap}.plot{width:560px;height:420px}
.wide{width:1120px;height:420px}h2{font-size:1.15em;border-bottom:1px solid #ccc}
.note{color:#666;font-size:.9em}
</style><script>%PLOTLY%</script></head><body>
<h1>%TITLE%</h1>
<div class="controls">
<label>run <select id="run"></select></label>
<span id="runinfo" class="note"></span></div>
<h2>Signals and losses</h2>
<div class="row"><div id="signals" class="plot"></div><div id="loss" class="plot"></div></div>
<h2>Embedding</h2>
<div class="controls">
<label>frequency <select id="freq"></select></label>
<label>plane of <select id="plane"><option value="final">the final embedding's F[k]</option>
<option value="own">this step's F[k]</option></select></label>
<label>step <input type="range" id="step" min="0" max="0" value="0" style="width:320px">
</label><span id="steplabel"></span></div>
<p id="embnote" class="note"></p>
<div class="row"><div id="emb" class="plot"></div><div id="pca1" class="plot"></div>
<div id="pca2" class="plot"></div></div>
<h2>Collaboration losses</h2>
<div class="controls"><label>family <select id="mode"></select></label></div>
<p id="collabnote" class="note"></p><div id="collab" class="wide"></div>
<h2>Across the store's runs</h2>
<div class="row"><div id="rates" class="plot"></div><div id="ncircles" class="plot"></div>
<div id="initial" class="plot"></div></div>
<script id="data" type="application/json">%DATA%</script>
<script>%SCRIPT%</script></body></html>
"""

SCRIPT = r"""
const DATA = JSON.parse(document.getElementById('data').textContent);
const $ = id => document.getElementById(id);
const PALETTE = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2',
                 '#17becf','#bcbd22','#7f7f7f'];
const CFG = {displaylogo: false, responsive: false};
let RUN = DATA.runs[0];

function decode(b64, scale) {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return Array.from(new Int16Array(bytes.buffer), v => v * scale);
}
function colour(run, k) {
  const i = run.circles.indexOf(k);
  return i >= 0 ? PALETTE[i % PALETTE.length] : '#bbbbbb';
}
function plus1(a) { return a.map(s => s + 1); }

function drawSignals() {
  const r = RUN, traces = [];
  const order = r.ks.map((k, i) => i).sort((a, b) =>
      (r.circles.includes(r.ks[a]) ? 1 : 0) - (r.circles.includes(r.ks[b]) ? 1 : 0));
  for (const i of order) {
    const k = r.ks[i], alive = r.circles.includes(k);
    traces.push({x: plus1(r.signal_steps), y: r.signals[i], mode: 'lines',
      name: `k=${k}` + (alive ? ' (survives)' : ''), showlegend: alive,
      line: {color: colour(r, k), width: alive ? 2.2 : 1},
      hovertemplate: `k=${k}, Δ=${r.deltas[i]}<br>step %{customdata}<br>S=%{y:.4g}` +
                     '<extra></extra>', customdata: r.signal_steps});
  }
  Plotly.react('signals', traces, {title: {text: 'signals S_k'}, xaxis: {type: 'log',
    title: {text: 'step + 1'}}, yaxis: {title: {text: 'S_k'}}, margin: {t: 40}}, CFG);
}

function drawLoss() {
  const r = RUN;
  Plotly.react('loss', [
    {x: plus1(r.metric_steps), y: r.train_loss, name: 'train', mode: 'lines'},
    {x: plus1(r.metric_steps), y: r.test_loss_curve, name: 'test', mode: 'lines'}],
    {title: {text: 'loss'}, xaxis: {type: 'log', title: {text: 'step + 1'}},
     yaxis: {type: 'log', title: {text: 'cross-entropy'}}, margin: {t: 40}}, CFG);
}

function fillFreq() {
  const sel = $('freq'), old = +sel.value;
  sel.innerHTML = '';
  RUN.ks.forEach((k, i) => {
    const o = document.createElement('option');
    o.value = k;
    o.textContent = `k=${k}, Δ=${RUN.deltas[i]}` + (RUN.circles.includes(k) ? ' (survives)' : '');
    sel.appendChild(o);
  });
  sel.value = RUN.ks.includes(old) ? old : (RUN.circles[0] || RUN.ks[0]);
}

function coords(kind, ki, t) {
  // flat int16 arrays: final (K, T, p, 2); own[k] (T, p, 2); pca (n_pca, T, p, 2)
  const e = RUN.embedding, p = RUN.p, T = e.steps.length;
  let flat, off;
  if (kind === 'final') {
    e._final = e._final || decode(e.final, e.final_scale);
    flat = e._final; off = ((ki * T) + t) * p * 2;
  } else if (kind === 'own') {
    e._own = e._own || {};
    e._own[ki] = e._own[ki] || decode(e.own[ki], e.own_scale[ki]);
    flat = e._own[ki]; off = t * p * 2;
  } else {
    e._pca = e._pca || decode(e.pca, e.pca_scale);
    flat = e._pca; off = ((kind * T) + t) * p * 2;
  }
  const x = [], y = [];
  for (let j = 0; j < p; j++) { x.push(flat[off + 2 * j]); y.push(flat[off + 2 * j + 1]); }
  return [x, y];
}

function range(kind, ki) {
  const e = RUN.embedding, T = e.steps.length;
  let m = 0;
  for (let t = 0; t < T; t++) {
    for (const v of coords(kind, ki, t).flat()) m = Math.max(m, Math.abs(v));
  }
  m = m * 1.1 || 1;
  return [-m, m];
}

function drawEmbedding() {
  const e = RUN.embedding;
  const empty = (id, msg) => Plotly.react(id, [], {title: {text: msg}, margin: {t: 40}}, CFG);
  if (!e) {
    $('embnote').textContent = `No embeddings in this page for this run (the page carries ` +
      `them for the first ${DATA.max_embedding_runs} runs).`;
    $('step').max = 0; $('steplabel').textContent = '';
    ['emb', 'pca1', 'pca2'].forEach(id => empty(id, 'no embedding'));
    return;
  }
  $('embnote').textContent = `${e.steps.length} stored embedding steps; tokens joined in ` +
    `the order 0, Δ, 2Δ, ... round the circle.`;
  const t = Math.min(+$('step').value, e.steps.length - 1);
  $('steplabel').textContent = `step ${e.steps[t]}`;
  const k = +$('freq').value, ki = RUN.ks.indexOf(k), delta = RUN.deltas[ki], p = RUN.p;
  const kind = $('plane').value;
  const [x, y] = coords(kind, ki, t), tokens = x.map((_, j) => j);
  const ord = [];
  for (let j = 0; j <= p; j++) ord.push((j * delta) % p);
  const rg = range(kind, ki);
  Plotly.react('emb', [
    {x: ord.map(j => x[j]), y: ord.map(j => y[j]), mode: 'lines', hoverinfo: 'skip',
     line: {color: colour(RUN, k), width: 1}, showlegend: false},
    {x: x, y: y, mode: 'markers+text', text: tokens, textposition: 'top center',
     textfont: {size: 9}, marker: {color: colour(RUN, k), size: 6}, showlegend: false,
     hovertemplate: 'token %{text}<br>(%{x:.3g}, %{y:.3g})<extra></extra>'}],
    {title: {text: `k=${k}, Δ=${delta}, step ${e.steps[t]}`},
     xaxis: {range: rg, title: {text: 'Re F[k]'}},
     yaxis: {range: rg, title: {text: 'Im F[k]'}, scaleanchor: 'x'}, margin: {t: 40}}, CFG);
  for (let q = 0; q < 2; q++) {
    const id = 'pca' + (q + 1);
    if (q >= e.n_pca) { empty(id, 'no such PCA plane'); continue; }
    const [px, py] = coords(q, 0, t);
    Plotly.react(id, [{x: px, y: py, mode: 'markers+text', text: tokens,
      textposition: 'top center', textfont: {size: 9}, marker: {size: 6, color: '#444'},
      hovertemplate: 'token %{text}<extra></extra>'}],
      {title: {text: `PCA plane ${2 * q + 1}-${2 * q + 2}, step ${e.steps[t]}`},
       xaxis: {title: {text: `pc${2 * q + 1}`}},
       yaxis: {title: {text: `pc${2 * q + 2}`}, scaleanchor: 'x'},
       margin: {t: 40}}, CFG);
  }
}

function drawCollab() {
  const c = RUN.collaboration, sel = $('mode');
  if (!c) {
    $('collabnote').textContent = 'No parameter snapshots in this page for this run.';
    sel.innerHTML = '';
    Plotly.react('collab', [], {title: {text: 'no snapshots'}, margin: {t: 40}}, CFG);
    return;
  }
  const modes = Object.keys(c.modes);
  if (sel.options.length !== modes.length) {
    sel.innerHTML = modes.map(m => `<option value="${m}">${m}</option>`).join('');
  }
  const mode = modes.includes(sel.value) ? sel.value : modes[0];
  $('collabnote').textContent = `Loss on all pairs with the embedding restricted at each ` +
    `snapshot (strongest final circles: ${c.strongest.join(', ')}).`;
  const traces = Object.entries(c.modes[mode]).map(([k, loss]) => ({
    x: plus1(c.steps), y: loss, mode: 'lines+markers', name: `k=${k}`,
    line: {color: colour(RUN, +k)}, showlegend: RUN.circles.includes(+k),
    hovertemplate: `k=${k}<br>step %{customdata}<br>loss %{y:.4g}<extra></extra>`,
    customdata: c.steps}));
  Plotly.react('collab', traces, {title: {text: `collaboration: ${mode}`}, xaxis: {type: 'log',
    title: {text: 'step + 1'}}, yaxis: {type: 'log', title: {text: 'loss'}}, margin: {t: 40}}, CFG);
}

function drawStore() {
  const s = DATA.summary, ps = [...new Set(s.rates.p)];
  Plotly.react('rates', ps.map(p => {
    const idx = s.rates.p.map((q, i) => q === p ? i : -1).filter(i => i >= 0);
    return {x: idx.map(i => s.rates.k[i]), y: idx.map(i => s.rates.rate[i]), type: 'bar',
            name: `p=${p}`, customdata: idx.map(i => s.rates.n_runs[i]),
            hovertemplate: 'k=%{x}<br>rate %{y:.2f} of %{customdata} runs<extra></extra>'};
  }), {title: {text: 'survival rate by frequency'}, xaxis: {title: {text: 'k'}},
       yaxis: {title: {text: 'survival rate'}, range: [0, 1]}, margin: {t: 40}}, CFG);
  const cur = s.circles.run_id.indexOf(RUN.id);
  Plotly.react('ncircles', [{x: s.circles.n_circles, type: 'histogram', name: 'runs'},
    {x: [s.circles.n_circles[cur]], y: [0], mode: 'markers', name: 'this run',
     marker: {size: 14, color: '#d62728', symbol: 'triangle-up'}}],
    {title: {text: 'circles per run'}, xaxis: {title: {text: 'circles'}, dtick: 1},
     yaxis: {title: {text: 'runs'}}, margin: {t: 40}}, CFG);
  const f = s.freq, jit = f.k.map((k, i) => ((i * 7919) % 97) / 97 * 0.3 - 0.15);
  const mine = f.run_id.map(r => r === RUN.id);
  Plotly.react('initial', [false, true].map(own => {
    const idx = f.k.map((_, i) => i).filter(i => mine[i] === own);
    return {x: idx.map(i => f.initial_signal[i]), y: idx.map(i => (f.survived[i] ? 1 : 0) + jit[i]),
            mode: 'markers', name: own ? 'this run' : 'other runs',
            marker: {size: own ? 8 : 5, color: own ? '#d62728' : '#1f77b4', opacity: own ? 1 : 0.4},
            customdata: idx.map(i => f.k[i]),
            hovertemplate: 'k=%{customdata}<br>S_k(0)=%{x:.4g}<extra></extra>'};
  }), {title: {text: `initial signal against survival (r = ${s.correlation.r === null ? 'n/a' :
       s.correlation.r.toFixed(3)} over rates)`}, xaxis: {title: {text: 'initial S_k'}},
       yaxis: {title: {text: 'survived'}, tickvals: [0, 1], ticktext: ['died', 'survived']},
       margin: {t: 40}}, CFG);
}

function selectRun() {
  RUN = DATA.runs.find(r => r.id === $('run').value) || DATA.runs[0];
  $('runinfo').textContent = `p=${RUN.p}, d=${RUN.d}, ${RUN.steps} steps, seeds ` +
    `(embedding, MLP, split) = (${RUN.seeds.join(', ')}); ` +
    `test loss ${RUN.test_loss.toPrecision(3)}, ` +
    `accuracy ${RUN.test_acc.toFixed(3)}; circles: ${RUN.circles.join(', ') || 'none'}`;
  fillFreq();
  if (RUN.embedding) {
    $('step').max = RUN.embedding.steps.length - 1;
    if (+$('step').value > +$('step').max) $('step').value = $('step').max;
  }
  drawSignals(); drawLoss(); drawEmbedding(); drawCollab(); drawStore();
}

DATA.runs.forEach(r => {
  const o = document.createElement('option');
  o.value = r.id;
  o.textContent = `${r.id} (${r.circles.length} circles)` + (r.embedding ? '' : ' [no embeddings]');
  $('run').appendChild(o);
});
$('run').addEventListener('change', selectRun);
$('freq').addEventListener('change', drawEmbedding);
$('plane').addEventListener('change', drawEmbedding);
$('step').addEventListener('input', drawEmbedding);
$('mode').addEventListener('change', drawCollab);
selectRun();
if (RUN.embedding) { $('step').value = RUN.embedding.steps.length - 1; drawEmbedding(); }
"""
