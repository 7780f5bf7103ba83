
const DATA = JSON.parse(document.getElementById('data').textContent);
const $ = id => document.getElementById(id);
const PALETTE = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2',
                 '#17becf','#bcbd22','#7f7f7f'];
// the toolbar shows on hover only, in the top margin kept free above each title
const CFG = {displaylogo: false, responsive: false, displayModeBar: 'hover'};

// every plot: its title at the top of its margin, below the toolbar's strip
function draw(id, traces, layout) {
  layout.title = Object.assign({y: 1, yref: 'container', yanchor: 'top', pad: {t: 32}},
                               layout.title || {});
  return Plotly.react(id, traces, layout, CFG);
}
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
  draw('signals', traces, {title: {text: 'signals S_k'}, xaxis: {type: 'log',
    title: {text: 'step + 1'}}, yaxis: {title: {text: 'S_k'}}, margin: {t: 70}});
}

function drawLoss() {
  const r = RUN;
  draw('loss', [
    {x: plus1(r.metric_steps), y: r.train_loss, name: 'train', mode: 'lines'},
    {x: plus1(r.metric_steps), y: r.test_loss_curve, name: 'test', mode: 'lines'}],
    {title: {text: 'loss'}, xaxis: {type: 'log', title: {text: 'step + 1'}},
     yaxis: {type: 'log', title: {text: 'cross-entropy'}}, margin: {t: 70}});
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
  const empty = (id, msg) => draw(id, [], {title: {text: msg}, margin: {t: 70}});
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
  draw('emb', [
    {x: ord.map(j => x[j]), y: ord.map(j => y[j]), mode: 'lines', hoverinfo: 'skip',
     line: {color: colour(RUN, k), width: 1}, showlegend: false},
    {x: x, y: y, mode: 'markers+text', text: tokens, textposition: 'top center',
     textfont: {size: 9}, marker: {color: colour(RUN, k), size: 6}, showlegend: false,
     hovertemplate: 'token %{text}<br>(%{x:.3g}, %{y:.3g})<extra></extra>'}],
    {title: {text: `k=${k}, Δ=${delta}, step ${e.steps[t]}`},
     xaxis: {range: rg, title: {text: 'Re F[k]'}},
     yaxis: {range: rg, title: {text: 'Im F[k]'}, scaleanchor: 'x'}, margin: {t: 70}});
  for (let q = 0; q < 2; q++) {
    const id = 'pca' + (q + 1);
    if (q >= e.n_pca) { empty(id, 'no such PCA plane'); continue; }
    const [px, py] = coords(q, 0, t);
    draw(id, [{x: px, y: py, mode: 'markers+text', text: tokens,
      textposition: 'top center', textfont: {size: 9}, marker: {size: 6, color: '#444'},
      hovertemplate: 'token %{text}<extra></extra>'}],
      {title: {text: `PCA plane ${2 * q + 1}-${2 * q + 2}, step ${e.steps[t]}`},
       xaxis: {title: {text: `pc${2 * q + 1}`}},
       yaxis: {title: {text: `pc${2 * q + 2}`}, scaleanchor: 'x'},
       margin: {t: 70}});
  }
}

function drawCollab() {
  const c = RUN.collaboration, sel = $('mode');
  if (!c) {
    $('collabnote').textContent = 'No parameter snapshots in this page for this run.';
    sel.innerHTML = '';
    draw('collab', [], {title: {text: 'no snapshots'}, margin: {t: 70}});
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
  draw('collab', traces, {title: {text: `collaboration: ${mode}`}, xaxis: {type: 'log',
    title: {text: 'step + 1'}}, yaxis: {type: 'log', title: {text: 'loss'}}, margin: {t: 70}});
}

function drawStore() {
  const s = DATA.summary, ps = [...new Set(s.rates.p)];
  draw('rates', ps.map(p => {
    const idx = s.rates.p.map((q, i) => q === p ? i : -1).filter(i => i >= 0);
    return {x: idx.map(i => s.rates.k[i]), y: idx.map(i => s.rates.rate[i]), type: 'bar',
            name: `p=${p}`, customdata: idx.map(i => s.rates.n_runs[i]),
            hovertemplate: 'k=%{x}<br>rate %{y:.2f} of %{customdata} runs<extra></extra>'};
  }), {title: {text: `survival rate by frequency (${DATA.circle_rule})`}, xaxis: {title: {text: 'k'}},
       yaxis: {title: {text: 'survival rate'}, range: [0, 1]}, margin: {t: 70}});
  const cur = s.circles.run_id.indexOf(RUN.id);
  draw('ncircles', [{x: s.circles.n_circles, type: 'histogram', name: 'runs'},
    {x: [s.circles.n_circles[cur]], y: [0], mode: 'markers', name: 'this run',
     marker: {size: 14, color: '#d62728', symbol: 'triangle-up'}}],
    {title: {text: `circles per run (${DATA.circle_rule})`}, xaxis: {title: {text: 'circles'}, dtick: 1},
     yaxis: {title: {text: 'runs'}}, margin: {t: 70}});
  const f = s.freq, jit = f.k.map((k, i) => ((i * 7919) % 97) / 97 * 0.3 - 0.15);
  const mine = f.run_id.map(r => r === RUN.id);
  draw('initial', [false, true].map(own => {
    const idx = f.k.map((_, i) => i).filter(i => mine[i] === own);
    return {x: idx.map(i => f.initial_signal[i]), y: idx.map(i => (f.survived[i] ? 1 : 0) + jit[i]),
            mode: 'markers', name: own ? 'this run' : 'other runs',
            marker: {size: own ? 8 : 5, color: own ? '#d62728' : '#1f77b4', opacity: own ? 1 : 0.4},
            customdata: idx.map(i => f.k[i]),
            hovertemplate: 'k=%{customdata}<br>S_k(0)=%{x:.4g}<extra></extra>'};
  }), {title: {text: `initial signal against survival (r = ${s.correlation.r === null ? 'n/a' :
       s.correlation.r.toFixed(3)} over rates)`}, xaxis: {title: {text: 'initial S_k'}},
       yaxis: {title: {text: 'survived'}, tickvals: [0, 1], ticktext: ['died', 'survived']},
       margin: {t: 70}});
}

function selectRun() {
  RUN = DATA.runs.find(r => r.id === $('run').value) || DATA.runs[0];
  $('runinfo').textContent = `p=${RUN.p}, d=${RUN.d}, ${RUN.steps} steps, seeds ` +
    `(embedding, MLP, split) = (${RUN.seeds.join(', ')}); ` +
    `test loss ${RUN.test_loss.toPrecision(3)}, ` +
    `accuracy ${RUN.test_acc.toFixed(3)}; circles: ${RUN.circles.join(', ') || 'none'} ` +
    `(${DATA.circle_rule_text})`;
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
