// edge setup: the camera picture with what the pipeline sees, and a polygon editor for the
// masks and the region of interest. Plain JavaScript, no library, nothing from the internet.
"use strict";

const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const statusEl = document.getElementById("status");
const picture = new Image();
let state = null;          // the last /api/state
let shapes = [];           // [{kind: "mask" | "roi", points: [[x, y], ...]}], normalised 0..1
let dirty = false;         // edited since the last load or save
let drawing = null;        // {kind, points} while a new shape is being drawn
let selected = -1;
let drag = null;           // {index, vertex (-1 = whole shape), last: [x, y]}
let lastSeq = -1;
let ended = false;

function say(text, error) {
  statusEl.textContent = text;
  statusEl.className = error ? "error" : "";
}

function pos(event) {
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) / rect.width;
  const y = (event.clientY - rect.top) / rect.height;
  return [Math.min(1, Math.max(0, x)), Math.min(1, Math.max(0, y))];
}

function near(a, b) {
  const rect = canvas.getBoundingClientRect();
  return Math.hypot((a[0] - b[0]) * rect.width, (a[1] - b[1]) * rect.height) < 14;
}

function inside(point, polygon) {
  let hit = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if ((yi > point[1]) !== (yj > point[1]) &&
        point[0] < ((xj - xi) * (point[1] - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

function path(points, close) {
  ctx.beginPath();
  points.forEach(([x, y], i) => {
    const px = x * canvas.width;
    const py = y * canvas.height;
    if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  });
  if (close) ctx.closePath();
}

function render() {
  ctx.fillStyle = "#222";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (picture.complete && picture.naturalWidth > 0) {
    ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  }
  const line = Math.max(2, canvas.width / 320);
  shapes.forEach((shape, index) => {
    path(shape.points, true);
    if (shape.kind === "mask") {
      ctx.fillStyle = "rgba(0, 0, 0, 0.8)";
      ctx.fill();
      ctx.strokeStyle = "#fff";
      ctx.setLineDash([]);
    } else {
      ctx.fillStyle = "rgba(0, 200, 80, 0.12)";
      ctx.fill();
      ctx.strokeStyle = "#0c5";
      ctx.setLineDash([4 * line, 3 * line]);
    }
    ctx.lineWidth = index === selected ? 2 * line : line;
    if (index === selected) ctx.strokeStyle = "#fd0";
    ctx.stroke();
    ctx.setLineDash([]);
    if (index === selected) {
      ctx.fillStyle = "#fd0";
      shape.points.forEach(([x, y]) => {
        ctx.fillRect(x * canvas.width - 3 * line, y * canvas.height - 3 * line, 6 * line, 6 * line);
      });
    }
  });
  if (drawing && drawing.points.length) {
    path(drawing.points, false);
    ctx.strokeStyle = "#fd0";
    ctx.lineWidth = line;
    ctx.stroke();
    drawing.points.forEach(([x, y]) => {
      ctx.fillStyle = "#fd0";
      ctx.fillRect(x * canvas.width - 2 * line, y * canvas.height - 2 * line, 4 * line, 4 * line);
    });
  }
  if (state && state.faces) {
    ctx.font = `${Math.round(6 * line)}px sans-serif`;
    state.faces.forEach((face) => {
      const [x0, y0, x1, y1] = face.box;
      ctx.strokeStyle = face.counted ? "#0f0" : "#f90";
      ctx.lineWidth = line;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(`${face.px} px${face.reason ? " (" + face.reason + ")" : ""}`, x0, y0 - line);
    });
    reference(state.reliable_face_px, "#0cf", "reliable", 0);
    if (state.min_face_px) reference(state.min_face_px, "#f90", "min_face_px", 1);
  }
}

function reference(size, color, label, slot) {
  const x = 8 + slot * (size + 90);
  const y = canvas.height - size - 8;
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.strokeRect(x, y, size, size);
  ctx.fillStyle = color;
  ctx.fillText(`${label} ${size} px`, x + size + 4, y + size);
}

function loadShapes(s) {
  shapes = (s.masks || []).map((points) => ({kind: "mask", points}));
  if (s.roi) shapes.push({kind: "roi", points: s.roi});
  selected = -1;
}

async function poll() {
  if (ended) return;
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    const body = await response.json();
    if (!response.ok) { say(body.error || response.statusText, true); return; }
    state = body;
    document.getElementById("remaining").textContent =
      `ends in ${Math.floor(body.remaining_s / 60)}:${String(Math.floor(body.remaining_s % 60)).padStart(2, "0")}`;
    document.getElementById("config").textContent = `config: ${body.config} · camera: ${body.camera}`;
    if (body.frame) {
      if (canvas.width !== body.frame.width || canvas.height !== body.frame.height) {
        canvas.width = body.frame.width;
        canvas.height = body.frame.height;
      }
      if (lastSeq < 0 && !dirty) loadShapes(body);
      if (body.frame.seq !== lastSeq) {
        lastSeq = body.frame.seq;
        const blur = document.getElementById("show-faces").checked ? 0 : 1;
        picture.src = `/api/frame.jpg?blur=${blur}&seq=${lastSeq}`;
      }
      document.getElementById("legend").textContent =
        `${body.faces.length} face(s) found; the detector finds faces reliably from ` +
        `${body.reliable_face_px} px; privacy.min_face_px = ${body.min_face_px}.`;
      if (statusEl.textContent === "Connecting…") say("Picture live. Draw masks or a region, then Save.");
    } else {
      say("Waiting for the camera…");
    }
    render();
  } catch (err) {
    ended = true;
    say("The setup view has ended (time limit or stopped). Run edge setup again to continue.", true);
  }
}

function startShape(kind) {
  drawing = {kind, points: []};
  selected = -1;
  document.getElementById("finish").disabled = false;
  say(kind === "mask" ? "Click the corners of the mask." : "Click the corners of the region of interest.");
}

function finishShape() {
  if (!drawing) return;
  if (drawing.points.length < 3) { say("A shape needs at least 3 corners.", true); return; }
  if (drawing.kind === "roi") shapes = shapes.filter((s) => s.kind !== "roi");
  shapes.push({kind: drawing.kind, points: drawing.points});
  selected = shapes.length - 1;
  drawing = null;
  dirty = true;
  document.getElementById("finish").disabled = true;
  document.getElementById("delete").disabled = false;
  say("Shape added (not saved yet).");
  render();
}

canvas.addEventListener("pointerdown", (event) => {
  const p = pos(event);
  if (drawing) {
    if (drawing.points.length >= 3 && near(p, drawing.points[0])) { finishShape(); return; }
    drawing.points.push(p);
    render();
    return;
  }
  if (selected >= 0) {
    const vertex = shapes[selected].points.findIndex((q) => near(p, q));
    if (vertex >= 0) { drag = {index: selected, vertex, last: p}; return; }
  }
  selected = -1;
  for (let i = shapes.length - 1; i >= 0; i--) {
    if (inside(p, shapes[i].points)) { selected = i; drag = {index: i, vertex: -1, last: p}; break; }
  }
  document.getElementById("delete").disabled = selected < 0;
  render();
});

canvas.addEventListener("pointermove", (event) => {
  if (!drag) return;
  const p = pos(event);
  const shape = shapes[drag.index];
  if (drag.vertex >= 0) {
    shape.points[drag.vertex] = p;
  } else {
    const dx = p[0] - drag.last[0];
    const dy = p[1] - drag.last[1];
    shape.points = shape.points.map(([x, y]) => [Math.min(1, Math.max(0, x + dx)), Math.min(1, Math.max(0, y + dy))]);
  }
  drag.last = p;
  dirty = true;
  render();
});

window.addEventListener("pointerup", () => { drag = null; });
document.addEventListener("keydown", (event) => { if (event.key === "Enter") finishShape(); });
document.getElementById("new-mask").addEventListener("click", () => startShape("mask"));
document.getElementById("new-roi").addEventListener("click", () => startShape("roi"));
document.getElementById("finish").addEventListener("click", finishShape);
document.getElementById("delete").addEventListener("click", () => {
  if (selected < 0) return;
  shapes.splice(selected, 1);
  selected = -1;
  dirty = true;
  document.getElementById("delete").disabled = true;
  say("Shape deleted (not saved yet).");
  render();
});
document.getElementById("show-faces").addEventListener("change", () => { lastSeq = lastSeq >= 0 ? -2 : lastSeq; });
picture.addEventListener("load", render);

document.getElementById("save").addEventListener("click", async () => {
  const round = (points) => points.map(([x, y]) => [Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4]);
  const roi = shapes.find((s) => s.kind === "roi");
  const body = {
    masks: shapes.filter((s) => s.kind === "mask").map((s) => round(s.points)),
    roi: roi ? round(roi.points) : null,
  };
  say("Saving…");
  try {
    const response = await fetch("/api/save", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    const result = await response.json();
    if (!response.ok) { say(`Not saved: ${result.error}`, true); return; }
    dirty = false;
    say(`Saved to ${result.saved}: ${result.masks} mask(s), ${result.roi ? "a" : "no"} region of interest.`);
  } catch (err) {
    say(`Not saved: ${err}`, true);
  }
});

poll();
setInterval(poll, 1000);
