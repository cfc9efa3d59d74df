// The gateway's status page: live state from server-sent events (/api/events), sensor
// descriptions from /api/sensors, the selected sensor's trend from /api/trend.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const withToken = (path) =>
  token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;

let sensors = {};        // id -> description (asset, unit, thresholds, iso)
let ruleHash = null;
let selected = null;     // the sensor whose trend is shown
let userSelected = false;
let chart = null;
let last = null;         // the last status document

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const time = (ms) => (ms == null ? "–" : new Date(ms).toLocaleTimeString());
const fmt = (v) => (v == null || !isFinite(v) ? "–" : Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const age = (s) => (s == null ? "–" : s < 60 ? s.toFixed(0) + " s" : s < 3600 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h");
const bytes = (b) => (b < 1024 ? b + " B" : b < 1048576 ? (b / 1024).toFixed(1) + " KiB" : (b / 1048576).toFixed(1) + " MiB");

async function loadSensors() {
  const response = await fetch(withToken("api/sensors"));
  const list = await response.json();
  sensors = {};
  for (const s of list) sensors[s.id] = s;
}

function render(status) {
  last = status;
  $("gateway").textContent = status.gateway;
  $("version").textContent = "edge-agent " + status.version;
  $("rule-hash").textContent = status.rule_hash;
  $("clock").textContent = new Date(status.now_ms).toLocaleTimeString();
  const ready = $("ready");
  ready.textContent = status.ready ? "ready" : "not ready: " + status.ready_detail;
  ready.className = "badge " + (status.ready ? "ok" : "bad");
  const link = $("link");
  if (status.link) {
    link.textContent = status.link.kind === "mqtt" ? (status.link.connected ? "MQTT connected" : "MQTT disconnected") : "stdout sink";
    link.className = "badge " + (status.link.connected ? "ok" : "bad");
  }
  renderAlerts(status);
  renderAssets(status);
  renderDevices(status);
  renderSpool(status);
  if (!userSelected) {
    // The most severe, most recent active alert; else a sensor judged by ISO zones.
    const alerting = bySeverity(status.active_alerts).find((a) => sensors[a.sensor]);
    const fallback = Object.values(sensors).find((s) => s.iso) || Object.values(sensors)[0];
    const pick = alerting ? alerting.sensor : selected || (fallback && fallback.id);
    if (pick && pick !== selected) select(pick, false);
  }
}

function alertLine(a) {
  const sensor = sensors[a.sensor];
  const asset = sensor ? sensor.asset : a.sensor.split(".")[0];
  const score = a.score == null ? "" : " · score " + fmt(a.score);
  return `<span class="sev sev-${a.severity}">${a.severity}</span> <span class="what">${esc(asset)}: ${esc(a.rule)}</span>
    <div class="small">${esc(a.sensor)} · ${esc(a.detector)} · value ${fmt(a.value)}${sensor && sensor.unit ? " " + esc(sensor.unit) : ""}${score} · raised ${time(a.raised_ms)}</div>`;
}

function renderAlerts(status) {
  const active = bySeverity(status.active_alerts);
  $("active-count").textContent = active.length;
  $("active-alerts").innerHTML = active.length
    ? active.map((a) => `<div class="alert-card ${a.severity}" data-sensor="${esc(a.sensor)}">${alertLine(a)}</div>`).join("")
    : '<p class="muted">None.</p>';
  for (const card of $("active-alerts").querySelectorAll(".alert-card")) card.onclick = () => select(card.dataset.sensor, true);
  $("recent-alerts").querySelector("tbody").innerHTML = status.recent_alerts.length
    ? status.recent_alerts.map((a) => `<tr><td><span class="sev sev-${a.severity}">${a.severity}</span></td>
        <td>${esc(a.sensor)}</td><td>${esc(a.rule)}</td><td>${time(a.raised_ms)}</td>
        <td>${a.cleared_ms == null ? "<b>active</b>" : time(a.cleared_ms)}</td></tr>`).join("")
    : '<tr><td colspan="5" class="muted">No alert since the agent started.</td></tr>';
}

const rank = (severity) => ({ info: 0, warning: 1, critical: 2 }[severity] ?? 0);
const bySeverity = (alerts) => alerts.slice().sort((a, b) => rank(b.severity) - rank(a.severity) || b.raised_ms - a.raised_ms);

function renderAssets(status) {
  const alarmed = new Set(status.active_alerts.map((a) => a.sensor));
  const byAsset = new Map();
  for (const s of status.sensors) {
    const d = sensors[s.id] || { asset: s.id.split(".")[0] };
    if (!byAsset.has(d.asset)) byAsset.set(d.asset, []);
    byAsset.get(d.asset).push([s, d]);
  }
  const html = [];
  for (const [asset, rows] of byAsset) {
    const alarm = rows.some(([s]) => alarmed.has(s.id));
    html.push(`<div class="asset${alarm ? " alarm" : ""}"><h3>${esc(asset)}</h3>`);
    for (const [s, d] of rows) {
      const stale = s.ts_ms == null || status.now_ms - s.ts_ms > 30000 || s.quality === "bad";
      const zone = s.zone ? `<span class="zone zone-${s.zone}" title="ISO 10816 zone">${s.zone}</span>` : "<span></span>";
      html.push(`<div class="sensor${s.id === selected ? " selected" : ""}" data-sensor="${esc(s.id)}">
        <span class="name" title="${esc(s.id)}">${esc(s.id.slice(asset.length + 1) || s.id)}</span>
        <span class="value${stale ? " stale" : ""}" data-value="${s.value ?? ""}">${fmt(s.value)} <span class="muted small">${esc(d.unit || "")}</span></span>
        ${zone}</div>`);
    }
    html.push("</div>");
  }
  $("assets").innerHTML = html.join("");
  for (const row of $("assets").querySelectorAll(".sensor")) row.onclick = () => select(row.dataset.sensor, true);
}

function renderDevices(status) {
  $("devices").querySelector("tbody").innerHTML = status.devices
    .map((d) => `<tr><td>${esc(d.id)}</td><td><span class="badge state-${d.state || "unknown"}" title="${esc(d.detail || "")}">${d.state || "starting"}</span></td>
      <td>${d.reads_ok}</td><td>${d.exceptions}</td><td>${d.timeouts}</td><td>${d.transport_errors}</td><td>${d.decode_errors}</td></tr>`)
    .join("");
}

function renderSpool(status) {
  const facts = [];
  if (status.spool) {
    const s = status.spool;
    facts.push(["waiting in the spool", `${s.pending} events (${bytes(s.pending_bytes)} of ${bytes(s.max_bytes)})`]);
    facts.push(["oldest waiting", age(s.oldest_age_s)]);
    facts.push(["dropped", s.dropped]);
  }
  if (status.link) {
    const l = status.link;
    facts.push(["link", l.kind === "mqtt" ? (l.connected ? "connected" : "disconnected") + `, ${l.inflight} in flight, ${l.reconnects} reconnects` : "stdout (no broker configured)"]);
    if (l.last_error) facts.push(["last link error", esc(l.last_error)]);
  }
  for (const [component, h] of Object.entries(status.components)) facts.push([component, `${h.state}: ${esc(h.detail)}`]);
  facts.push(["uptime", age(status.uptime_s)]);
  $("spool").innerHTML = facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
}

function select(id, byUser) {
  if (byUser) userSelected = true;
  selected = id;
  for (const row of document.querySelectorAll(".sensor")) row.classList.toggle("selected", row.dataset.sensor === id);
  loadTrend();
}

const colours = { info: "#1d4ed8", warning: "#b45309", critical: "#c62828" };

async function loadTrend() {
  if (!selected) return;
  const id = selected;
  const response = await fetch(withToken("api/trend?sensor=" + encodeURIComponent(id)));
  if (!response.ok || id !== selected) return;
  const trend = await response.json();
  const d = sensors[id] || { thresholds: [] };
  $("trend-title").textContent = `${id}${d.unit ? " (" + d.unit + ")" : ""}, ${trend.bucket_ms / 1000}-s means`;
  const xs = trend.points.map((p) => p[0] / 1000);
  const data = [xs, trend.points.map((p) => p[1])];
  const series = [{}, { label: id, stroke: "#111827", width: 2 }];
  for (const t of d.thresholds || []) {
    data.push(xs.map(() => t.value));
    series.push({ label: `${t.rule} (${t.feature} ${t.side} ${t.value})`, stroke: colours[t.severity] || "#6b7280", dash: [6, 4], width: 1 });
  }
  const width = Math.max(280, $("trend").clientWidth || 600);
  if (chart && chart.series.length === series.length && chart.sensor === id) {
    chart.setData(data);
    return;
  }
  if (chart) chart.destroy();
  chart = new uPlot({ width, height: 220, series, scales: { x: { time: true } }, legend: { show: true } }, data, $("trend"));
  chart.sensor = id;
}

function connect() {
  const events = new EventSource(withToken("api/events"));
  events.addEventListener("status", async (e) => {
    const status = JSON.parse(e.data);
    if (status.rule_hash !== ruleHash) {
      ruleHash = status.rule_hash;
      await loadSensors();
    }
    render(status);
  });
  events.onerror = () => {
    $("ready").textContent = "reconnecting…";
    $("ready").className = "badge bad";
  };
}

window.addEventListener("resize", () => chart && chart.setSize({ width: Math.max(280, $("trend").clientWidth), height: 220 }));
$("metrics-link").href = withToken("metrics");
setInterval(loadTrend, 3000);
connect();
