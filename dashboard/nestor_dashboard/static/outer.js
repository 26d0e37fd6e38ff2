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
  if (s.genotype) drawGenotype(s.genotype, "genotype");
  drawPerturbation(s, "perturbation");
  return `trial ${state.trial} · step ${state.step} · ${s.phase || ""} · genotype (${s.selected_by || "alpha"}):\n${s.genotype_text || JSON.stringify(s.genotype)}`;
}

function nodeName(j) { return j === 0 ? "c_{k-2}" : j === 1 ? "c_{k-1}" : String(j); }

// The genotype as the cell it describes: the two inputs on the left, each intermediate node fed by its two
// chosen (operation, input) edges, and every intermediate node concatenated into the cell's output.
function drawGenotype(genotype, div) {
  const cells = ["normal", "reduce"].filter((c) => Array.isArray(genotype[c]));
  const traces = [], annotations = [];
  const layout = {margin: {t: 30, l: 10, r: 10, b: 10}, showlegend: false,
                  grid: {rows: 1, columns: cells.length, pattern: "independent"}};
  cells.forEach((cell, k) => {
    const pairs = genotype[cell], steps = pairs.length / 2;
    const axis = k === 0 ? "" : String(k + 1);
    // Inputs at x 0 (one above the other), node i at x i-1 alternating up and down, the output last.
    const at = (j) => (j < 2 ? [0, j === 0 ? 1 : -1] : [j - 1, (j % 2 ? -0.5 : 0.5)]);
    const out = [steps + 1, 0];
    const nodes = [...Array(steps + 2).keys()];
    const edge = (from, to, text, dash) => {
      annotations.push({x: to[0], y: to[1], ax: from[0], ay: from[1], xref: `x${axis}`, yref: `y${axis}`,
                        axref: `x${axis}`, ayref: `y${axis}`, showarrow: true, arrowhead: 2, arrowsize: 1,
                        arrowwidth: 1.2, arrowcolor: dash ? "#bbb" : "#4c78a8", standoff: 14, startstandoff: 14, text: ""});
      if (text) {
        annotations.push({x: (from[0] + to[0]) / 2, y: (from[1] + to[1]) / 2, xref: `x${axis}`, yref: `y${axis}`,
                          text, showarrow: false, font: {size: 9}, bgcolor: "rgba(255,255,255,0.8)"});
      }
    };
    for (let i = 0; i < pairs.length; i++) {
      const [op, j] = pairs[i];
      edge(at(j), at(2 + Math.floor(i / 2)), op, false);
    }
    for (let n = 2; n < steps + 2; n++) edge(at(n), out, "", true);
    const points = [...nodes.map(at), out];
    traces.push({type: "scatter", mode: "markers+text", xaxis: `x${axis}`, yaxis: `y${axis}`,
                 x: points.map((p) => p[0]), y: points.map((p) => p[1]),
                 text: [...nodes.map(nodeName), "c_{k}"], textposition: "middle center",
                 marker: {size: 40, color: [...nodes.map((j) => (j < 2 ? "#b7d7a8" : "#c6dbef")), "#fdd0a2"],
                          line: {width: 1, color: "#555"}},
                 hoverinfo: "text", name: cell});
    layout[`xaxis${axis}`] = {visible: false, range: [-0.6, steps + 1.6], title: {text: cell}};
    layout[`yaxis${axis}`] = {visible: false, range: [-1.5, 1.5]};
    annotations.push({text: `${cell} cell`, xref: `x${axis} domain`, yref: `y${axis} domain`, x: 0.5, y: 1.08,
                      showarrow: false, font: {size: 12}});
  });
  layout.annotations = annotations;
  Plotly.react(div, traces, layout, {responsive: true, displaylogo: false});
}

// Perturbation-based selection: how much the validation loss rose when an operation (or a whole edge) was
// taken out, per cell; the largest rise marks what the genotype keeps.
function drawPerturbation(summary, div) {
  const scores = summary.perturbation || {};
  const cells = Object.keys(scores);
  const el = document.getElementById(div);
  el.hidden = !cells.length;
  if (!cells.length) return;
  const ops = summary.operations || [], edges = (summary.edges || []).map(([node, j]) => `${node}←${nodeName(j)}`);
  const traces = [], layout = {margin: {t: 30, l: 90, r: 10}, grid: {rows: 1, columns: cells.length, pattern: "independent"}};
  cells.forEach((cell, k) => {
    const axis = k === 0 ? "" : String(k + 1);
    const op = scores[cell].op || [];
    const z = Array.isArray(op[0]) ? op : edges.map((_, e) => op.slice(e * ops.length, (e + 1) * ops.length));
    traces.push({type: "heatmap", z, x: ops, y: edges, colorscale: "YlOrRd", xaxis: `x${axis}`, yaxis: `y${axis}`,
                 showscale: k === cells.length - 1, hovertemplate: `${cell} %{y} %{x}: loss +%{z:.4g}<extra></extra>`});
    layout[`xaxis${axis}`] = {title: {text: `${cell}: loss rise without the operation`}, tickfont: {size: 9}};
    layout[`yaxis${axis}`] = {showticklabels: k === 0, tickfont: {size: 9}};
  });
  Plotly.react(div, traces, layout, {responsive: true, displaylogo: false});
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
