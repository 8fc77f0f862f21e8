// The portfolio explorer: filters kept in the page's address (never the key), deals paged
// by the server, downloads fetched with the key in the Authorization header and saved from
// a Blob, the portfolio's totals, and the panels of explorer-panels.js.
"use strict";

(() => {
  const { $, el, label } = Ledger;
  const FILTERS = ["stage", "country", "license_status", "instrument", "term", "category",
    "q", "from", "to"];
  const CHOICES = ["stage", "license_status", "instrument", "term", "category"];
  const PAGE_SIZES = ["10", "25", "50", "100", "250"];
  const DEFAULT_LIMIT = "25";
  const TOTALS = [["deals", "Deals"], ["requested", "Requested"], ["approved", "Approved"],
    ["committed", "Committed"], ["outstanding", "Outstanding"], ["exposure", "Exposure"],
    ["claims_paid", "Claims paid"], ["recovered", "Recovered"]];
  const state = { filters: {}, limit: DEFAULT_LIMIT, cursor: null, previous: [], loading: 0,
    wired: false };


  // "2026-11-05" -> that day's midnight; with nextDay, the following day's (an exclusive end).
  function midnight(date, nextDay = false) {
    const moment = new Date(`${date}T00:00:00Z`);
    if (Number.isNaN(moment.getTime())) return undefined;
    if (nextDay) moment.setUTCDate(moment.getUTCDate() + 1);
    return moment.toISOString().replace(".000Z", "Z");
  }

  function fromAddress() {
    const search = new URLSearchParams(location.search);
    state.filters = Object.fromEntries(FILTERS.map((name) => [name, search.get(name) || ""]));
    const limit = search.get("limit");
    state.limit = /^[0-9]{1,4}$/.test(limit || "") && Number(limit) >= 1 &&
      Number(limit) <= 1000 ? String(Number(limit)) : DEFAULT_LIMIT;
  }

  function toAddress() {
    const limit = state.limit === DEFAULT_LIMIT ? undefined : state.limit;
    history.replaceState(null, "", location.pathname +
      Ledger.query({ ...state.filters, limit }));
  }

  // The filters as the API names them (the date inputs become business-time bounds).
  function apiFilters() {
    const f = state.filters;
    return {
      stage: f.stage, country: f.country, license_status: f.license_status,
      instrument: f.instrument, term: f.term, category: f.category,
      q: f.q,
      occurred_from: f.from ? midnight(f.from) : undefined,
      occurred_to: f.to ? midnight(f.to, true) : undefined,
    };
  }

  function options(select, values, anyText, naming = label) {
    const current = select.value;
    select.replaceChildren(el("option", { value: "" }, anyText),
      ...values.map((value) => el("option", { value }, naming(value))));
    select.value = current;
  }

  function enumOf(openapi, name) {
    const parameter = (openapi.paths?.["/v1/portfolio/deals"]?.get?.parameters || [])
      .find((p) => p.name === name);
    const schema = parameter?.schema || {};
    return (schema.anyOf || [schema]).find((s) => s.enum)?.enum || [];
  }

  async function fillChoices(portfolio) {
    const openapi = await fetch("/openapi.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
    for (const name of CHOICES) {
      options($(`#f-${name}`), enumOf(openapi, name), `any ${label(name)}`);
    }
    const countries = portfolio.by_country.map((row) => row.country);
    if (state.filters.country && !countries.includes(state.filters.country)) {
      countries.push(state.filters.country);
    }
    countries.sort((a, b) => Ledger.countryName(a).localeCompare(Ledger.countryName(b)));
    options($("#f-country"), countries, "any country", (code) =>
      `${Ledger.countryName(code)} (${code})`);
    const sizes = PAGE_SIZES.includes(state.limit) ? PAGE_SIZES
      : [...PAGE_SIZES, state.limit].sort((a, b) => a - b);
    options($("#f-limit"), sizes, "", String);
    $("#f-limit").firstChild.remove();  // a page size is always chosen
    const types = (openapi.paths?.["/v1/audit/log"]?.get?.parameters || [])
      .find((p) => p.name === "type");
    const schema = types?.schema || {};
    options($("#a-type"), (schema.anyOf || [schema]).find((s) => s.enum)?.enum || [],
      "every event type", String);
  }

  function showFilters() {
    for (const name of FILTERS) $(`#filter-form [data-param="${name}"]`).value =
      state.filters[name];
    $("#f-limit").value = state.limit;
  }

  function readFilters() {
    for (const name of FILTERS) {
      state.filters[name] = $(`#filter-form [data-param="${name}"]`).value.trim();
    }
    state.limit = $("#f-limit").value || DEFAULT_LIMIT;
  }

  function showTotals(portfolio) {
    const totals = portfolio.totals;
    $("#totals-list").replaceChildren(...TOTALS.map(([name, text]) => {
      const value = totals[name];
      const shown = name === "deals" ? el("span", {}, String(value))
        : Ledger.amount(value ?? null);
      return el("div", {}, el("dt", {}, text), el("dd", { "data-total": name }, shown));
    }));
  }

  const ALARMING = new Set(["revoked", "expired"]);

  function dealRow(deal, cell, tr) {
    tr.dataset.dealId = deal.deal_id;
    const alarm = deal.financed && ALARMING.has(deal.license_status);
    if (alarm) tr.classList.add("alarm");
    const link = Ledger.dealLink(deal.deal_id, deal.deal_id.slice(0, 8));
    link.setAttribute("title", deal.deal_id);
    cell(link);
    cell(deal.application_number, { "data-field": "application_number" });
    cell(deal.buyer.name);
    cell(Ledger.country(deal.buyer_country));
    cell(label(deal.stage), { "data-field": "stage" });
    cell(el("span", {}, label(deal.license_status),
      alarm ? el("strong", { class: "flag" }, " financed") : null),
    { "data-field": "license_status" });
    for (const name of ["requested", "committed", "outstanding", "exposure"]) {
      cell(Ledger.amount(deal[name]), { "data-field": name });
    }
  }

  async function loadDeals() {
    const ticket = ++state.loading;
    $("#results-status").textContent = "Loading…";
    const answer = await Ledger.getJson("/v1/portfolio/deals" + Ledger.query({
      ...apiFilters(), limit: state.limit, cursor: state.cursor }));
    if (ticket !== state.loading) return;
    Ledger.fillTable($("#deals-table tbody"), answer.deals, dealRow);
    const first = state.previous.length * Number(state.limit);
    const pageNumber = state.previous.length + 1;
    $("#page-label").textContent = `Page ${pageNumber}`;
    $("#results-status").textContent = answer.deals.length === 0
      ? "No deal matches these filters."
      : `Deals ${first + 1}–${first + answer.deals.length}` +
        (answer.next_cursor ? ", more on the next page." : ", the last of them.");
    $("#results").dataset.next = answer.next_cursor || "";
    $("#next-page").disabled = !answer.next_cursor;
    $("#prev-page").disabled = state.previous.length === 0;
  }

  // Filters changed: back to the first page, the address updated, the views reloaded.
  function apply() {
    state.cursor = null;
    state.previous = [];
    toAddress();
    return Promise.all([
      loadDeals(),
      ExplorerPanels.licenses(apiFilters(), narrow),
    ]).catch(Ledger.fail);
  }

  // From the license view: its deals (the same filters) narrowed to one license status,
  // or one stage and status.
  function narrow(extra) {
    setFilters({ ...state.filters, ...extra });
    $("#results-title").scrollIntoView();
  }

  function setFilters(filters) {
    state.filters = Object.fromEntries(FILTERS.map((name) => [name, filters[name] || ""]));
    showFilters();
    apply();
  }

  function page(step) {
    if (step > 0) {
      const next = $("#results").dataset.next;
      if (!next) return;
      state.previous.push(state.cursor);
      state.cursor = next;
    } else {
      if (state.previous.length === 0) return;
      state.cursor = state.previous.pop();
    }
    loadDeals().catch(Ledger.fail);
  }

  const filename = (response, fallback) =>
    /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "")?.[1] ||
    fallback;

  // The export is fetched with the key in its header, then saved from memory: a plain link
  // to the export would need the key in its URL.
  async function download(path, fallback, status) {
    status.textContent = "Preparing the download…";
    try {
      const response = await Ledger.api(path, { headers: { Accept: "*/*" } });
      const blob = await response.blob();
      const name = filename(response, fallback);
      const address = URL.createObjectURL(blob);
      const link = el("a", { href: address, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(address), 60_000);
      status.textContent = `Saved ${name} (${blob.size.toLocaleString("en")} bytes).`;
    } catch (error) {
      if (error instanceof Ledger.KeyRefused) throw error;
      status.textContent = error.status === 403
        ? "This key may not download this export: the audit log needs an auditor's key."
        : `The download failed: ${error.message}`;
    }
  }

  function downloadDeals(format) {
    const path = "/v1/portfolio/deals" + Ledger.query({ ...apiFilters(), format });
    return download(path, `deals.${format}`, $("#deals-download-status")).catch(Ledger.fail);
  }

  function downloadAudit(format) {
    const from = $("#a-from").value;
    const to = $("#a-to").value;
    const path = "/v1/audit/log" + Ledger.query({
      type: $("#a-type").value, from: from ? midnight(from) : undefined,
      to: to ? `${to}T23:59:59.999999Z` : undefined, format });
    return download(path, `audit.${format}`, $("#audit-download-status")).catch(Ledger.fail);
  }

  // A reader's key may explore but not download the audit log: say so before a click.
  async function checkAuditor() {
    const note = $("#audit-note");
    try {
      await Ledger.api("/v1/audit/log?limit=1");
      note.textContent = "This key is an auditor's: the audit log can be downloaded.";
      note.dataset.auditor = "yes";
    } catch (error) {
      if (!(error instanceof Ledger.Problem) || error.status !== 403) throw error;
      note.textContent = "This key is a reader's: downloading the audit log needs an " +
        "auditor's key. Forget this key and open the page with an auditor's key.";
      note.dataset.auditor = "no";
    }
    for (const id of ["#audit-csv", "#audit-jsonl"]) {
      $(id).disabled = note.dataset.auditor !== "yes";
    }
  }

  function wire() {
    if (state.wired) return;
    state.wired = true;
    $("#filter-form").addEventListener("submit", (event) => {
      event.preventDefault();
      readFilters();
      apply();
    });
    for (const select of document.querySelectorAll("#filter-form select, " +
      "#filter-form input[type=date]")) {
      select.addEventListener("change", () => { readFilters(); apply(); });
    }
    $("#f-clear").addEventListener("click", () => setFilters({}));
    $("#next-page").addEventListener("click", () => page(1));
    $("#prev-page").addEventListener("click", () => page(-1));
    $("#deals-csv").addEventListener("click", () => downloadDeals("csv"));
    $("#deals-jsonl").addEventListener("click", () => downloadDeals("jsonl"));
    $("#audit-csv").addEventListener("click", () => downloadAudit("csv"));
    $("#audit-jsonl").addEventListener("click", () => downloadAudit("jsonl"));
    $("#audit-form").addEventListener("submit", (event) => event.preventDefault());
  }

  async function open() {
    fromAddress();
    const portfolio = await Ledger.getJson("/v1/portfolio");  // a refused key stops here
    await fillChoices(portfolio);
    showFilters();
    showTotals(portfolio);
    wire();
    Ledger.setConnection("live", "connected");
    await loadDeals();
    ExplorerPanels.licenses(apiFilters(), narrow).catch(Ledger.fail);
    ExplorerPanels.history().catch(Ledger.fail);
    checkAuditor().catch(Ledger.fail);
  }

  Ledger.page({ onOpen: open, onClose: () => { state.loading += 1; } });
})();
