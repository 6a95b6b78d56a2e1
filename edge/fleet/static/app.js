// edge fleet dashboard: vanilla JS over /api/*; charts drawn with the vendored uPlot.
"use strict";

const EXPRESSIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const COLORS = ["#d62728", "#8c564b", "#9467bd", "#2ca02c", "#1f77b4", "#ff7f0e", "#7f7f7f"];
const charts = {};

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function getJSON(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

function scopeQuery() {
  const q = new URLSearchParams();
  for (const id of ["site", "device", "unit"]) {
    const v = document.getElementById(id).value;
    if (v) q.set(id, v);
  }
  return q;
}

async function loadDevices() {
  const data = await getJSON("/api/devices");
  const body = document.querySelector("#devices tbody");
  body.replaceChildren();
  const select = document.getElementById("device");
  const known = new Set([...select.options].map((o) => o.value));
  for (const d of data.devices) {
    const tr = el("tr");
    tr.append(el("td", d.device), el("td", d.site || ""), el("td", d.status || "?", d.status || ""),
      el("td", d.last_window_end || ""), el("td", d.camera_state || ""),
      el("td", d.outbox_depth ?? ""), el("td", d.soc_temp_c ?? ""), el("td", d.windows),
      el("td", d.missing, d.missing > 0 ? "gap" : ""));
    body.append(tr);
    if (!known.has(d.device)) select.append(new Option(d.device, d.device));
  }
}

async function loadSites() {
  const data = await getJSON("/api/sites");
  const select = document.getElementById("site");
  for (const s of data.sites) select.append(new Option(s, s));
}

function draw(id, opts, data) {
  const target = document.getElementById(id);
  if (charts[id]) charts[id].destroy();
  charts[id] = new uPlot(opts, data, target);
  target.dataset.rendered = String(data[0].length);
}

async function loadSeries() {
  const q = scopeQuery();
  document.getElementById("csv").href = "/api/export?format=csv&" + q;
  document.getElementById("json").href = "/api/export?format=json&" + q;
  const data = await getJSON("/api/series?" + q);
  const rows = data.series;
  document.getElementById("empty").hidden = rows.length > 0;
  const x = rows.map((r) => Date.parse(r.bucket) / 1000);
  const width = Math.min(1100, document.body.clientWidth - 40);
  draw("faces-chart", {
    title: "Faces and windows", width, height: 240,
    series: [{}, { label: "faces", stroke: "#1f77b4", width: 2 },
      { label: "windows", stroke: "#999" },
      { label: "suppressed windows", stroke: "#d62728", dash: [4, 4] }],
  }, [x, rows.map((r) => r.faces), rows.map((r) => r.windows), rows.map((r) => r.suppressed_windows)]);
  draw("shares-chart", {
    title: "Expression shares (published windows only)", width, height: 280,
    scales: { y: { range: [0, 1] } },
    series: [{}, ...EXPRESSIONS.map((e, i) => ({ label: e, stroke: COLORS[i], width: 2, spanGaps: false }))],
  }, [x, ...EXPRESSIONS.map((e) => rows.map((r) => r[e]))]);
}

async function refresh() {
  try {
    await loadDevices();
    await loadSeries();
    document.body.dataset.loaded = "1";
  } catch (err) {
    document.body.dataset.error = String(err);
    console.error(err);
  }
}

document.getElementById("scope").addEventListener("change", loadSeries);
loadSites().then(refresh);
setInterval(refresh, 30000);
