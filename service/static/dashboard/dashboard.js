// The portfolio dashboard: reads /v1/portfolio, /v1/projections and today's
// /v1/refusals, and follows /v1/events/stream, always with the key in the Authorization
// header (never in a URL).
"use strict";

const FEED_SIZE = 50;
const CHART_COUNTRIES = 15;
const FRESHNESS_EVERY_MS = 5000;
const REFUSALS_EVERY_MS = 15000;
const REFUSALS_PAGE = 1000;
const PROGRAM_STREAM = "00000000-0000-0000-0000-000000000000";
const RETRY_MS = [1000, 2000, 5000, 10000];

const { $, el, getJson, api, query, amount, money, country, countryName, dealLink, when,
  fillTable, setConnection, fail, hasKey, KeyRefused, Problem } = Ledger;
const state = { seen: 0, refreshing: null, again: false, stream: null, chart: null,
  timer: null, refusalsTimer: null };

function renderPortfolio(portfolio) {
  for (const dd of document.querySelectorAll("[data-total]")) {
    const value = portfolio.totals[dd.dataset.total];
    dd.replaceChildren(dd.dataset.total === "deals" ? String(value) : amount(value));
  }
  $("#portfolio-position").textContent = String(portfolio.position);
  const stages = Object.entries(portfolio.by_stage);
  fillTable($("#by-stage"), stages, ([stage, count], add) => {
    add(Ledger.label(stage), { "data-stage": stage });
    add(String(count));
  });
  const countries = [...portfolio.by_country].sort(
    (a, b) => Number(b.exposure) - Number(a.exposure) || a.country.localeCompare(b.country));
  fillTable($("#by-country"), countries, (row, add) => {
    add(country(row.country), { "data-country": row.country });
    add(String(row.deals));
    for (const figure of ["committed", "disbursed", "outstanding", "exposure"]) {
      add(amount(row[figure]), { "data-figure": figure });
    }
  });
  renderChart(countries.slice(0, CHART_COUNTRIES));
}

// Horizontal bars, so that every country keeps its label even on a phone; the table
// beside the canvas (visually hidden) is its text alternative.
function renderChart(countries) {
  const labels = countries.map((row) => row.country);
  // Millions, for the axis only: the tables keep the exact figures.
  const values = countries.map((row) => Number(row.exposure) / 1e6);
  fillTable($("#chart-values tbody"), countries, (row, add) => {
    add(countryName(row.country), { "data-country": row.country });
    add(money(row.exposure));
  });
  if (!state.chart) {
    state.chart = new window.Chart($("#exposure-chart"), {
      type: "bar",
      data: { labels, datasets: [{ label: "Exposure (USD million)", data: values,
        backgroundColor: "#457b9d" }] },
      options: { indexAxis: "y", animation: false, maintainAspectRatio: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: { title: (items) => countryName(items[0].label) } } },
        scales: { y: { ticks: { autoSkip: false } },
          x: { title: { display: true, text: "USD million" } } } },
    });
    return;
  }
  state.chart.data.labels = labels;
  state.chart.data.datasets[0].data = values;
  state.chart.update("none");
}

function renderProjections(answer) {
  const rows = answer.projections;
  fillTable($("#projections"), rows, (row, add) => {
    add(row.name, { "data-projection": row.name });
    add(String(row.position));
    add(String(row.lag), { "data-lag": row.name });
    add(row.last_error ? `${row.status}: ${row.last_error}` : row.status,
      { "data-status": row.status });
  });
  const head = rows.length ? Math.max(...rows.map((row) => row.head)) : 0;
  $("#head").textContent = String(head);
  return head;
}

// One refresh at a time; events that arrive meanwhile ask for one more. A portfolio
// behind the last event seen (the projection is still applying it) is read again.
// Nothing is asked once the key is forgotten, not even by a refresh under way.
async function refresh() {
  if (!hasKey()) return undefined;
  if (state.refreshing) { state.again = true; return state.refreshing; }
  state.refreshing = (async () => {
    do {
      state.again = false;
      const [portfolio, projections] = await Promise.all([
        getJson("/v1/portfolio"), getJson("/v1/projections")]);
      renderPortfolio(portfolio);
      renderProjections(projections);
      if (portfolio.position < state.seen) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        state.again = true;
      }
    } while (state.again && hasKey());
  })().finally(() => { state.refreshing = null; });
  return state.refreshing;
}

// Today's refusals by rule code, paged through; only an auditor (or admin) key may read
// them, and the panel says so to any other key rather than failing.
async function refreshRefusals() {
  if (!hasKey()) return;
  const today = `${new Date().toISOString().slice(0, 10)}T00:00:00Z`;
  const counts = new Map();
  let cursor = null;
  try {
    do {
      const page = await getJson(`/v1/refusals${query({ from: today, limit: REFUSALS_PAGE,
        cursor })}`);
      for (const refusal of page.refusals) {
        counts.set(refusal.code, (counts.get(refusal.code) || 0) + 1);
      }
      cursor = page.next_cursor;
    } while (cursor && hasKey());
  } catch (error) {
    if (error instanceof Problem && error.status === 403) {
      $("#refusals").dataset.state = "forbidden";
      clearInterval(state.refusalsTimer);  // a key's role does not change: ask once
      $("#refusals-note").textContent = "An auditor key shows refusals.";
      fillTable($("#refusals-by-code"), [], () => {});
      return;
    }
    throw error;
  }
  const rows = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const total = rows.reduce((sum, [, n]) => sum + n, 0);
  $("#refusals").dataset.state = "shown";
  $("#refusals-note").textContent = total
    ? `${total} refused write${total === 1 ? "" : "s"} since ${today.slice(0, 10)} 00:00Z`
    : "No write was refused today.";
  $("#refusals-by-code").closest("table").hidden = rows.length === 0;
  fillTable($("#refusals-by-code"), rows, ([code, n], add) => {
    add(code, { "data-code": code });
    add(String(n), { "data-count": code });
  });
}

// One line per event: its business (occurred) time, its type and its deal.
function showEvent(event) {
  const deal = event.deal_id === PROGRAM_STREAM
    ? el("a", { href: "/dashboard/program", class: "deal", title: "the program stream" },
      "program")
    : dealLink(event.deal_id, event.deal_id.slice(0, 8));
  deal.title = deal.title || event.deal_id;
  const li = el("li", { class: "fresh", "data-position": String(event.position) },
    el("span", { class: "position" }, `#${event.position}`),
    el("span", { class: "time", title: `recorded ${event.recorded_at}` },
      when(event.occurred_at || event.recorded_at)),
    el("span", { class: "type", title: event.type }, event.type),
    el("span", { class: "deal" }, deal),
    el("span", { class: "actor" }, event.actor));
  const list = $("#events");
  list.prepend(li);
  while (list.children.length > FEED_SIZE) list.lastElementChild.remove();
}

function onEvent(message) {
  const event = JSON.parse(message.data);
  state.seen = Math.max(state.seen, event.position);
  showEvent(event);
  refresh().catch(fail);
}

// Server-Sent Events parsed by hand: EventSource cannot send an Authorization header.
function parseFrames(buffer, deliver) {
  let text = buffer.replace(/\r\n|\r(?=.)/gs, "\n");
  let end;
  while ((end = text.indexOf("\n\n")) >= 0) {
    const frame = { id: null, event: "message", data: [] };
    for (const line of text.slice(0, end).split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") frame.data.push(value);
      else if (field === "id" || field === "event") frame[field] = value;
    }
    if (frame.data.length) deliver({ ...frame, data: frame.data.join("\n") });
    text = text.slice(end + 2);
  }
  return text;
}

async function follow(after) {
  const controller = new AbortController();
  state.stream = controller;
  const response = await api(`/v1/events/stream?after=${after}`,
    { signal: controller.signal });
  setConnection("live", "live");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = parseFrames(buffer + decoder.decode(value, { stream: true }), onEvent);
  }
}

async function followForever(after) {
  let attempt = 0;
  while (hasKey()) {
    try {
      await follow(Math.max(after, state.seen));
      attempt = 0;
    } catch (error) {
      if (error instanceof KeyRefused) return fail(error);
      if (!hasKey()) return;
    }
    setConnection("reconnecting", "reconnecting…");
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, 3)]));
    attempt += 1;
  }
}

async function open() {
  const head = renderProjections(await getJson("/v1/projections"));
  await refresh();
  followForever(Math.max(head - FEED_SIZE, 0));
  state.timer = setInterval(() => refresh().catch(fail), FRESHNESS_EVERY_MS);
  refreshRefusals().catch(fail);
  state.refusalsTimer = setInterval(() => refreshRefusals().catch(fail), REFUSALS_EVERY_MS);
}

function stop() {
  if (state.stream) state.stream.abort();
  clearInterval(state.timer);
  clearInterval(state.refusalsTimer);
}

Ledger.page({ onOpen: open, onClose: stop });
