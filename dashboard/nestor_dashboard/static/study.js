// The study page: every plot is drawn in the browser from one column-wise fetch of the trials, then kept
// current by the server-sent events of the study (a changed trial is upserted and the plots redrawn).
"use strict";

const root = document.getElementById("study");
const studyId = root.dataset.studyId;
const api = `/api/studies/${encodeURIComponent(studyId)}`;
// SVG draws a few thousand points best; beyond that only WebGL stays fast.
const GL_FROM = Number(new URLSearchParams(location.search).get("gl") || 5000);
// Live redraws come at most this often; a big study's plots take long to draw, so it waits longer.
const REDRAW_MS = 500;
function redrawEvery() { return Math.max(REDRAW_MS, data.trials.id.length / 20); }
const CONFIG = {responsive: true, displaylogo: false};
const PAGE = 50;

let data = null;
let index = new Map();  // trial id -> position in the columns
let redrawTimer = null;
const table = {offset: 0, sort: "id", desc: false, total: 0};

function scatterType(n) { return n > GL_FROM ? "scattergl" : "scatter"; }
function objective() { return data.study.objectives[0] || {metric: "value", goal: "minimize"}; }
function minimize() { return objective().goal !== "maximize"; }

// The trials with a result for the first objective: what every plot of values shows.
function scored() {
  const t = data.trials, v = t.values[0] || [];
  const rows = [];
  for (let i = 0; i < t.id.length; i++) if (v[i] !== null && v[i] !== undefined) rows.push(i);
  return rows;
}

function pick(column, rows) { return rows.map((i) => column[i]); }

// A parameter's values as plotted: log10 for log-scaled ones (contour, parallel coordinates bin linearly).
function axisValues(p, rows) {
  const col = pick(data.trials.params[p.name], rows);
  return p.log ? col.map((x) => (x > 0 ? Math.log10(x) : null)) : col;
}
function axisTitle(p) { return p.log ? `log10(${p.name})` : p.name; }

function drawHistory() {
  const rows = scored();
  const t = data.trials, v = t.values[0];
  const byTime = document.getElementById("history-x").value === "time";
  const x = byTime ? rows.map((i) => new Date(1000 * (t.end[i] || t.start[i] || 0))) : pick(t.id, rows);
  const y = pick(v, rows);
  const order = byTime ? rows.map((_, k) => k).sort((a, b) => x[a] - x[b]) : rows.map((_, k) => k);
  // The best so far as a step line through the points where it improves (and the last): a handful of
  // vertices instead of one per trial, which a line costs far more to draw than a marker.
  const bestX = [], bestY = [];
  let b = null;
  for (const k of order) {
    if (b === null || (minimize() ? y[k] < b : y[k] > b)) {
      b = y[k];
      bestX.push(x[k]);
      bestY.push(b);
    }
  }
  if (order.length) {
    bestX.push(x[order[order.length - 1]]);
    bestY.push(b);
  }
  Plotly.react("history", [
    {type: scatterType(rows.length), mode: "markers", name: objective().metric, x, y,
     customdata: byTime ? pick(t.id, rows) : undefined,
     hovertemplate: byTime ? "trial %{customdata}: %{y}<extra></extra>" : "trial %{x}: %{y}<extra></extra>",
     marker: {size: 5, color: "#4c78a8", opacity: 0.7}},
    {type: "scatter", mode: "lines", name: "best so far", x: bestX, y: bestY, line: {color: "#e45756", shape: "hv"}},
  ], {margin: {t: 10, r: 10}, xaxis: {title: {text: byTime ? "wall time" : "trial"}},
      yaxis: {title: {text: objective().metric}}, legend: {orientation: "h"}}, CONFIG);
}

async function drawImportance() {
  // Computed by the dashboard server with nestor.importance (the same as `nestor study importance`).
  const entries = Object.entries(await (await fetch(`${api}/importance`)).json());
  const list = document.getElementById("importance-list");
  list.replaceChildren(...entries.map(([name, share]) => {
    const li = document.createElement("li");
    li.dataset.param = name;
    li.textContent = `${name}: ${(100 * share).toFixed(1)}%`;
    return li;
  }));
  Plotly.react("importance", [{type: "bar", orientation: "h", x: entries.map((e) => e[1]).reverse(),
                              y: entries.map((e) => e[0]).reverse(), marker: {color: "#72b7b2"}}],
               {margin: {t: 10, r: 10, l: 110}, xaxis: {title: {text: `share of ${objective().metric}'s variance (ranks)`}}},
               CONFIG);
}

function dimension(p, rows) {
  if (p.kind === "categorical") {
    const choices = p.choices.map(String);
    return {label: p.name, values: pick(data.trials.params[p.name], rows).map((x) => choices.indexOf(String(x))),
            tickvals: choices.map((_, i) => i), ticktext: choices};
  }
  return {label: axisTitle(p), values: axisValues(p, rows)};
}

// Parallel coordinates is WebGL only and draws every line each frame; past this many it would hold the page
// for minutes where WebGL runs in software, so it shows the best this many.
const PARCOORDS_MAX = 10000;

function drawParallel() {
  let rows = scored();
  const note = document.getElementById("parallel-note");
  if (rows.length > PARCOORDS_MAX) {
    const v = data.trials.values[0], sign = minimize() ? 1 : -1;
    note.textContent = `the best ${PARCOORDS_MAX.toLocaleString()} of ${rows.length.toLocaleString()} trials`;
    rows = rows.slice().sort((a, b) => sign * (v[a] - v[b])).slice(0, PARCOORDS_MAX);
  } else {
    note.textContent = "";
  }
  const y = pick(data.trials.values[0], rows);
  const dims = data.params.map((p) => dimension(p, rows));
  dims.push({label: objective().metric, values: y});
  Plotly.react("parallel", [{type: "parcoords", dimensions: dims,
    line: {color: y, colorscale: "Viridis", reversescale: !minimize(), showscale: true}}],
  {margin: {t: 40, l: 60, r: 60, b: 20}}, CONFIG);
}

function drawSlices() {
  const rows = scored();
  const y = pick(data.trials.values[0], rows);
  const traces = [];
  const layout = {margin: {t: 10, r: 10}, showlegend: false,
                  grid: {rows: 1, columns: Math.max(1, data.params.length), pattern: "independent"}};
  data.params.forEach((p, k) => {
    const axis = k === 0 ? "" : String(k + 1);
    traces.push({type: scatterType(rows.length), mode: "markers", x: pick(data.trials.params[p.name], rows), y,
                 xaxis: `x${axis}`, yaxis: `y${axis}`, name: p.name,
                 marker: {size: 4, opacity: 0.6, color: pick(data.trials.id, rows), colorscale: "Blues"}});
    layout[`xaxis${axis}`] = {title: {text: p.name}, type: p.log ? "log" : (p.kind === "categorical" ? "category" : "-")};
    layout[`yaxis${axis}`] = {showticklabels: k === 0};
  });
  Plotly.react("slices", traces, layout, CONFIG);
}

function fillContourSelects() {
  const xs = document.getElementById("contour-x"), ys = document.getElementById("contour-y");
  for (const [sel, pickIndex] of [[xs, 0], [ys, 1]]) {
    sel.replaceChildren(...data.params.map((p) => new Option(p.name, p.name)));
    if (data.params.length > pickIndex) sel.selectedIndex = pickIndex;
    sel.addEventListener("change", drawContour);
  }
}

function drawContour() {
  const rows = scored();
  const px = data.params.find((p) => p.name === document.getElementById("contour-x").value);
  const py = data.params.find((p) => p.name === document.getElementById("contour-y").value);
  if (!px || !py) return;
  const x = axisValues(px, rows), y = axisValues(py, rows), z = pick(data.trials.values[0], rows);
  Plotly.react("contour", [
    {type: "histogram2dcontour", x, y, z, histfunc: "avg", nbinsx: 16, nbinsy: 16, colorscale: "Viridis",
     reversescale: !minimize(), contours: {coloring: "heatmap"}, colorbar: {title: {text: objective().metric}}},
    {type: scatterType(rows.length), mode: "markers", x, y, marker: {size: 4, color: "#fff", line: {width: 1, color: "#333"}},
     text: pick(data.trials.id, rows).map((id) => `trial ${id}`), showlegend: false},
  ], {margin: {t: 10, r: 10}, xaxis: {title: {text: axisTitle(px)}}, yaxis: {title: {text: axisTitle(py)}}}, CONFIG);
}

function drawPareto() {
  if (data.study.objectives.length < 2) return;
  document.getElementById("pareto-card").hidden = false;
  const t = data.trials, [o1, o2] = data.study.objectives;
  const rows = [];
  for (let i = 0; i < t.id.length; i++) if (t.values[0][i] !== null && t.values[1][i] !== null) rows.push(i);
  const front = new Set(data.pareto);
  const inFront = rows.filter((i) => front.has(t.id[i])).sort((a, b) => t.values[0][a] - t.values[0][b]);
  Plotly.react("pareto", [
    {type: scatterType(rows.length), mode: "markers", name: "trials", x: pick(t.values[0], rows), y: pick(t.values[1], rows),
     text: pick(t.id, rows).map((id) => `trial ${id}`), marker: {size: 5, color: "#9ecae9"}},
    {type: "scatter", mode: "lines+markers", name: "Pareto front", x: pick(t.values[0], inFront),
     y: pick(t.values[1], inFront), line: {shape: "hv", color: "#e45756"}},
  ], {margin: {t: 10, r: 10}, xaxis: {title: {text: `${o1.metric} (${o1.goal})`}},
      yaxis: {title: {text: `${o2.metric} (${o2.goal})`}}, legend: {orientation: "h"}}, CONFIG);
}

function drawOneShot() {
  // A one-shot study: how the supernet's score of each architecture trained alone compares with its accuracy.
  const pairs = data.study.one_shot_pairs || [];
  if (!pairs.length) return;
  document.getElementById("one-shot-card").hidden = false;
  const tau = data.study.one_shot_tau;
  document.getElementById("one-shot-what").textContent =
    tau === null ? "" : `Kendall tau ${tau.toFixed(3)} over ${pairs.length} architectures`;
  const metric = objective().metric;
  const trace = (reason, name, color) => {
    const rows = pairs.filter((p) => p.reason === reason || (reason === "" && !["top_k", "rank_check"].includes(p.reason)));
    return {type: "scatter", mode: "markers", name, x: rows.map((p) => p.score), y: rows.map((p) => p.value),
            text: rows.map((p) => `trial ${p.standalone} (scored by trial ${p.evaluate}, supernet rank ${p.rank})`),
            marker: {size: 7, color}};
  };
  Plotly.react("one-shot-pairs", [trace("top_k", "top k", "#e45756"), trace("rank_check", "rank check", "#4c78a8"),
                                  trace("", "other", "#999")],
               {margin: {t: 10, r: 10}, xaxis: {title: {text: `${metric}, supernet`}},
                yaxis: {title: {text: `${metric}, trained alone`}}, legend: {orientation: "h"}}, CONFIG);
}

function drawTimeline() {
  // One line with a break after each trial: every run as a segment on its executor's row.
  const t = data.trials, x = [], y = [], text = [];
  const now = Date.now() / 1000;
  for (let i = 0; i < t.id.length; i++) {
    if (!t.start[i]) continue;
    x.push(new Date(1000 * t.start[i]), new Date(1000 * (t.end[i] || now)), null);
    const who = t.executor[i] || "?";
    y.push(who, who, null);
    text.push(`trial ${t.id[i]}`, `trial ${t.id[i]}`, null);
  }
  Plotly.react("timeline", [{type: scatterType(x.length / 3), mode: "lines", x, y, text, line: {width: 8, color: "#4c78a8"},
                             connectgaps: false}],
               {margin: {t: 10, r: 10, l: 140}, yaxis: {type: "category"}}, CONFIG);
}

// Every trial's measurements come again with each fetch of the curves: at most every few seconds (longer for
// big studies), and once more after the last change.
const CURVES_EVERY_MS = 5000;
let curvesAt = 0, curvesTimer = null;

function scheduleCurves() {
  if (curvesTimer) return;
  const every = Math.max(CURVES_EVERY_MS, data.trials.id.length);
  curvesTimer = setTimeout(() => { curvesTimer = null; drawCurves(); if (lineageShown) drawLineage(api); },
                           Math.max(0, every - (performance.now() - curvesAt)));
}

async function drawCurves() {
  curvesAt = performance.now();
  const curves = await (await fetch(`${api}/curves`)).json();
  const marks = curves.decisions;
  const colors = {stopped: "#e45756", paused: "#f58518", promoted: "#54a24b", decision: "#b279a2"};
  const traces = [{type: scatterType(curves.x.length), mode: "lines", name: curves.metric, x: curves.x, y: curves.y,
                   connectgaps: false, line: {width: 1, color: "rgba(76,120,168,0.5)"}}];
  for (const kind of Object.keys(colors)) {
    const m = marks.filter((d) => d.type === kind);
    if (!m.length) continue;
    traces.push({type: "scatter", mode: "markers", name: kind, x: m.map((d) => d.step), y: m.map((d) => d.value),
                 text: m.map((d) => `trial ${d.trial}: ${kind}${d.message ? " — " + d.message : ""}`),
                 hoverinfo: "text", marker: {size: 7, symbol: "x", color: colors[kind]}});
  }
  Plotly.react("curves", traces, {margin: {t: 10, r: 10},
    xaxis: {title: {text: data.study.fidelity || "step"}}, yaxis: {title: {text: curves.metric}},
    legend: {orientation: "h"}}, CONFIG);
}

const PLOTS = [drawHistory, drawImportance, drawParallel, drawSlices, drawContour, drawPareto, drawOneShot,
  drawTimeline];

function nextFrame() { return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve))); }

// One plot per frame: the page paints as each is ready instead of after all of them (WebGL plots such as
// parallel coordinates cost seconds where the browser renders in software).
async function drawAll(plots = PLOTS) {
  for (const draw of plots) {
    const t0 = performance.now();
    await draw();
    window.nestorTimes[draw.name] = performance.now() - t0;
    await nextFrame();
  }
  document.getElementById("progress").textContent = `${countDone()}/${data.study.max_trials || "∞"}`;
}

function countDone() {
  return data.trials.state.filter((s) => s === "COMPLETED" || s === "STOPPED" || s === "FAILED").length;
}

// --- the trial table: sorted, filtered and paged by the server ------------------------------------------

function tableHead() {
  const cols = [["id", "#"], ["state", "state"]];
  data.study.objectives.forEach((o, k) => cols.push([`value:${k}`, o.metric]));
  data.params.forEach((p) => cols.push([`param:${p.name}`, p.name]));
  cols.push(["duration", "duration (s)"], ["executor", "executor"], ["reason", "reason"]);
  const tr = document.createElement("tr");
  for (const [key, label] of cols) {
    const th = document.createElement("th");
    th.dataset.sort = key;
    th.textContent = label + (table.sort === key ? (table.desc ? " ▼" : " ▲") : "");
    th.addEventListener("click", () => {
      table.desc = table.sort === key ? !table.desc : false;
      table.sort = key;
      table.offset = 0;
      tableHead();
      loadTable();
    });
    tr.append(th);
  }
  document.querySelector("#trials thead").replaceChildren(tr);
}

function fmt(x) {
  if (x === null || x === undefined) return "";
  return typeof x === "number" && !Number.isInteger(x) ? x.toPrecision(5) : String(x);
}

function tableQuery() {
  return new URLSearchParams({offset: table.offset, limit: PAGE, sort: table.sort, desc: table.desc ? "1" : "",
                              state: document.getElementById("table-state").value,
                              q: document.getElementById("table-q").value});
}

async function loadTable() {
  const answer = await fetch(`${api}/table?${tableQuery()}`);
  const problem = document.getElementById("table-problem");
  problem.textContent = answer.ok ? "" : await answer.text();  // e.g. a filter on a column that is not there
  if (answer.ok) showTable(await answer.json());
}

function showTable(page) {
  table.total = page.total;
  const body = page.rows.map((r) => {
    const tr = document.createElement("tr");
    tr.className = "trial";
    const cells = [r.state.toLowerCase(), ...r.values, ...data.params.map((p) => r.params[p.name]),
                   r.duration, r.executor, r.reason];
    const link = document.createElement("a");
    link.href = `/studies/${encodeURIComponent(studyId)}/trials/${r.id}`;
    link.textContent = r.id;
    const first = document.createElement("td");
    first.append(link);
    tr.append(first, ...cells.map((c) => { const td = document.createElement("td"); td.textContent = fmt(c); return td; }));
    tr.children[1].className = `state ${r.state.toLowerCase()}`;
    return tr;
  });
  document.querySelector("#trials tbody").replaceChildren(...body);
  const end = Math.min(table.offset + PAGE, table.total);
  document.getElementById("table-range").textContent = `${table.total ? table.offset + 1 : 0}-${end} of ${table.total}`;
}

// --- live ---------------------------------------------------------------------------------------

function upsert(trial) {
  const t = data.trials;
  let i = index.get(trial.id);
  if (i === undefined) {
    i = t.id.length;
    index.set(trial.id, i);
    t.id.push(trial.id);
    t.state.push(null); t.start.push(null); t.end.push(null); t.executor.push(null);
    t.values.forEach((col) => col.push(null));
    for (const name of Object.keys(t.params)) t.params[name].push(null);
  }
  t.state[i] = trial.state;
  t.start[i] = trial.start;
  t.end[i] = trial.end;
  t.executor[i] = trial.executor;
  t.values.forEach((col, k) => { col[i] = trial.values[k]; });
  for (const name of Object.keys(t.params)) t.params[name][i] = trial.params[name] ?? null;
}

function scheduleRedraw(finished) {
  if (redrawTimer) return;
  redrawTimer = setTimeout(async () => {
    redrawTimer = null;
    drawAll();
    loadTable();
    if (finished) scheduleCurves();
  }, redrawEvery());
}

function follow() {
  const source = new EventSource(`${api}/events`);
  const dot = document.getElementById("live");
  source.addEventListener("hello", () => dot.classList.add("on"));
  source.addEventListener("trial", (e) => {
    const message = JSON.parse(e.data);
    upsert(message.trial);
    scheduleRedraw(message.event !== "trial_measurement");
  });
  source.addEventListener("study", (e) => {
    const state = JSON.parse(e.data).state.replace("STUDY_", "").toLowerCase();
    const el = document.getElementById("study-state");
    el.textContent = state;
    el.className = `state ${state}`;
  });
  source.onerror = () => dot.classList.remove("on");  // EventSource reconnects by itself
}

async function main() {
  // The page's head started this fetch before plotly.js was even parsed.
  data = await (window.nestorData || fetch(`${api}/data`).then((r) => r.json()));
  data.trials.id.forEach((id, i) => index.set(id, i));
  fillContourSelects();
  tableHead();
  window.nestorTimes = {dataAt: performance.now()};
  let t0 = performance.now();
  drawHistory();
  window.nestorTimes.drawHistory = performance.now() - t0;
  t0 = performance.now();
  // The first page (by id) was asked for with the data, by the page's head.
  showTable(await (window.nestorTable || fetch(`${api}/table?${tableQuery()}`).then((r) => r.json())));
  window.nestorTimes.loadTable = performance.now() - t0;
  // First render (the history and the table's first page), for the browser tests and bench/dashboard.py:
  // milliseconds since the navigation started.
  document.body.dataset.renderedAt = String(performance.now());
  // Live from here on: the server replays the study's past events (for the decisions on the curves) once a
  // page follows it, so that it does not share the CPU with the first render.
  follow();
  await drawAll(PLOTS.slice(1));
  document.body.dataset.plottedAt = String(performance.now());
  document.getElementById("history-x").addEventListener("change", drawHistory);
  document.getElementById("table-state").addEventListener("change", () => { table.offset = 0; loadTable(); });
  document.getElementById("table-q").addEventListener("input", () => { table.offset = 0; loadTable(); });
  document.getElementById("prev").addEventListener("click", () => { table.offset = Math.max(0, table.offset - PAGE); loadTable(); });
  document.getElementById("next").addEventListener("click", () => {
    if (table.offset + PAGE < table.total) { table.offset += PAGE; loadTable(); }
  });
  await drawCurves();
  await drawOuter(api);
  await drawLineage(api);
  document.body.dataset.rendered = "1";
  document.body.dataset.complete = "1";
}

main();
