// The trial page: its parameters, result, run record, every measured metric as a curve, and its events.
"use strict";

const root = document.getElementById("trial");
const url = `/api/studies/${encodeURIComponent(root.dataset.studyId)}/trials/${root.dataset.trialId}`;

function rows(tableId, pairs) {
  document.getElementById(tableId).replaceChildren(...pairs.map(([k, v]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th"), td = document.createElement("td");
    th.textContent = k;
    td.textContent = v === null || v === undefined ? "" : String(v);
    tr.append(th, td);
    return tr;
  }));
}

function when(s) { return s ? new Date(1000 * s).toLocaleString() : ""; }

async function main() {
  const t = await (await fetch(url)).json();
  const state = document.getElementById("trial-state");
  state.textContent = t.state.toLowerCase();
  state.className = `state ${t.state.toLowerCase()}`;
  rows("params", Object.entries(t.params));
  rows("result", Object.entries(t.final_metrics));
  rows("run", [["executor", t.executor], ["attempts", t.attempt], ["budget", t.budget], ["started", when(t.start_s)],
               ["ended", when(t.end_s)], ["duration (s)", t.duration_s], ["decision", t.decision],
               ["stop reason", t.stop_reason],
               ["checkpoint", t.checkpoint || "in the executor's artifact store, by study and trial"],
               ["origin", {"": "the algorithm", enqueued: "enqueued", warm_start: "a prior's best (warm start)",
                           added: "added from elsewhere"}[t.origin] ?? t.origin],
               ...Object.entries(t.user_attrs || {}).map(([k, v]) => [`user attr ${k}`, JSON.stringify(v)])]);
  if (t.error) {
    const pre = document.getElementById("error");
    pre.hidden = false;
    pre.textContent = t.error;
  }
  const metrics = [...new Set(t.measurements.flatMap((m) => Object.keys(m.metrics)))].sort();
  Plotly.react("measurements", metrics.map((name) => ({
    type: "scatter", mode: "lines+markers", name,
    x: t.measurements.filter((m) => name in m.metrics).map((m) => m.step),
    y: t.measurements.filter((m) => name in m.metrics).map((m) => m.metrics[name]),
  })), {margin: {t: 10, r: 10}, xaxis: {title: {text: "step"}}, legend: {orientation: "h"}},
  {responsive: true, displaylogo: false});
  document.querySelector("#events tbody").replaceChildren(...t.events.map((e) => {
    const tr = document.createElement("tr");
    tr.className = "event";
    for (const v of [e.seq, when(e.time), e.type, e.step || "", e.message]) {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
  document.body.dataset.rendered = "1";
}

main();
