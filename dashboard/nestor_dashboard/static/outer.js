// Bilevel studies (DARTS, hypergradients): the outer variables the controller holds, over the outer steps.
"use strict";

function softmaxRows(flat, shape) {
  const [rows, cols] = shape;
  const out = [];
  for (let r = 0; r < rows; r++) {
    const row = flat.slice(r * cols, (r + 1) * cols);
    const top = Math.max(...row);
    const e = row.map((v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    out.push(e.map((v) => v / sum));
  }
  return out;
}

// DARTS: for each cell, softmax(alpha) of every (edge, operation) as a heat map over the outer steps.
function drawDarts(state, div) {
  const s = state.summary, ops = s.operations || [], edges = s.edges || [];
  const cells = Object.keys(s.softmax || {});
  const traces = [], layout = {margin: {t: 30, l: 170, r: 10}, grid: {rows: 1, columns: cells.length, pattern: "independent"}};
  cells.forEach((cell, k) => {
    const name = `alpha_${cell}`;
    const history = state.history.filter((h) => h.values[name]);
    const labels = edges.flatMap(([node, j]) => ops.map((op) => `${node}←${j} ${op}`));
    const z = labels.map(() => []);
    for (const h of history) {
      softmaxRows(h.values[name].values, h.values[name].shape).flat().forEach((w, row) => z[row].push(w));
    }
    const axis = k === 0 ? "" : String(k + 1);
    traces.push({type: "heatmap", x: history.map((h) => h.step), y: labels, z, colorscale: "Viridis",
                 xaxis: `x${axis}`, yaxis: `y${axis}`, showscale: k === cells.length - 1, name: cell});
    layout[`xaxis${axis}`] = {title: {text: `${cell} cell: outer step`}};
    layout[`yaxis${axis}`] = {showticklabels: k === 0, tickfont: {size: 9}};
  });
  Plotly.react(div, traces, layout, {responsive: true, displaylogo: false});
  const perturbation = Object.keys(s.perturbation || {}).length ? "\nperturbation scores: " + JSON.stringify(s.perturbation) : "";
  return `trial ${state.trial} · step ${state.step} · ${s.phase || ""} · genotype (${s.selected_by || "alpha"}):\n${s.genotype_text || JSON.stringify(s.genotype)}${perturbation}`;
}

// Hypergradients: each continuous hyperparameter's trajectory.
function drawHypergrad(states, div) {
  const traces = [];
  for (const state of states) {
    for (const name of Object.keys(state.values)) {
      const history = state.history.filter((h) => h.values[name]);
      traces.push({type: "scatter", mode: "lines", name: `trial ${state.trial} ${name}`,
                   x: history.map((h) => h.step), y: history.map((h) => h.values[name].values[0])});
    }
  }
  Plotly.react(div, traces, {margin: {t: 10, r: 10}, xaxis: {title: {text: "outer step"}}, legend: {orientation: "h"}},
               {responsive: true, displaylogo: false});
  return states.map((s) => `trial ${s.trial}: ${JSON.stringify(s.summary.hyperparameters || {})}`).join("\n");
}

async function drawOuter(api) {
  const states = await (await fetch(`${api}/outer`)).json();
  if (!states.length) return;
  document.getElementById("outer-card").hidden = false;
  const darts = states.filter((s) => s.strategy === "darts");
  document.getElementById("outer-what").textContent = darts.length ? "DARTS: softmax(α) per edge and operation" : states[0].strategy;
  const text = darts.length ? drawDarts(darts[darts.length - 1], "outer") : drawHypergrad(states, "outer");
  document.getElementById("outer-text").textContent = text;
}
