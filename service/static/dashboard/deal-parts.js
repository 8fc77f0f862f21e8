// The deal page's panels drawn from one derived state (GET /v1/deals/{id}) and the
// deal's postings (GET /v1/exposure/deals/{id}). Nothing here fetches: deal.js does.
"use strict";

const DealParts = (() => {
  const { el, amount, country, when, fillTable, $ } = Ledger;

  // Who decides each event type (domain/desks.py, SPEC §2 Desks). The API does not say
  // which desk a key sits at, so the timeline shows the desk the event type belongs to;
  // tests/unit/test_deal_page_desks.py keeps this table equal to the domain's.
  const DESKS = {
    DealApplied: "origination", DealAmended: "origination", LicenseRequested: "origination",
    CommerceLicenseApproved: "licensing", CommerceLicenseDenied: "licensing",
    CommerceLicenseRevoked: "licensing", PartyScreened: "licensing",
    BoardVoted: "board", CongressionalNotified: "board", ProgramAuthorized: "board",
    ProgramSuspended: "board",
    DealFinanced: "servicing", FundsDisbursed: "servicing", RepaymentReceived: "servicing",
    ClaimPaid: "servicing", RecoveryReceived: "servicing", EventReversed: "servicing",
    DealCancelled: "origination or servicing",
  };
  const desk = (type) => DESKS[type] || "–";

  const FIGURES = [
    ["requested", "Requested"], ["approved", "Approved"], ["committed", "Committed"],
    ["disbursed", "Disbursed"], ["principal_repaid", "Principal repaid"],
    ["interest_received", "Interest received"], ["claims_paid", "Claims paid"],
    ["recovered", "Recovered"], ["cancelled", "Cancelled"], ["outstanding", "Outstanding"],
    ["undisbursed", "Undisbursed"], ["exposure", "Exposure"],
    ["contract_value", "Contract value"],
  ];

  const party = (p) => (p ? el("span", {}, `${p.name} · `, country(p.country)) : "–");
  const list = (values) => (values && values.length ? values.join(", ") : "–");

  // fillTable, or one row saying there is nothing (an empty table reads as still loading).
  function fillOrNone(tbody, rows, toCells) {
    if (rows.length) return fillTable(tbody, rows, toCells);
    const columns = tbody.closest("table").querySelectorAll("thead th").length;
    return tbody.replaceChildren(el("tr", { class: "none" },
      el("td", { colspan: columns }, "None.")));
  }

  // A time shown to the second, its full recorded precision in the title.
  function exactWhen(text) {
    const node = when(text);
    if (text) node.title = text;
    return node;
  }

  function facts(dl, rows) {
    dl.replaceChildren(...rows.map(([name, label, value]) => el("div", {},
      el("dt", {}, label),
      el("dd", { "data-fact": name },
        value instanceof Node ? value : String(value ?? "–")))));
  }

  function renderState(state) {
    facts($("#state-facts"), [
      ["application_number", "Application", state.application_number],
      ["stage", "Stage", state.stage],
      ["license_status", "License status", state.license_status],
      ["board_status", "Board status", state.board_status],
      ["version", "Version", state.version],
      ["policy_version", "Policy version", state.policy_version],
      ["exporter", "Exporter", party(state.exporter)],
      ["buyer", "Buyer", party(state.buyer)],
      ["end_user", "End user", party(state.end_user)],
      ["instrument", "Instrument", state.instrument],
      ["term", "Term", `${state.term} (${state.tenor_years} years)`],
      ["us_content_pct", "US content", `${state.us_content_pct} %`],
      ["controlled_eccns", "Controlled ECCNs", list(state.controlled_eccns)],
      ["categories", "Categories", list(state.categories)],
      ["latest_occurred_at", "Latest business time", when(state.latest_occurred_at)],
      ["updated_at", "Last recorded", when(state.updated_at)],
      ["closed", "Closed", state.closed ? `yes: ${state.cancellation_reason || ""}` : "no"],
    ]);
    const figures = $("#state-figures");
    figures.replaceChildren(...FIGURES.map(([name, label]) => el("div", {},
      el("dt", {}, label),
      el("dd", {}, amount(state[name], { "data-figure": name })))));
    fillOrNone($("#items"), state.items || [], (item, cell) => {
      cell(item.description);
      cell(item.category);
      cell(item.eccn);
      cell(item.quantity);
      cell(amount(item.value));
    });
    renderLicenses(state.licenses || []);
    renderDecisions(state);
  }

  function lines(license) {
    const items = (license.lines || []).map((line) => el("li", {},
      `${line.eccn} × ${line.quantity} `, amount(line.value)));
    return items.length ? el("ul", { class: "license-lines" }, ...items) : "–";
  }

  function renderLicenses(licenses) {
    fillOrNone($("#licenses"), licenses, (license, cell) => {
      cell(license.application_ref);
      cell(license.license_number || "–");
      cell(license.status, { "data-license-status": license.status });
      cell(license.valid_until || "–");
      cell(party(license.consignee));
      cell(lines(license));
    });
  }

  function renderDecisions(state) {
    const vote = state.board_vote;
    const notice = state.congressional_notice;
    const financing = state.financing;
    facts($("#decisions"), [
      ["board_vote", "Board vote", vote ? `${vote.decision} on ${vote.meeting_date}: ` +
        `${vote.votes_for} for, ${vote.votes_against} against, ${vote.abstentions} abstaining`
        : "none"],
      ["board_approved_amount", "Board approved", vote ? amount(vote.approved_amount) : "–"],
      ["meeting_dates", "Meeting dates", list(state.meeting_dates)],
      ["congressional_notice", "Congressional notice", notice
        ? el("span", {}, `${notice.reference}, ${notice.notified_on}, `,
          amount(notice.amount)) : "none"],
      ["financing", "Financing", financing
        ? el("span", {}, `${financing.instrument} `, amount(financing.amount),
          `, fee ${financing.exposure_fee_pct} %, matures ${financing.final_maturity_date}`)
        : "none"],
      ["reversed_versions", "Reversed versions", list(state.reversed_versions)],
    ]);
    const screenings = Object.values(state.screenings || {}).flat();
    fillOrNone($("#screenings"), screenings, (s, cell) => {
      cell(s.party);
      cell(s.list);
      cell(s.list_date);
      cell(s.result, { "data-screening": s.result });
      cell(s.reference);
      cell(s.version);
    });
  }

  // Postings up to `asOf` (recorded time) when the page shows a past moment.
  function renderPostings(exposure, asOf) {
    const shown = asOf ? exposure.postings.filter((p) => p.recorded_at <= asOf)
      : exposure.postings;
    facts($("#balances"), asOf ? [["as_of", "Balances", "see the figures above"]]
      : Object.entries(exposure.balances).map(([name, value]) => [name, name, amount(value)]));
    fillOrNone($("#postings"), shown, (p, cell) => {
      cell(p.position);
      cell(p.kind);
      cell(el("span", { class: "account" }, p.account));
      cell(amount(p.debit));
      cell(amount(p.credit));
      cell(exactWhen(p.recorded_at));
    });
  }

  return { desk, renderState, renderPostings, exactWhen, DESKS };
})();
