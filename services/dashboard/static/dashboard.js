// The live dashboard: fetches /api/stats for the range in the address bar and redraws.
// Exact values (counts, decimal strings for money) are kept in data-value attributes;
// the text is only their display. Money is formatted from the decimal string with BigInt,
// never through a float, so the cents shown are the cents stored.
"use strict";

const state = { charts: {}, updates: 0, timer: null };

function rangeQuery() {
  const params = new URLSearchParams(location.search);
  if (params.has("from")) return "from=" + encodeURIComponent(params.get("from"));
  return "minutes=" + (params.get("minutes") || "60");
}

// "1234.565000" -> "$1,234.57" (half away from zero to `places`).
function money(text, places = 2) {
  const negative = text.startsWith("-");
  const [whole, frac = ""] = text.replace("-", "").split(".");
  const micros = BigInt(whole + frac.padEnd(6, "0").slice(0, 6));
  const unit = 10n ** BigInt(6 - places);
  const rounded = (micros + unit / 2n) / unit;
  const scale = 10n ** BigInt(places);
  const intPart = (rounded / scale).toLocaleString("en-US");
  const fracPart = (rounded % scale).toString().padStart(places, "0");
  const zero = rounded === 0n;
  return (negative && !zero ? "-$" : "$") + intPart + (places ? "." + fracPart : "");
}

const integer = (n) => Number(n).toLocaleString("en-US");
const percent = (r) => (r === null ? "–" : (Number(r) * 100).toFixed(2) + "%");
const epc = (r) => (r === null ? "–" : money(r));

function setMetric(name, value, text) {
  const el = document.querySelector(`[data-metric="${name}"]`);
  el.dataset.value = value === null ? "" : String(value);
  el.textContent = text;
}

function cell(value, text, cls) {
  const td = document.createElement("td");
  td.dataset.value = value === null ? "" : String(value);
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillTable(name, headers, rows, render) {
  const table = document.querySelector(`[data-table="${name}"]`);
  table.replaceChildren();
  const head = table.insertRow();
  for (const h of headers) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  if (!rows.length) {
    const td = table.insertRow().insertCell();
    td.colSpan = headers.length; td.className = "empty"; td.textContent = "nothing yet";
    return;
  }
  for (const row of rows) {
    const tr = table.insertRow();
    const cells = render(row);
    tr.dataset.key = cells[0].dataset.value;
    cells.forEach((c) => tr.appendChild(c));
  }
}

const moneyCell = (v) => cell(v, money(v), v.startsWith("-") ? "negative" : "");

function renderTop(name, rows) {
  fillTable(name, ["", "clicks", "conv.", "payout", "CR", "EPC"], rows, (r) => [
    cell(r.key, r.key || "(none)"), cell(r.clicks, integer(r.clicks)),
    cell(r.conversions, integer(r.conversions)), moneyCell(r.payout),
    cell(r.cr, percent(r.cr)), cell(r.epc, epc(r.epc)),
  ]);
}

function chart(id, series, data) {
  const el = document.getElementById(id);
  const width = Math.max(el.clientWidth, 300);
  if (!state.charts[id]) {
    // The x range is set below from the data (uPlot's own padding of a lone point spans
    // years); bars grow from zero.
    const scales = {
      x: { time: true, auto: false },
      y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
    };
    state.charts[id] = new uPlot({ width, height: 220, series, scales,
      axes: [{}, { size: 60 }], legend: { live: false } }, data, el);
  } else {
    state.charts[id].setData(data, false);
    state.charts[id].setSize({ width, height: 220 });
  }
  const x = data[0];
  state.charts[id].setScale("x", { min: x[0] - 30, max: x[x.length - 1] + 30 });
}

function render(s) {
  const t = s.totals;
  setMetric("clicks", t.clicks, integer(t.clicks));
  setMetric("conversions", t.conversions, integer(t.conversions));
  setMetric("payout", t.payout, money(t.payout));
  setMetric("cr", t.cr, percent(t.cr));
  setMetric("epc", t.epc, epc(t.epc));
  setMetric("issues", t.issues, integer(t.issues));
  for (const name of ["offer", "traffic_source", "campaign"]) renderTop(name, s.top[name]);
  fillTable("events", ["event", "kind", "count", "payout"], s.events, (r) => [
    cell(r.event, r.event), cell(r.kind, r.kind), cell(r.count, integer(r.count)),
    moneyCell(r.payout),
  ]);
  fillTable("issues", ["reason", "count"], s.issues, (r) => [
    cell(r.reason, r.reason), cell(r.count, integer(r.count)),
  ]);
  const x = s.series.t;
  // Bars: each point is a whole minute's count, not a level between two samples.
  const bars = (size) => uPlot.paths.bars({ size: [size, 60] });
  chart("chart-traffic", [{}, { label: "clicks", stroke: "#2f6fde", fill: "rgba(47,111,222,0.35)",
    paths: bars(0.8), points: { show: false } },
  { label: "conversions", stroke: "#1f9d55", fill: "rgba(31,157,85,0.7)", paths: bars(0.4),
    points: { show: false } }], [x, s.series.clicks, s.series.conversions]);
  chart("chart-payout", [{}, { label: "payout ($)", stroke: "#d97706",
    fill: "rgba(217,119,6,0.45)", paths: bars(0.8), points: { show: false } }],
  [x, s.series.payout]);
  const since = new Date(s.from).toLocaleString();
  document.getElementById("status").textContent =
    `since ${since} · updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  let wait = 5;
  try {
    const response = await fetch("/api/stats?" + rangeQuery(), { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    wait = body.refresh_s;
    render(body);
    state.updates += 1;
    document.body.dataset.updates = String(state.updates);
    document.body.dataset.state = "ready";
  } catch (err) {
    document.body.dataset.state = "error";
    document.getElementById("status").textContent = "cannot load: " + err.message;
  }
  state.timer = setTimeout(refresh, wait * 1000);
}

function setupRanges() {
  const params = new URLSearchParams(location.search);
  const current = params.has("from") ? null : params.get("minutes") || "60";
  for (const button of document.querySelectorAll("#ranges button")) {
    button.classList.toggle("active", button.dataset.minutes === current);
    button.onclick = () => {
      history.replaceState(null, "", "?minutes=" + button.dataset.minutes);
      setupRanges();
      clearTimeout(state.timer);
      refresh();
    };
  }
}

setupRanges();
refresh();
