// Gale's live page: polls the JSON API every second and draws each
// topology's graph (SVG) with every component's rate, latency, capacity
// and backpressure, plus a table of the same figures.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const BOX_W = 190, BOX_H = 92, GAP_X = 90, GAP_Y = 28, PAD = 20;

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function num(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  return Number(x).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 0 : digits });
}

// Column of each component: spouts first, each bolt after its sources.
function levels(components, edges) {
  const level = {};
  for (const c of components) level[c.id] = 0;
  for (let round = 0; round < components.length; round++) {
    for (const e of edges) {
      if (e.from in level && e.to in level && e.from !== e.to && level[e.to] < level[e.from] + 1) {
        level[e.to] = Math.min(level[e.from] + 1, components.length);
      }
    }
  }
  return level;
}

// Green (idle) to red (saturated) by capacity.
function heat(capacity) {
  const c = Math.max(0, Math.min(1, capacity || 0));
  return `hsl(${Math.round(120 * (1 - c))}, 60%, 88%)`;
}

function graph(t) {
  const components = t.spouts.map(s => ({ id: s.spoutId, row: s }))
    .concat(t.bolts.map(b => ({ id: b.boltId, row: b })));
  const level = levels(components, t.edges);
  const columns = {};
  for (const c of components) (columns[level[c.id]] = columns[level[c.id]] || []).push(c);
  const pos = {};
  let width = 0, height = 0;
  for (const [col, list] of Object.entries(columns)) {
    list.forEach((c, i) => {
      const x = PAD + col * (BOX_W + GAP_X), y = PAD + i * (BOX_H + GAP_Y);
      pos[c.id] = { x, y };
      width = Math.max(width, x + BOX_W + PAD);
      height = Math.max(height, y + BOX_H + PAD);
    });
  }
  const svg = el("svg", { class: "graph", width, height, viewBox: `0 0 ${width} ${height}` });
  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a93a6" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const e of t.edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2, x2 = b.x, y2 = b.y + BOX_H / 2;
    const mx = (x1 + x2) / 2;
    svg.appendChild(el("path", { class: "edge", d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
      "data-from": e.from, "data-to": e.to }));
    svg.appendChild(el("text", { class: "stream", x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" },
      `${e.stream} (${e.grouping})`));
  }
  for (const c of components) {
    const { x, y } = pos[c.id], r = c.row, spout = r.type === "spout";
    const g = el("g", { class: "component", "data-component": c.id, transform: `translate(${x},${y})` });
    g.appendChild(el("rect", { class: "box", width: BOX_W, height: BOX_H, fill: spout ? "#e4ecfb" : heat(r.capacity) }));
    g.appendChild(el("text", { class: "name", x: 8, y: 17 }, `${c.id}  ×${r.tasks}`));
    const lines = [
      ["rate", `${num(r.rate)} tuples/s`],
      spout ? ["latency", `complete ${num(r.completeLatency, 3)} ms`]
            : ["latency", `execute ${num(r.executeLatency, 3)} ms`],
      spout ? ["acked", `acked ${num(r.acked)}, failed ${num(r.failed)}`]
            : ["capacity", `capacity ${num(r.capacity, 3)}`],
      ["backpressure", `backpressure ${num(r.backpressureSeconds, 2)} s`],
    ];
    lines.forEach(([cls, text], i) => g.appendChild(el("text", { class: `figure ${cls}`, x: 8, y: 35 + i * 15 }, text)));
    svg.appendChild(g);
  }
  return svg;
}

function table(t) {
  const tbl = document.createElement("table");
  const head = ["component", "type", "tasks", "rate/s", "emitted", "transferred", "executed",
    "acked", "failed", "latency ms", "capacity", "backpressure s", "ring", "errors"];
  tbl.innerHTML = "<tr>" + head.map(h => `<th>${h}</th>`).join("") + "</tr>";
  const rows = t.spouts.map(s => [s.spoutId, s]).concat(t.bolts.map(b => [b.boltId, b]))
    .concat(t.systemComponents.map(b => [b.boltId, b]));
  for (const [id, r] of rows) {
    const tr = document.createElement("tr");
    tr.dataset.component = id;
    const cells = [
      ["name", id], ["type", r.type], ["tasks", r.tasks], ["rate", num(r.rate)],
      ["emitted", num(r.emitted)], ["transferred", num(r.transferred)],
      ["executed", r.type === "spout" ? "-" : num(r.executed)], ["acked", num(r.acked)],
      ["failed", num(r.failed)],
      ["latency", num(r.type === "spout" ? r.completeLatency : r.executeLatency, 3)],
      ["capacity", r.type === "spout" ? "-" : num(r.capacity, 3)],
      ["backpressure", num(r.backpressureSeconds, 2)],
      ["ring", num(100 * r.ringOccupancy, 1) + "%"], ["errors", num(r.errors)],
    ];
    for (const [cls, v] of cells) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = v;
      tr.appendChild(td);
    }
    tbl.appendChild(tr);
  }
  return tbl;
}

function section(t) {
  const s = document.createElement("section");
  s.className = "topology";
  s.dataset.topology = t.id;
  const h = document.createElement("h2");
  h.textContent = `${t.name} (${t.id})`;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${t.status}, up ${t.uptime}, ${t.tasksTotal} tasks on ${t.workersTotal} worker threads`
    + (t.metricsEnabled
      ? `, latency sample rate ${t.sampleRate}`
        + (t.minSampleIntervalNs > 0 ? ` (samples ${t.minSampleIntervalNs / 1000} µs apart at least)` : "")
      : ", metrics off");
  s.append(h, meta, graph(t), table(t));
  if (t.topologyErrors.length) {
    const ul = document.createElement("ul");
    ul.className = "errors";
    for (const e of t.topologyErrors.slice(0, 20)) {
      const li = document.createElement("li");
      li.textContent = `task ${e.task}: ${e.error} (×${e.count}, ${e.errorLapsedSecs} s ago)`;
      ul.appendChild(li);
    }
    s.appendChild(ul);
  }
  return s;
}

// The cluster's nodes and the links between them (from any node's
// cluster view); nothing for a single process.
function nodes(view) {
  const s = document.createElement("section");
  s.className = "cluster";
  const h = document.createElement("h3");
  h.textContent = `nodes: ${view.nodesUp} of ${view.nodesExpected} up`;
  const ul = document.createElement("ul");
  for (const n of view.nodes) {
    const li = document.createElement("li");
    li.className = "node " + (n.state === "up" ? "up" : "down");
    li.dataset.node = String(n.node);
    li.textContent = `node-${n.node} (${n.endpoint}): ${n.state}`;
    for (const l of n.links || []) {
      const span = document.createElement("span");
      span.className = "link " + (l.up ? "up" : "down");
      span.dataset.link = `${n.node}-${l.peer}`;
      span.textContent = ` → node-${l.peer} ${l.up ? "up" : "down"}`;
      li.appendChild(span);
    }
    ul.appendChild(li);
  }
  s.append(h, ul);
  return s;
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const summary = await getJson("/api/v1/topology/summary");
    const details = await Promise.all(summary.topologies.map(t =>
      getJson("/api/v1/topology/" + encodeURIComponent(t.id))));
    const views = await Promise.all(summary.topologies.map(t =>
      getJson("/api/v1/cluster/topology/" + encodeURIComponent(t.name)).catch(() => null)));
    const main = document.getElementById("topologies");
    main.replaceChildren(...details.map((t, i) => {
      const s = section(t);
      const view = views[i];
      if (view && view.nodesExpected > 1) s.insertBefore(nodes(view), s.children[2]);
      return s;
    }));
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.updated = String(Date.now());
  } catch (e) {
    status.textContent = `cannot reach the API: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 1000);
