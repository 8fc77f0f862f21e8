// The deal page: /dashboard/deals/{id} shows one deal (state, timeline with proofs checked
// in this browser, licenses, decisions, postings), at a past moment with ?as_of=; the page
// without an id, /dashboard/deals, offers the search alone.
"use strict";

(() => {
  const { $, el, getJson, query, fillTable, dealLink, setConnection } = Ledger;
  const page = { id: null, asOf: null, events: [], proofs: null };

  function dealIdFromPath() {
    const match = location.pathname.match(/^\/dashboard\/deals\/([^/]+)\/?$/);
    return match ? decodeURIComponent(match[1]) : null;
  }

  // "2026-12-07T12:36:44.025" (a datetime-local value, read as UTC) -> the recorded-time
  // form the API uses, with microseconds, so that strings compare as times.
  function toInstant(value) {
    const m = value.match(/^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/);
    if (!m) return null;
    return `${m[1]}T${m[2]}:${m[3] || "00"}.${(m[4] || "").padEnd(6, "0")}Z`;
  }

  const toInput = (instant) => instant.slice(0, 23);  // "…T12:36:44.025"

  const dealOnly = () => document.querySelectorAll("[data-deal-only]");

  function showDealPanels(shown) {
    for (const section of dealOnly()) section.hidden = !shown;
  }

  function missing(message) {
    showDealPanels(false);
    const note = $("#deal-missing");
    note.textContent = message;
    note.hidden = false;
    $("#deal-title").textContent = "No such deal";
  }

  // ---- search -------------------------------------------------------------------------
  async function search(text) {
    const status = $("#search-status");
    status.textContent = "Searching…";
    try {
      const found = await getJson(`/v1/portfolio/deals${query({ q: text, limit: 25 })}`);
      fillList(found.deals);
      status.textContent = found.deals.length === 0 ? `No deal matches “${text}”.`
        : `${found.deals.length}${found.next_cursor ? "+" : ""} deal(s) match “${text}”.`;
    } catch (error) {
      status.textContent = `The search failed: ${error.message}`;
      Ledger.fail(error);
    }
  }

  function fillList(deals) {
    $("#search-results").replaceChildren(...deals.map((d) => el("li", {},
      dealLink(d.deal_id, d.application_number),
      ` ${d.buyer?.name || "–"} · ${Ledger.countryName(d.buyer_country)}` +
      (d.end_user && d.end_user.name !== d.buyer?.name ? ` (end user ${d.end_user.name})` : "") +
      ` · ${d.stage}`)));
  }

  // ---- the deal -----------------------------------------------------------------------
  async function fetchState() {
    const path = `/v1/deals/${encodeURIComponent(page.id)}${query({ as_of: page.asOf })}`;
    try {
      return await getJson(path);
    } catch (error) {
      if (error.status === 404 && page.asOf) return null;  // it did not exist yet
      throw error;
    }
  }

  async function fetchTrail() {
    try {
      const trail = await getJson(`/v1/audit/deals/${encodeURIComponent(page.id)}`);
      return new Map(trail.entries.map((entry) => [entry.version, entry]));
    } catch (error) {
      if (error.status === 403) return null;  // a reader key: no summaries, no proofs
      throw error;
    }
  }

  async function load() {
    const state = await fetchState();
    const [events, trail, exposure] = await Promise.all([
      getJson(`/v1/deals/${encodeURIComponent(page.id)}/events`),
      fetchTrail(),
      getJson(`/v1/exposure/deals/${encodeURIComponent(page.id)}`),
    ]);
    page.events = events.events;
    $("#deal-missing").hidden = true;
    showDealPanels(true);
    if (state === null) {
      $("#deal-title").textContent = "Deal (not applied yet at that moment)";
      $("#as-of-status").textContent = `As of ${page.asOf}: the deal did not exist yet.`;
      for (const id of ["#deal-state", "#deal-licenses", "#deal-decisions", "#deal-postings"]) {
        $(id).hidden = true;
      }
    } else {
      $("#deal-title").textContent = `Deal ${state.application_number}`;
      document.title = `ExportAI Deal Ledger — ${state.application_number}`;
      DealParts.renderState(state);
      DealParts.renderPostings(exposure, page.asOf);
      $("#as-of-status").textContent = page.asOf
        ? `As of ${page.asOf}: version ${state.version} of ${page.events.length}.`
        : `Now: version ${state.version}.`;
    }
    $("#deal-state").dataset.version = state ? state.version : 0;
    renderTimeline(state, trail);
    setConnection("live", page.asOf ? "past view" : "current");
    if (trail) verifyAll(); else {
      $("#timeline-note").textContent = "Summaries and proofs of inclusion need an auditor " +
        "key; this key may read the deal but not the audit trail.";
    }
  }

  // ---- timeline -----------------------------------------------------------------------
  function reversedVersions(state) {
    const reversed = new Set(state ? state.reversed_versions : []);
    for (const e of page.events) {
      if (e.type === "EventReversed" && (!page.asOf || e.recorded_at <= page.asOf)) {
        reversed.add(e.data.version);
      }
    }
    return reversed;
  }

  function renderTimeline(state, trail) {
    const reversed = reversedVersions(state);
    fillTable($("#timeline"), page.events, (e, cell, tr) => {
      const later = page.asOf !== null && e.recorded_at > page.asOf;
      tr.dataset.version = e.version;
      tr.dataset.type = e.type;
      if (later) tr.dataset.later = "";
      if (reversed.has(e.version)) tr.dataset.reversed = "";
      cell(e.version);
      cell(el("span", {}, el("strong", {}, e.type),
        reversed.has(e.version) ? el("span", { class: "badge reversed" }, " reversed") : null,
        e.type === "EventReversed" ? ` (of version ${e.data.version})` : null,
        later ? el("span", { class: "badge later" }, " after this moment") : null));
      cell(DealParts.exactWhen(e.occurred_at));
      cell(DealParts.exactWhen(e.recorded_at));
      cell(e.actor);
      cell(DealParts.desk(e.type));
      cell(e.source || "–");
      cell(e.policy_version || "–");
      cell(trail?.get(e.version)?.summary || "–", { class: "summary" });
      cell(el("span", { class: "proof", "data-proof": trail ? "pending" : "unavailable",
        "data-event": e.event_id }, trail ? "checking…" : "auditor key needed"));
    });
    $("#timeline-note").textContent = `${page.events.length} event(s)` +
      (reversed.size ? `, ${reversed.size} reversed` : "") + ".";
  }

  // ---- proofs -------------------------------------------------------------------------
  // One signed digest per page load: its signature is checked with the key the server
  // publishes (the auditor's page takes the key from elsewhere), then every event's
  // inclusion proof is followed to that digest's root, here, with WebCrypto.
  async function signedDigest() {
    if (page.proofs) return page.proofs;
    const [digest, key] = await Promise.all([getJson("/v1/audit/digest"),
      getJson("/v1/audit/public-key")]);
    const signed = await LedgerProofs.checkSignature(digest, key);
    if (!signed) throw new Error("the digest's signature does not verify");
    page.proofs = digest;
    return digest;
  }

  function showProof(node, ok, text) {
    node.dataset.proof = ok ? "verified" : "failed";
    node.textContent = ok ? "verified" : `failed: ${text}`;
    node.title = text;
  }

  async function verifyOne(event, digest) {
    const node = document.querySelector(`.proof[data-event="${event.event_id}"]`);
    if (!node) return;
    if (event.position > digest.position) {
      node.dataset.proof = "pending";
      node.textContent = "after the signed digest";
      return;
    }
    try {
      const proof = await getJson(`/v1/audit/proof${query({ event_id: event.event_id,
        tree_size: digest.tree_size })}`);
      const result = await LedgerProofs.checkEvent(event, proof, digest.root);
      showProof(node, result.ok, result.ok
        ? `${result.reason}, root ${digest.root.slice(0, 12)}… signed ${digest.signed_at}`
        : result.reason);
    } catch (error) {
      showProof(node, false, error.message);
    }
  }

  async function verifyAll() {
    let digest;
    try {
      digest = await signedDigest();
    } catch (error) {
      for (const node of document.querySelectorAll(".proof")) {
        showProof(node, false, `no signed digest: ${error.message}`);
      }
      return;
    }
    $("#timeline-note").textContent += ` Proofs against the digest of ${digest.tree_size} ` +
      `events signed ${digest.signed_at}.`;
    for (const event of page.events) await verifyOne(event, digest);
  }

  // ---- as of --------------------------------------------------------------------------
  function remember() {
    const url = new URL(location.href);
    if (page.asOf) url.searchParams.set("as_of", page.asOf);
    else url.searchParams.delete("as_of");
    history.replaceState(null, "", url);
  }

  async function showAsOf(instant) {
    page.asOf = instant;
    $("#as-of").value = instant ? toInput(instant) : "";
    remember();
    try {
      await load();
    } catch (error) {
      $("#as-of-status").textContent = `Could not load the deal: ${error.message}`;
      Ledger.fail(error);
    }
  }

  function wire() {
    $("#search-form").addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const text = $("#search-q").value.trim();
      if (text) search(text);
    });
    $("#as-of-form").addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const instant = toInstant($("#as-of").value);
      if (instant) showAsOf(instant);
      else $("#as-of-status").textContent = "Give a date and time.";
    });
    $("#as-of-now").addEventListener("click", () => showAsOf(null));
  }

  async function open() {
    page.id = dealIdFromPath();
    page.proofs = null;
    if (page.id === null) {
      await getJson("/v1/projections");  // checks the key
      $("#deal-title").textContent = "Find a deal";
      showDealPanels(false);
      setConnection("live", "ready");
      return;
    }
    const asked = new URLSearchParams(location.search).get("as_of");
    page.asOf = asked ? toInstant(asked.replace(/Z$/, "").slice(0, 26)) : null;
    if (page.asOf) $("#as-of").value = toInput(page.asOf);
    try {
      await load();
    } catch (error) {
      if (error.status === 404) {
        missing(`No such deal: there is no deal with id “${page.id}” on this ledger. ` +
          "Search for it by application number, buyer or end user above.");
        setConnection("live", "no such deal");
        return;
      }
      throw error;
    }
  }

  wire();
  Ledger.page({ onOpen: open, onClose: () => { page.proofs = null; } });
})();
