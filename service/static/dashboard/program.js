// The program page: the policy in force with its lists, the proposals pending, who adopted
// which version, and the board's authorization with the committed totals against its
// limits, by country (GET /v1/policies and GET /v1/program).
"use strict";

const { $, el, getJson, amount, countryName, when, fillTable, setConnection } = Ledger;

// The lists of a version, in the order a reader weighs them; countries are shown by name.
const LISTS = [
  ["embargoed", "Embargoed (no financing)", true],
  ["restricted_for_controlled", "Restricted for controlled items", true],
  ["designated_countries", "Designated beneficiaries", true],
  ["controlled_eccn_patterns", "Controlled ECCN patterns", false],
];
const NOT_FACTS = new Set(["id", "effective_from", "data", "hash", "event_id", "position",
  "version", "adopted_at", "adopted_by", "proposed_at", "proposed_by", "proposal_hash",
  ...LISTS.map(([name]) => name)]);
const MONEY = /^-?\d+\.\d{2}$/;

function entries(values, countries) {
  if (values === null || values === undefined) {
    return el("span", { class: "note" }, "every destination not otherwise barred");
  }
  if (!values.length) return el("span", { class: "note" }, "none");
  return el("ul", { class: "entries" }, ...values.map((value) => el("li",
    { "data-entry": value, title: countries ? value : null },
    countries ? countryName(value) : value)));
}

function label(name) {  // a heading: capitalised
  const text = Ledger.label(name);
  return text[0].toUpperCase() + text.slice(1);
}

function fact(name, value) {
  return el("div", {}, el("dt", {}, name), el("dd", {}, value));
}

function factValue(value) {
  if (typeof value === "string" && MONEY.test(value)) return amount(value);
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

function renderPolicy(answer) {
  const version = answer.policies.find((p) => p.id === answer.in_force);
  $("#in-force").textContent = answer.in_force;
  $("#policy").dataset.version = answer.in_force;
  if (!version) return;
  const facts = [
    fact("Effective from", version.effective_from),
    fact("Adopted by", version.adopted_by),
    fact("Adopted at", when(version.adopted_at)),
  ];
  for (const [name, value] of Object.entries(version)) {
    if (!NOT_FACTS.has(name) && value !== null && value !== undefined) {
      facts.push(fact(label(name), factValue(value)));
    }
  }
  $("#policy-facts").replaceChildren(...facts);
  fillTable($("#policy-lists"), LISTS, ([name, title, countries], add) => {
    add(title, { "data-list": name });
    add(entries(version[name], countries));
    const values = version[name];
    add(values === null || values === undefined ? "all" : String(values.length));
  });
}

function renderProposals(proposed) {
  $("#no-proposals").hidden = proposed.length > 0;
  $("#proposed").closest("table").hidden = proposed.length === 0;
  fillTable($("#proposed"), proposed, (p, add) => {
    add(p.id, { "data-proposal": p.id });
    add(p.effective_from);
    add(p.authority || "–");
    add(p.proposed_by);
    add(when(p.proposed_at));
    add(String(p.version));
  });
}

function renderAdoptions(answer) {
  const adopted = [...answer.policies].reverse();  // the latest effective date first
  fillTable($("#adopted"), adopted, (p, add, tr) => {
    add(p.id === answer.in_force ? el("span", {}, p.id, el("strong", {}, " (in force)"))
      : p.id, { "data-adoption": p.id });
    add(p.effective_from);
    add(p.authority || "–");
    add(p.proposed_by || "–");
    add(p.adopted_by);
    add(when(p.adopted_at));
    add(String(p.version));
    if (p.id === answer.in_force) tr.classList.add("current");
  });
}

// Share of a limit used, for display only (the figures themselves stay exact strings).
function used(committed, limit) {
  if (limit === null || limit === undefined || Number(limit) === 0) return "–";
  return `${(100 * Number(committed) / Number(limit)).toFixed(1)}%`;
}

function renderProgram(program) {
  const auth = program.authorization;
  const status = $("#program-status");
  status.dataset.state = !auth ? "none" : program.suspended ? "suspended" : "authorized";
  status.textContent = !auth ? "No authorization is in force: no deal can be financed."
    : program.suspended ? "The program is suspended." : "The program is authorized.";
  const figures = [
    fact("Committed", amount(program.committed, { "data-figure": "committed" })),
    fact("Total limit", amount(program.total_limit, { "data-figure": "total_limit" })),
    fact("Available", amount(program.available, { "data-figure": "available" })),
    fact("Used", used(program.committed, program.total_limit)),
  ];
  if (auth) {
    figures.push(
      fact("Board meeting", auth.meeting_date),
      fact("Votes (for, against, abstaining)",
        `${auth.votes_for}, ${auth.votes_against}, ${auth.abstentions}`),
      fact("In force", `${auth.effective_from} to ${auth.expires_on || "no expiry"}`),
      fact("Recorded by", auth.recorded_by));
  }
  $("#program-figures").replaceChildren(...figures);
  const rows = [...program.by_country].sort((a, b) =>
    (b.limit !== null) - (a.limit !== null) || Number(b.committed) - Number(a.committed)
    || a.country.localeCompare(b.country));
  fillTable($("#by-country"), rows, (row, add) => {
    add(el("span", { title: row.country }, countryName(row.country)),
      { "data-country": row.country });
    add(amount(row.committed));
    add(row.limit === null ? "no limit" : amount(row.limit));
    add(row.available === null ? "–" : amount(row.available));
    add(used(row.committed, row.limit));
  });
}

async function open() {
  const [policies, program] = await Promise.all([
    getJson("/v1/policies"), getJson("/v1/program")]);
  renderPolicy(policies);
  renderProposals(policies.proposed);
  renderAdoptions(policies);
  renderProgram(program);
  setConnection("live", "loaded");
}

Ledger.page({ onOpen: open, onClose: () => {} });
