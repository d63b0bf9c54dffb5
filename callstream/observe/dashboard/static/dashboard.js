// callstream dashboard: charts from /api/history, then live samples from /api/stream (SSE).
"use strict";

const MAX_POINTS = 450;
const PALETTE = ["#58a6ff", "#3fb950", "#d29922", "#f85149", "#a371f7", "#39c5cf", "#ff7b72", "#e3b341",
                 "#7ee787", "#79c0ff", "#d2a8ff", "#ffa657"];
const state = { board: null, summary: null, points: 0, lastSample: null };
const charts = {};

Chart.defaults.color = "#8a98a8";
Chart.defaults.borderColor = "#26313d";
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const fmt = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v)) ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });

// --- time-series charts ------------------------------------------------------------------

function timeChart(id, { yLabel = "", dashed = false } = {}) {
  const chart = new Chart(document.getElementById(id), {
    type: "line",
    data: { datasets: [] },
    options: {
      parsing: false, spanGaps: true,
      elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0.2 } },
      scales: {
        x: { type: "linear", ticks: { callback: (v) => clock(v), maxTicksLimit: 6 } },
        y: { beginAtZero: true, title: { display: !!yLabel, text: yLabel } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 10 } } },
    },
  });
  chart.$dashed = dashed;
  return chart;
}

function series(chart, label) {
  let dataset = chart.data.datasets.find((d) => d.label === label);
  if (!dataset) {
    const color = PALETTE[chart.data.datasets.length % PALETTE.length];
    dataset = { label, data: [], borderColor: color, backgroundColor: color };
    if (chart.$dashed) dataset.borderDash = [6, 3];
    chart.data.datasets.push(dataset);
  }
  return dataset;
}

function push(chart, label, t, y) {
  if (y === null || y === undefined) return;
  const data = series(chart, label).data;
  if (data.length && data[data.length - 1].x >= t) return;  // the stream repeats the history's last point
  data.push({ x: t, y });
  if (data.length > MAX_POINTS) data.splice(0, data.length - MAX_POINTS);
}

function addPoint(p, redraw = true) {
  if (!p) return;
  const t = p.t;
  push(charts.throughput, "appended", t, p.produce_total);
  push(charts.throughput, "consumed (all groups, committed)", t, p.consume_total);
  for (const [group, lag] of Object.entries(p.lag || {})) push(charts.lag, group, t, lag);
  for (const [group, seconds] of Object.entries(p.lag_seconds || {})) push(charts.lagSeconds, group, t, seconds);
  for (const [stage, ms] of Object.entries(p.p50_ms || {})) push(charts.p50, stage, t, ms);
  for (const [stage, ms] of Object.entries(p.p99_ms || {})) push(charts.p99, stage, t, ms);
  push(charts.errors, "dead letters", t, p.dead_letters);
  push(charts.errors, "client errors", t, p.client_errors);
  state.points += 1;
  if (redraw) for (const key of ["throughput", "lag", "lagSeconds", "p50", "p99", "errors"]) charts[key].update("none");
}

// --- bar charts --------------------------------------------------------------------------

function barChart(id, { horizontal = false, min, max } = {}) {
  return new Chart(document.getElementById(id), {
    type: "bar",
    data: { labels: [], datasets: [{ label: "", data: [], backgroundColor: PALETTE[0] }] },
    options: {
      indexAxis: horizontal ? "y" : "x",
      scales: { [horizontal ? "x" : "y"]: { min, max, beginAtZero: true } },
      plugins: { legend: { display: false } },
    },
  });
}

function setBars(chart, entries, colorOf) {
  chart.data.labels = entries.map(([k]) => k);
  chart.data.datasets[0].data = entries.map(([, v]) => v);
  chart.data.datasets[0].backgroundColor = entries.map(([, v], i) => colorOf ? colorOf(v) : PALETTE[i % PALETTE.length]);
  chart.update("none");
}

const sentimentColor = (v) => (v <= -0.3 ? "#f85149" : v < 0.05 ? "#d29922" : "#3fb950");

// --- operations view ----------------------------------------------------------------------

function renderOperations(msg) {
  const s = msg.summary;
  state.summary = s;
  const lags = Object.values(s.groups);
  const maxLag = lags.reduce((m, g) => Math.max(m, g.lag), 0);
  const maxLagSeconds = lags.reduce((m, g) => Math.max(m, g.lag_seconds), 0);
  document.getElementById("tile-produce").textContent = fmt(msg.point ? msg.point.produce_total : null, 1);
  document.getElementById("tile-consume").textContent = fmt(msg.point ? msg.point.consume_total : null, 1);
  document.getElementById("tile-lag").textContent = `${fmt(maxLag)} / ${fmt(maxLagSeconds, 1)} s`;
  document.getElementById("tile-dead").textContent = `${fmt(s.dead_letters.total)} (${fmt(s.dead_letters.per_minute, 1)}/min)`;
  document.getElementById("tile-errors").textContent = fmt(s.client_errors.total);
  document.getElementById("tile-brokers").textContent = s.cluster.reachable ? `${s.cluster.brokers_up}/${s.cluster.brokers_expected}` : "down";
  document.getElementById("tile-urp").textContent = `${fmt(s.cluster.under_replicated)} / ${fmt(s.cluster.offline_partitions)} offline`;
  document.getElementById("tile-archive").textContent = s.archive ? `${fmt(s.archive.max_freshness_seconds, 1)} s` : "no archive";

  const c = msg.cluster;
  const kv = document.getElementById("broker-health");
  kv.replaceChildren(
    el("span", { class: "muted" }, "cluster"), el("span", {}, c.reachable ? "reachable" : `unreachable: ${c.error || ""}`),
    el("span", { class: "muted" }, "brokers up"), el("span", {}, `${c.brokers_up} of ${c.brokers_expected}`),
    el("span", { class: "muted" }, "controller"), el("span", {}, c.controller_id ?? "–"),
    el("span", { class: "muted" }, "under-replicated"), el("span", {}, fmt(s.cluster.under_replicated)),
    el("span", { class: "muted" }, "offline partitions"), el("span", {}, fmt(s.cluster.offline_partitions)),
  );
  document.getElementById("breaches").replaceChildren(
    ...(msg.breaches.length ? msg.breaches.map((b) => el("li", { class: "sev-critical" }, b)) : [el("li", { class: "muted" }, "all thresholds met")]));
  const health = document.getElementById("health");
  health.textContent = msg.breaches.length ? `${msg.breaches.length} threshold(s) breached` : "healthy";
  health.className = `pill ${msg.breaches.length ? "bad" : "ok"}`;
  document.getElementById("updated").textContent = `sampled ${clock(s.sampled_at_ms / 1000)}`;

  table("processors", Object.entries(s.processors), [
    ["processor"], ["events/s", (p) => fmt(p.events_per_s, 1)],
    ["per event", (p) => (p.step_mean_us === null ? "–" : `${fmt(p.step_mean_us)} µs`)],
    ["checkpoints", (p) => fmt(p.checkpoints)],
    ["checkpoint mean", (p) => (p.checkpoint_mean_ms === null ? "–" : `${fmt(p.checkpoint_mean_ms, 1)} ms`)],
    ["checkpoint p99", (p) => (p.checkpoint_p99_ms_beyond !== null ? `> ${fmt(p.checkpoint_p99_ms_beyond / 1000)} s`
      : p.checkpoint_p99_ms_at_most === null ? "–" : `≤ ${fmt(p.checkpoint_p99_ms_at_most)} ms`)],
    ["stopped", (p) => `${fmt(p.stopped_ms_per_s)} ms/s`],
  ]);

  const archive = (msg.archive || []).filter((a) => a.freshness_seconds !== null)
    .map((a) => [a.topic.replace(/^callstream\./, ""), a.freshness_seconds]);
  setBars(charts.archive, archive, (v) => (v > 60 ? "#f85149" : v > 30 ? "#d29922" : "#3fb950"));
}

// --- supervisor view ----------------------------------------------------------------------

function table(id, rows, columns) {
  const head = el("tr", {}, ...columns.map(([title]) => el("th", {}, title)));
  const body = rows.map(([key, row]) => el("tr", {}, el("td", {}, key), ...columns.slice(1).map(([, get]) => el("td", {}, get(row)))));
  document.getElementById(id).replaceChildren(head, ...body);
}

function renderSupervisor(board) {
  state.board = board;
  document.getElementById("tile-calls").textContent = fmt(board.calls_in_progress_total);
  document.getElementById("tile-escalations").textContent = fmt(board.open_escalations.length);
  document.getElementById("tile-fraud").textContent = fmt(board.fraud.length);
  document.getElementById("tile-alerts").textContent = fmt(board.alerts.length);
  setBars(charts.queues, Object.entries(board.calls_in_progress));
  setBars(charts.sentimentQueue, Object.entries(board.sentiment.queue), sentimentColor);
  setBars(charts.sentimentAgent, Object.entries(board.sentiment.agent).slice(0, 30), sentimentColor);
  setBars(charts.quality, Object.entries(board.agents).filter(([, a]) => a.avg_quality !== null).map(([k, a]) => [k, a.avg_quality]),
          (v) => (v < 60 ? "#f85149" : v < 80 ? "#d29922" : "#3fb950"));

  document.getElementById("alerts").replaceChildren(...board.alerts.slice(0, 50).map((a) =>
    el("li", { class: `sev-${a.severity} alert`, "data-contact": a.contact_id, "data-kind": a.kind, onclick: () => openCall(a.contact_id) },
       el("span", { class: `badge ${a.severity}` }, a.kind), `${clock(a.at_ms / 1000)} ${a.message}`,
       el("span", { class: "muted" }, `  ${a.queue || ""} ${a.agent_id || ""}`))));
  document.getElementById("escalations").replaceChildren(...board.open_escalations.map((e) =>
    el("li", { class: "sev-warning escalation", "data-contact": e.contact_id, onclick: () => openCall(e.contact_id) },
       `${e.contact_id} `, el("span", { class: "muted" }, `${e.reasons.join(", ")} · ${e.queue || "?"} · ${e.agent_id || "?"}`))));
  document.getElementById("fraud").replaceChildren(...board.fraud.map((f) =>
    el("li", { "data-contact": f.contact_id, onclick: () => openCall(f.contact_id) },
       el("span", { class: `badge ${f.level}` }, `${f.level} ${fmt(f.score, 2)}`), `${f.contact_id} `,
       el("span", { class: "muted" }, f.reasons.join(", ")))));
  const columns = [["", null], ["in progress", (r) => fmt(r.in_progress)], ["handled", (r) => fmt(r.handled)],
    ["avg handle s", (r) => fmt(r.avg_handle_s)], ["avg wait s", (r) => fmt(r.avg_wait_s)],
    ["sentiment", (r) => fmt(r.avg_sentiment, 2)], ["quality", (r) => fmt(r.avg_quality)],
    ["escalations", (r) => fmt(r.escalations)], ["fraud alerts", (r) => fmt(r.fraud_alerts)]];
  columns[0][0] = "agent";
  table("agents", Object.entries(board.agents), columns);
  columns[0][0] = "queue";
  table("queues", Object.entries(board.queues), columns);
}

// --- call drill-down ----------------------------------------------------------------------

async function openCall(contactId) {
  showView("call");
  document.getElementById("search").value = contactId;
  document.getElementById("suggestions").replaceChildren();
  const header = document.getElementById("call-header");
  header.textContent = `loading ${contactId} …`;
  const response = await fetch(`/api/calls/${encodeURIComponent(contactId)}`);
  const body = await response.json();
  const list = document.getElementById("timeline");
  if (!response.ok) {
    header.textContent = `${body.error}${body.hint ? ` (${body.hint})` : ""}`;
    list.replaceChildren();
    return;
  }
  const start = body.events.length ? body.events[0].t_ms : 0;
  header.textContent = `call ${body.contact_id}: ${body.events.length} events (${body.from_archive} archived, ${body.from_kafka} from Kafka)` +
    (body.contact_ids.length > 1 ? ` · linked contacts ${body.contact_ids.join(", ")}` : "");
  header.dataset.contact = body.contact_id;
  const kinds = {};
  for (const e of body.events) kinds[e.kind] = (kinds[e.kind] || 0) + 1;
  document.getElementById("call-kinds").replaceChildren(...Object.entries(kinds).map(([k, n]) => el("span", { class: "badge" }, `${k} ${n}`)));
  list.replaceChildren(...body.events.map((e) =>
    el("li", { class: `kind-${e.kind}`, "data-type": e.event_type || "" },
       el("span", { class: "when" }, `+${fmt((e.t_ms - start) / 1000, 1)} s`),
       el("span", { class: "kind" }, e.event_type || "?"),
       el("span", { class: "what" }, e.summary))));
}

async function suggest() {
  const q = document.getElementById("search").value.trim();
  const list = document.getElementById("suggestions");
  if (q.length < 2) { list.replaceChildren(); return; }
  const response = await fetch(`/api/search?q=${encodeURIComponent(q)}`);
  if (!response.ok) return;
  const found = await response.json();
  list.replaceChildren(...found.slice(0, 10).map((c) =>
    el("li", { onclick: () => openCall(c.contact_id) }, `${c.contact_id} `, el("span", { class: "muted" }, `${c.state} · ${c.queue || ""} · ${c.agent_id || ""}`))));
}

// --- wiring -------------------------------------------------------------------------------

function showView(name) {
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === `view-${name}`);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.view === name);
}

function onSample(msg) {
  state.lastSample = msg;
  addPoint(msg.point);
  renderOperations(msg);
  renderSupervisor(msg.board);
}

async function start() {
  charts.throughput = timeChart("chart-throughput", { yLabel: "msgs/s" });
  charts.lag = timeChart("chart-lag", { yLabel: "messages" });
  charts.lagSeconds = timeChart("chart-lag-seconds", { yLabel: "seconds" });
  charts.p50 = timeChart("chart-p50", { yLabel: "ms" });
  charts.p99 = timeChart("chart-p99", { yLabel: "ms", dashed: true });
  charts.errors = timeChart("chart-errors");
  charts.archive = barChart("chart-archive", { horizontal: true });
  charts.queues = barChart("chart-queues");
  charts.sentimentQueue = barChart("chart-sentiment-queue", { horizontal: true, min: -1, max: 1 });
  charts.sentimentAgent = barChart("chart-sentiment-agent", { horizontal: true, min: -1, max: 1 });
  charts.quality = barChart("chart-quality", { horizontal: true, min: 0, max: 100 });

  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("search").value.trim();
    if (q) openCall(q);
  });
  document.getElementById("search").addEventListener("input", suggest);

  const history = await (await fetch("/api/history")).json();
  for (const point of history) addPoint(point, false);
  for (const chart of Object.values(charts)) chart.update("none");

  const source = new EventSource("/api/stream");
  source.addEventListener("sample", (event) => onSample(JSON.parse(event.data)));
  source.onerror = () => {
    const health = document.getElementById("health");
    health.textContent = "reconnecting…";
    health.className = "pill";
  };
  const wanted = new URLSearchParams(location.search).get("call");
  if (wanted) openCall(wanted);
}

window.callstream = { charts, state, openCall, showView };
start();
