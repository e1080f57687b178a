// merlin broker console: polls the JSON API (see package console) and
// renders it. No framework, no build step.
"use strict";

const W = 600, H = 160, SAMPLES = 60;
const rates = []; // {produce, fetch} per second, oldest first
let lastCounters = null;
let selected = null; // {topic, partition} whose messages are shown
let groupsSupported = false;

function $(id) { return document.getElementById(id); }

// el builds an element; children are nodes or strings (set as text, never
// parsed as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function get(path) {
  const r = await fetch(path, {cache: "no-store"});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function fmtBytes(n) {
  if (n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function fmtRate(n) {
  return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + "/s";
}

function fmtTime(s) {
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function fill(tbodySel, emptyId, rows) {
  const tbody = document.querySelector(tbodySel + " tbody");
  tbody.replaceChildren(...rows);
  $(emptyId).hidden = rows.length > 0;
}

function bytesCell(b) {
  const td = el("td", {class: "data"});
  if (b.encoding === "null") {
    td.append(el("span", {class: "tag"}, "null"));
    return td;
  }
  if (b.encoding === "hex") td.append(el("span", {class: "tag"}, "hex"));
  td.append(b.data);
  if (b.truncated) td.append(el("span", {class: "tag"}, "… " + fmtBytes(b.size)));
  return td;
}

async function loadOverview() {
  const o = await get("api/overview");
  $("broker").textContent = "node " + o.node_id + " · " + o.addr;
  $("n-topics").textContent = o.topics;
  $("n-partitions").textContent = o.partitions;
  $("n-connections").textContent = o.connections;
  groupsSupported = o.features.groups;
  $("groups-card").hidden = !groupsSupported;
}

async function loadTopics() {
  const {topics} = await get("api/topics");
  const rows = [];
  for (const t of topics) {
    for (const p of t.partitions) {
      const isSel = selected && selected.topic === t.name && selected.partition === p.partition;
      rows.push(el("tr", {class: isSel ? "selected" : "", "data-topic": t.name, "data-partition": p.partition},
        el("td", {}, t.name),
        el("td", {}, p.partition),
        el("td", {}, p.leader),
        el("td", {class: "r"}, p.start_offset),
        el("td", {class: "r"}, p.end_offset),
        el("td", {class: "r"}, p.end_offset - p.start_offset),
        el("td", {class: "r"}, fmtBytes(p.size_bytes)),
        el("td", {class: "r"}, p.segments < 0 ? "–" : p.segments),
        el("td", {class: "r"}, p.producers),
        el("td", {}, el("button", {type: "button", class: "show", onclick: () => select(t.name, p.partition)}, "messages")),
      ));
    }
  }
  fill("#topics", "no-topics", rows);
}

function select(topic, partition) {
  selected = {topic, partition};
  loadMessages().catch(showError);
  loadTopics().catch(showError);
}

async function loadMessages() {
  if (!selected) return;
  const path = "api/topics/" + encodeURIComponent(selected.topic) + "/partitions/" + selected.partition + "/messages?limit=20";
  const m = await get(path);
  $("messages-card").hidden = false;
  $("messages-title").textContent = m.topic + "/" + m.partition + " (offsets " + m.start_offset + " to " + m.end_offset + ")";
  fill("#messages", "no-messages", m.messages.map(msg => el("tr", {},
    el("td", {class: "r"}, msg.offset),
    el("td", {}, fmtTime(msg.timestamp)),
    bytesCell(msg.key),
    bytesCell(msg.value),
    el("td", {class: "data"}, ...msg.headers.flatMap(h => [el("b", {}, h.key + ": "), bytesCell(h.value).textContent, el("br")])),
  )));
}

async function loadClients() {
  const {clients} = await get("api/clients");
  fill("#clients", "no-clients", clients.map(c => el("tr", {},
    el("td", {}, c.client_id || "–"),
    el("td", {}, c.remote),
    el("td", {}, fmtTime(c.connected)),
    el("td", {class: "r"}, c.requests),
    el("td", {class: "r"}, fmtBytes(c.bytes_in)),
    el("td", {class: "r"}, fmtBytes(c.bytes_out)),
  )));
}

async function loadProducers() {
  const p = await get("api/producers");
  $("n-pids").textContent = p.allocated;
  fill("#producers", "no-producers", p.producers.map(x => el("tr", {},
    el("td", {class: "r"}, x.producer_id),
    el("td", {class: "r"}, x.producer_epoch),
    el("td", {}, x.topic + "/" + x.partition),
    el("td", {class: "r"}, x.last_sequence),
    el("td", {class: "r"}, x.last_offset),
  )));
}

// loadGroups renders /api/groups once the broker has groups (see the
// package documentation of console: Options.Groups).
async function loadGroups() {
  if (!groupsSupported) return;
  const {groups} = await get("api/groups");
  fill("#groups", "no-groups", groups.map(g => el("tr", {},
    el("td", {}, g.id),
    el("td", {}, g.state),
    el("td", {}, [g.protocol_type, g.protocol].filter(Boolean).join(" / ")),
    el("td", {}, ...g.members.flatMap(m => [m.client_id + " (" + m.host + ")", el("br")])),
    el("td", {}, ...g.offsets.flatMap(o => [o.topic + "/" + o.partition + ": " + o.committed + " (" + o.lag + ")", el("br")])),
  )));
}

async function loadRates() {
  const c = await get("api/rates");
  if (lastCounters && c.time_ms > lastCounters.time_ms) {
    const dt = (c.time_ms - lastCounters.time_ms) / 1000;
    const r = {
      produce: (c.produce_requests - lastCounters.produce_requests) / dt,
      fetch: (c.fetch_requests - lastCounters.fetch_requests) / dt,
      records: (c.records - lastCounters.records) / dt,
      bytesIn: (c.bytes_in - lastCounters.bytes_in) / dt,
      bytesOut: (c.bytes_out - lastCounters.bytes_out) / dt,
    };
    rates.push(r);
    if (rates.length > SAMPLES) rates.shift();
    $("rate-produce").textContent = fmtRate(r.produce);
    $("rate-fetch").textContent = fmtRate(r.fetch);
    $("rate-records").textContent = fmtRate(r.records);
    $("rate-in").textContent = fmtBytes(r.bytesIn) + "/s";
    $("rate-out").textContent = fmtBytes(r.bytesOut) + "/s";
    drawChart();
  }
  lastCounters = c;
}

function drawChart() {
  const top = Math.max(1, ...rates.map(r => Math.max(r.produce, r.fetch)));
  const step = W / (SAMPLES - 1);
  const x0 = W - (rates.length - 1) * step; // newest sample at the right edge
  const points = key => rates.map((r, i) =>
    (x0 + i * step).toFixed(1) + "," + (H - 4 - (H - 8) * r[key] / top).toFixed(1)).join(" ");
  $("chart-produce").setAttribute("points", points("produce"));
  $("chart-fetch").setAttribute("points", points("fetch"));
  $("chart-max").textContent = "max " + fmtRate(top);
}

function showError(err) {
  const s = $("status");
  s.textContent = "error: " + err.message;
  s.className = "status err";
}

async function tick() {
  try {
    await loadRates();
    await Promise.all([loadOverview(), loadTopics(), loadClients(), loadProducers(), loadMessages()]);
    await loadGroups();
    const s = $("status");
    s.textContent = "live · " + new Date().toLocaleTimeString();
    s.className = "status ok";
  } catch (err) {
    showError(err);
  }
}

$("messages-refresh").addEventListener("click", () => loadMessages().catch(showError));
tick();
setInterval(tick, 1000);
