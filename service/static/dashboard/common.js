// What every dashboard page shares: the header and its navigation, the key (kept in this
// tab's session storage, sent only in the Authorization header, never in a URL), calls to
// the API, and how figures, countries and deal ids are shown.
"use strict";

const Ledger = (() => {
  const KEY_SLOT = "exim-ledger.api-key";
  const PAGES = [
    ["portfolio", "/dashboard", "Portfolio"],
    ["explorer", "/dashboard/explorer", "Explorer"],
    ["program", "/dashboard/program", "Program"],
    ["audit", "/dashboard/audit", "Audit"],
  ];
  const state = { key: null, onOpen: null, onClose: null };

  class KeyRefused extends Error {}

  class Problem extends Error {
    constructor(status, body) {
      super(body.detail || body.title || `HTTP ${status}`);
      this.status = status;
      this.code = body.code;
    }
  }

  const $ = (selector, root = document) => root.querySelector(selector);

  // el("a", {href: "/x", class: "deal"}, "text", child...): a node, never parsed HTML.
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== undefined && value !== null && value !== false) {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    node.append(...children.filter((c) => c !== undefined && c !== null));
    return node;
  }

  function headers(extra = {}) {
    return { Authorization: `Bearer ${state.key}`, Accept: "application/json", ...extra };
  }

  async function api(path, init = {}) {
    const response = await fetch(path, { ...init, cache: "no-store",
      headers: headers(init.headers || {}) });
    if (response.status === 401) {
      const problem = await response.json().catch(() => ({}));
      throw new KeyRefused(problem.detail || "the key was refused (401)");
    }
    if (!response.ok) {
      throw new Problem(response.status, await response.json().catch(() => ({})));
    }
    return response;
  }

  const getJson = async (path) => (await api(path)).json();

  // A query string from an object, leaving out empty values.
  function query(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(name, value);
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  // Money arrives as decimal strings: group the digits without a detour through floats.
  function money(text) {
    if (text === null || text === undefined) return "–";
    const [whole, cents] = String(text).split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return cents === undefined ? grouped : `${grouped}.${cents}`;
  }

  // 1234567.89 -> "1.23M". Display only: the exact figure goes in the element's title.
  function compact(text) {
    if (text === null || text === undefined) return "–";
    const value = Number(text);
    const size = Math.abs(value);
    for (const [unit, scale] of [["T", 1e12], ["B", 1e9], ["M", 1e6], ["K", 1e3]]) {
      if (size >= scale) return `${(value / scale).toFixed(size / scale >= 100 ? 0 : 2)}${unit}`;
    }
    return money(text);
  }

  // A compact amount whose exact value is its title (and what a screen reader reads).
  function amount(text, attributes = {}) {
    return el("span", { class: "amount", title: `${money(text)} USD`,
      "data-exact": text ?? "", ...attributes }, compact(text));
  }

  let regions = null;
  function countryName(code) {
    if (!code) return "–";
    try {
      regions = regions || new Intl.DisplayNames(["en"], { type: "region" });
      const name = regions.of(code);
      return name && name !== code ? name : code;
    } catch {
      return code;
    }
  }

  function country(code) {
    return el("span", { class: "country", title: code }, countryName(code),
      el("span", { class: "code" }, ` ${code || ""}`));
  }

  // A name the API spells with underscores, for reading: "license_revoked" -> "license
  // revoked" (the data-* attributes keep the name itself).
  const label = (name) => String(name).replaceAll("_", " ");

  function dealLink(id, text) {
    return el("a", { href: `/dashboard/deals/${encodeURIComponent(id)}`, class: "deal" },
      text || id);
  }

  // "2026-11-05T10:00:00.123456Z" -> "2026-11-05 10:00:00Z", kept on one line.
  function when(text) {
    if (!text) return "–";
    return el("time", { datetime: text }, `${text.slice(0, 10)} ${text.slice(11, 19)}Z`);
  }

  // Rows into a table body. Each cell carries its column's heading (data-label), so the
  // narrow layout can show each row as a card of labelled fields.
  function fillTable(tbody, rows, toCells) {
    const labels = [...(tbody.closest("table")?.querySelectorAll("thead th") || [])]
      .map((th) => th.textContent.trim());
    tbody.replaceChildren(...rows.map((item) => {
      const tr = el("tr");
      toCells(item, (content, attributes = {}) => {
        const td = el("td", { "data-label": labels[tr.children.length], ...attributes });
        td.append(content instanceof Node ? content : String(content ?? "–"));
        tr.append(td);
      }, tr);
      return tr;
    }));
  }

  function setConnection(name, text) {
    const status = $("#connection");
    status.dataset.state = name;
    status.textContent = text;
  }

  function chrome() {
    const page = document.body.dataset.page;
    const top = $("#top");
    top.replaceChildren(
      el("a", { class: "skip", href: "#board" }, "Skip to content"),
      el("p", { class: "brand" }, el("a", { href: "/dashboard" }, "ExportAI Deal Ledger")),
      el("nav", { "aria-label": "Pages" }, el("ul", {}, ...PAGES.map(([name, href, label]) =>
        el("li", {}, el("a", { href, "aria-current": name === page ? "page" : null },
          label))))),
      el("span", { id: "connection", "data-state": "idle", role: "status",
        "aria-live": "polite" }, "not connected"),
      el("button", { id: "forget", type: "button", hidden: true }, "Forget key"),
    );
    // No name on the input: even if a script failed, the key never reaches a URL.
    const form = el("form", { id: "key-form", method: "post", hidden: true },
      el("label", { for: "key" }, "API key (reader, auditor or admin)"),
      el("input", { id: "key", type: "password", autocomplete: "off", spellcheck: "false",
        required: true }),
      el("button", { type: "submit" }, "Open"),
      el("p", { id: "key-error", role: "alert" }),
      el("p", { class: "note" }, "The key stays in this tab (session storage) and is sent " +
        "only in the Authorization header."));
    top.after(form);
    form.addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const key = $("#key").value.trim();
      $("#key").value = "";
      if (key) start(key);
    });
    $("#forget").addEventListener("click", () => close("The key was forgotten."));
  }

  async function start(key) {
    state.key = key;
    try {
      await state.onOpen();
      sessionStorage.setItem(KEY_SLOT, key);  // accepted: kept for this tab only
      $("#key-form").hidden = true;
      $("#board").hidden = false;
      $("#forget").hidden = false;
    } catch (error) {
      close(error instanceof KeyRefused || error.status === 403 ? error.message
        : `The ledger did not answer: ${error.message}`);
    }
  }

  function close(message) {
    state.key = null;
    sessionStorage.removeItem(KEY_SLOT);
    if (state.onClose) state.onClose();
    $("#board").hidden = true;
    $("#forget").hidden = true;
    $("#key-form").hidden = false;
    $("#key-error").textContent = message || "";
    setConnection("idle", "not connected");
  }

  // A page calls this once: onOpen loads it (a refused key throws KeyRefused), onClose
  // stops whatever it runs.
  function page({ onOpen, onClose }) {
    state.onOpen = onOpen;
    state.onClose = onClose;
    chrome();
    const kept = sessionStorage.getItem(KEY_SLOT);
    if (kept) start(kept); else close();
  }

  function fail(error) {
    if (error instanceof KeyRefused) return close(error.message);
    setConnection("reconnecting", `error: ${error.message}`);
    return undefined;
  }

  const hasKey = () => state.key !== null;

  return { $, el, api, getJson, query, money, compact, amount, countryName, country,
    label, dealLink, when, fillTable, setConnection, page, fail, hasKey, headers,
    KeyRefused, Problem };
})();
