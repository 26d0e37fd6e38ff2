// Population-based studies (pbt, pb2): each member as a line over the steps, coloured by its objective, an
// arrow from the donor's line to the recipient's at every copy of weights, and the schedule behind the best.
"use strict";

function lineageNumber(x) {
  return typeof x === "number" && !Number.isInteger(x) ? x.toPrecision(4) : String(x);
}

function lineageParams(params) {
  return Object.entries(params).map(([k, v]) => `${k}=${lineageNumber(v)}`).join(", ");
}

// The interval a measured step belongs to: the last one starting before it.
function intervalAt(intervals, step) {
  let current = intervals[0];
  for (const i of intervals) if (i.step < step) current = i;
  return current;
}

// HTML-escaped for Plotly's hover text (which renders a few tags).
function lineageText(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Long decision texts wrapped for the hover box.
function wrapped(s, width = 90) {
  const words = lineageText(s).split(" "), lines = [""];
  for (const w of words) {
    if (lines[lines.length - 1].length + w.length > width) lines.push("");
    lines[lines.length - 1] += (lines[lines.length - 1] ? " " : "") + w;
  }
  return lines.join("<br>");
}

function drawLineageGraph(lin, goal, div) {
  const members = lin.members;
  const row = new Map(members.map((m, k) => [m.trial, k]));
  const values = members.flatMap((m) => m.points.map((p) => p[1])).filter((v) => v !== null);
  const traces = [], annotations = [];
  members.forEach((m, k) => {
    const best = m.trial === lin.best;
    const x = m.points.length ? m.points.map((p) => p[0]) : m.intervals.map((i) => i.step);
    const color = m.points.length ? m.points.map((p) => p[1]) : x.map(() => null);
    const text = x.map((step, j) => {
      const i = intervalAt(m.intervals, step);
      const value = color[j] === null ? "" : ` · ${lin.metric} ${lineageNumber(color[j])}`;
      return `trial ${m.trial} · step ${step}${value}<br>${lineageText(lineageParams(i.params))}` +
        (i.reason ? `<br>${wrapped(i.reason)}` : "");
    });
    traces.push({type: "scatter", mode: "lines+markers", name: `trial ${m.trial}${best ? " (best)" : ""}`,
                 x, y: x.map(() => k), text, hoverinfo: "text", showlegend: false,
                 line: {color: best ? "#e45756" : "#bbb", width: best ? 3 : 1.5},
                 marker: {size: 7, color, coloraxis: "coloraxis"}});
  });
  // A copy: the recipient continues from the donor's weights at that step.
  const copies = members.flatMap((m) => m.intervals.filter((i) => i.donor && row.has(i.donor))
    .map((i) => ({...i, trial: m.trial})));
  for (const c of copies) {
    annotations.push({x: c.step, y: row.get(c.trial), ax: c.step, ay: row.get(c.donor), xref: "x", yref: "y",
                      axref: "x", ayref: "y", showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: 1.5,
                      arrowcolor: "#f58518", standoff: 5, startstandoff: 5, text: ""});
  }
  traces.push({type: "scatter", mode: "markers", name: "copy", x: copies.map((c) => c.step),
               y: copies.map((c) => row.get(c.trial)), hoverinfo: "text", showlegend: true,
               text: copies.map((c) => `step ${c.step}: trial ${c.trial} copies trial ${c.donor}'s weights<br>` +
                 `${lineageText(lineageParams(c.params))}${c.reason ? "<br>" + wrapped(c.reason) : ""}`),
               marker: {symbol: "triangle-up", size: 11, color: "#f58518", line: {width: 1, color: "#333"}}});
  // A row per member: the plot grows with the population (up to a point, then the rows get closer).
  document.getElementById(div).style.height = `${Math.min(900, Math.max(240, 120 + 34 * members.length))}px`;
  Plotly.react(div, traces, {
    margin: {t: 10, r: 10, l: 110}, annotations, legend: {orientation: "h"},
    xaxis: {title: {text: data.study.fidelity || "step"}, zeroline: false},
    yaxis: {tickvals: members.map((_, k) => k), range: [-0.6, members.length - 0.4], zeroline: false,
            ticktext: members.map((m) => `trial ${m.trial}${m.trial === lin.best ? " ★" : ""}`)},
    coloraxis: {colorscale: "Viridis", reversescale: goal !== "maximize",
                cmin: values.length ? Math.min(...values) : 0, cmax: values.length ? Math.max(...values) : 1,
                colorbar: {title: {text: lin.metric}, thickness: 12}},
  }, CONFIG);
  return copies.length;
}

// The best member's schedule: each mutable numeric parameter as a step line over the steps, and a table.
function drawSchedule(lin, div, tableId) {
  const steps = lin.schedule;
  const names = lin.numeric.filter((n) => steps.some((s) => typeof s.params[n] === "number"));
  const last = Math.max(...lin.members.flatMap((m) => m.points.map((p) => p[0])), ...steps.map((s) => s.step));
  const traces = names.map((n) => ({
    type: "scatter", mode: "lines+markers", name: n, line: {shape: "hv"},
    x: [...steps.map((s) => s.step), last], y: [...steps.map((s) => s.params[n]), steps[steps.length - 1].params[n]],
    text: [...steps.map((s) => `from step ${s.step} (trial ${s.trial}${s.donor ? `, weights of trial ${s.donor}` : ""}): ` +
                                `${n} ${lineageNumber(s.params[n])}`), ""],
    hoverinfo: "text"}));
  const log = data.params.filter((p) => names.includes(p.name)).every((p) => p.log) && names.length > 0;
  Plotly.react(div, traces, {margin: {t: 10, r: 10}, legend: {orientation: "h"},
                             xaxis: {title: {text: data.study.fidelity || "step"}},
                             yaxis: {type: log ? "log" : "-"}}, CONFIG);
  // The parameters in the space's order.
  const given = steps.length ? Object.keys(steps[0].params) : [];
  const params = [...data.params.map((p) => p.name).filter((n) => given.includes(n)),
                  ...given.filter((n) => !data.params.some((p) => p.name === n))];
  const head = document.createElement("tr");
  for (const label of ["from step", "trained by", "weights from", ...params]) {
    const th = document.createElement("th");
    th.textContent = label;
    head.append(th);
  }
  const body = steps.map((s) => {
    const tr = document.createElement("tr");
    tr.className = "interval";
    for (const c of [s.step, `trial ${s.trial}`, s.donor ? `trial ${s.donor} (copy)` : "its own",
                     ...params.map((n) => lineageNumber(s.params[n]))]) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.append(td);
    }
    return tr;
  });
  const table = document.getElementById(tableId);
  const thead = document.createElement("thead"), tbody = document.createElement("tbody");
  thead.append(head);
  tbody.append(...body);
  table.replaceChildren(thead, tbody);
}

let lineageShown = false;

async function drawLineage(api) {
  const lin = await (await fetch(`${api}/lineage`)).json();
  if (!lin.members.length) return;
  lineageShown = true;
  document.getElementById("lineage-card").hidden = false;
  const goal = (data.study.objectives[0] || {}).goal;
  const copies = drawLineageGraph(lin, goal, "lineage");
  document.getElementById("lineage-what").textContent =
    `${lin.members.length} members · ${copies} copies of weights · colour: ${lin.metric}`;
  const card = document.getElementById("schedule-card");
  card.hidden = !lin.schedule.length;
  if (lin.schedule.length) {
    document.getElementById("schedule-what").textContent = `trial ${lin.best}, its donors' earlier intervals included`;
    drawSchedule(lin, "schedule", "schedule-table");
  }
}
