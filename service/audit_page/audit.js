// The auditor's page: reads the ledger's digest, proofs and audit log with an auditor key
// (in the Authorization header only) and checks every proof here with LedgerProofs.
(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = 20;
  const state = { digest: null, signatureOk: false, keyId: null, pages: [], next: null };

  const verdict = (el, kind, text) => { el.dataset.verdict = kind; el.textContent = text; };
  const verified = (el, text) => verdict(el, "verified", `verified: ${text}`);
  const failed = (el, why) => verdict(el, "failed", `FAILED: ${why}`);
  const pending = (el, text) => verdict(el, "pending", text);
  const reason = (error) => (error && error.message) || String(error);

  function baseUrl() {
    const value = $("base-url").value.trim().replace(/\/+$/, "");
    if (!/^https?:\/\/[^/]+/i.test(value)) {
      throw new Error("enter the ledger's base URL (http:// or https://)");
    }
    return value;
  }

  async function api(path, params = {}) {
    const base = baseUrl();
    const url = new URL(base + path);
    for (const [name, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") {
        url.searchParams.set(name, String(value));
      }
    }
    const key = $("key").value.trim();
    if (!key) throw new Error("enter an auditor API key");
    let response;
    try {
      response = await fetch(url, { headers: { Authorization: `Bearer ${key}`,
        Accept: "application/json" }, credentials: "omit", cache: "no-store",
        referrerPolicy: "no-referrer" });
    } catch (error) {
      throw new Error(`cannot reach ${base} (${reason(error)}). A page opened from a file ` +
        `or from another site reads the ledger only if the operator lists its origin ` +
        `(${location.origin}) in LEDGER_AUDIT_CORS_ORIGINS`);
    }
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    if (!response.ok) {
      const detail = body && body.detail ? `: ${body.detail}` : "";
      throw new Error(`GET ${path} answered ${response.status}${detail}`);
    }
    return body;
  }

  // --- the digest and its signature ---------------------------------------------------

  function showDigest(digest) {
    for (const dd of document.querySelectorAll("#digest [data-field]")) {
      const value = digest ? digest[dd.dataset.field] : null;
      dd.textContent = value === null || value === undefined ? "–" : String(value);
    }
    $("save-digest").disabled = !digest;
  }

  // The pasted key's bytes and id, or an error saying what is wrong with it.
  async function pastedKey() {
    const text = $("public-key").value.trim();
    if (!text) {
      throw new Error("no public key pasted: paste the operator's key, obtained by another " +
        "channel, to check the signature");
    }
    const raw = LedgerProofs.publicKeyBytes(text);
    return { text, id: await LedgerProofs.keyId(raw) };
  }

  async function checkDigest(digest) {
    const out = $("signature-result");
    state.signatureOk = false;
    try {
      const key = await pastedKey();
      state.keyId = key.id;
      if (digest.key_id !== key.id) {
        failed(out, `the digest names signing key ${digest.key_id}, not the pasted key ` +
          `${key.id}`);
        return;
      }
      if (!(await LedgerProofs.checkSignature(digest, key.text))) {
        failed(out, "the Ed25519 signature does not match the digest's fields and the " +
          "pasted key");
        return;
      }
      state.signatureOk = true;
      verified(out, `Ed25519 signature of key ${key.id} over tree size ${digest.tree_size} ` +
        `(position ${digest.position}), root ${digest.root}`);
    } catch (error) {
      failed(out, reason(error));
    }
  }

  async function connect(event) {
    event.preventDefault();
    const status = $("status");
    status.removeAttribute("data-state");
    status.textContent = "Loading the digest…";
    pending($("signature-result"), "Checking the signature…");
    state.digest = null;
    showDigest(null);
    try {
      const digest = await api("/v1/audit/digest");
      state.digest = digest;
      showDigest(digest);
      await checkDigest(digest);
      status.textContent = `Connected to ${baseUrl()}: tree size ${digest.tree_size}.`;
      await loadLog(null, true);
    } catch (error) {
      status.dataset.state = "error";
      status.textContent = `FAILED: ${reason(error)}`;
      failed($("signature-result"), reason(error));
    }
  }

  function saveDigest() {
    const digest = state.digest;
    if (!digest) return;
    const sorted = Object.fromEntries(Object.keys(digest).sort().map((k) => [k, digest[k]]));
    const blob = new Blob([`${JSON.stringify(sorted, null, 2)}\n`],
      { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `digest-${digest.tree_size}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }

  // A proof against the digest is worth what the digest's signature is worth.
  function signedDigest() {
    if (!state.digest) throw new Error("load the digest first");
    if (!state.signatureOk) {
      throw new Error("the digest's signature is not verified, so its tree head proves " +
        "nothing");
    }
    return state.digest;
  }

  // --- inclusion ------------------------------------------------------------------------

  async function proveInclusion(position) {
    const out = $("inclusion-result");
    pending(out, `Proving the event at position ${position}…`);
    try {
      if (!Number.isSafeInteger(position) || position < 1) {
        throw new Error("a position is a whole number from 1");
      }
      const digest = signedDigest();
      if (position > digest.position) {
        throw new Error(`the event at position ${position} is newer than the digest ` +
          `(position ${digest.position}): load the digest again`);
      }
      const page = await api("/v1/events", { after: position - 1, limit: 1 });
      const found = page && page.events && page.events[0];
      if (!found || found.position !== position) {
        throw new Error(`the log holds no event at position ${position}`);
      }
      const proof = await api("/v1/audit/proof", { event_id: found.event_id,
        tree_size: digest.tree_size });
      if (proof.tree_size !== digest.tree_size) {
        throw new Error(`the proof is for a tree of ${proof.tree_size}, not the digest's ` +
          `${digest.tree_size}`);
      }
      const result = await LedgerProofs.checkEvent(found, proof, digest.root);
      if (!result.ok) throw new Error(result.reason);
      verified(out, `event ${found.event_id} (${found.type}, deal ${found.deal_id}, ` +
        `position ${position}) hashes to its recorded hash and is ${result.reason} of the ` +
        "signed tree");
    } catch (error) {
      failed(out, reason(error));
    }
  }

  // --- consistency ----------------------------------------------------------------------

  async function checkKept(file) {
    const out = $("consistency-result");
    pending(out, `Checking ${file.name}…`);
    try {
      let old;
      try { old = JSON.parse(await file.text()); } catch (error) {
        throw new Error(`${file.name} is not JSON`);
      }
      if (!old || !Number.isSafeInteger(old.tree_size) || typeof old.root !== "string") {
        throw new Error(`${file.name} is not a digest: it needs tree_size and root`);
      }
      const current = signedDigest();
      let signedNote = "it carries no signature";
      if (old.signature) {
        if (old.key_id === state.keyId) {
          if (!(await LedgerProofs.checkSignature(old, $("public-key").value.trim()))) {
            throw new Error("the kept digest's signature does not verify with the pasted key");
          }
          signedNote = "its signature verified";
        } else {
          signedNote = `it was signed by another key (${old.key_id}), not checked`;
        }
      }
      const first = old.tree_size;
      const second = current.tree_size;
      if (first > second) throw new Error(`the tree shrank from ${first} to ${second}`);
      let nodes = [];
      if (first > 0 && first < second) {
        const answer = await api("/v1/audit/consistency", { first, second });
        if (answer.first_root !== old.root || answer.second_root !== current.root) {
          throw new Error("the consistency answer's roots differ from the two digests'");
        }
        nodes = answer.proof.map(LedgerProofs.hexToBytes);
      }
      const ok = await LedgerProofs.verifyConsistency(first, second,
        LedgerProofs.hexToBytes(old.root), LedgerProofs.hexToBytes(current.root), nodes);
      if (!ok) {
        throw new Error(`the kept tree of ${first} events is not a prefix of the current ` +
          `tree of ${second}`);
      }
      verified(out, `the tree of ${first} events you kept is an unchanged prefix of the ` +
        `current tree of ${second}: the log has only grown (${signedNote})`);
    } catch (error) {
      failed(out, reason(error));
    }
  }

  // --- the audit log --------------------------------------------------------------------

  const moment = (value) => (value ? `${value.length === 16 ? `${value}:00` : value}Z` : "");

  function filters() {
    return { from: moment($("f-from").value), to: moment($("f-to").value),
      actor: $("f-actor").value.trim(), type: $("f-type").value.trim(),
      deal_id: $("f-deal").value.trim() };
  }

  function field(text, className) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    return span;
  }

  function entryItem(entry) {
    const li = document.createElement("li");
    li.dataset.position = String(entry.position);
    const head = document.createElement("div");
    head.className = "line";
    head.append(field(`#${entry.position}`, "position"), field(entry.type, "type"),
      field(`recorded ${entry.recorded_at}`, "meta"));
    const meta = field(`${entry.actor} · ${entry.source || "–"} · deal ${entry.deal_id} v` +
      `${entry.version} · occurred ${entry.occurred_at}`, "meta");
    const summary = field(entry.summary || "", "summary");
    const hash = field(`hash ${entry.hash}`, "meta hash");
    const prove = document.createElement("button");
    prove.type = "button";
    prove.textContent = "Prove";
    prove.setAttribute("aria-label", `Prove inclusion of the event at position ${entry.position}`);
    prove.addEventListener("click", () => {
      $("position").value = String(entry.position);
      $("inclusion-result").scrollIntoView({ block: "nearest" });
      proveInclusion(entry.position);
    });
    li.append(head, meta, summary, hash, prove);
    return li;
  }

  async function loadLog(cursor, fresh) {
    const status = $("log-status");
    status.textContent = "Loading the audit log…";
    if (fresh) state.pages = [];
    try {
      const page = await api("/v1/audit/log", { ...filters(), limit: PAGE_SIZE, cursor });
      if (fresh || state.pages[state.pages.length - 1] !== cursor) state.pages.push(cursor);
      state.next = page.next_cursor;
      $("log").replaceChildren(...page.entries.map(entryItem));
      const number = state.pages.length;
      status.textContent = page.entries.length
        ? `Page ${number}: positions ${page.entries[0].position} to ` +
          `${page.entries[page.entries.length - 1].position}` +
          `${page.next_cursor ? "; more on the next page" : "; the last page"}.`
        : "No entries match these filters.";
    } catch (error) {
      status.textContent = `FAILED: ${reason(error)}`;
    }
    $("log-next").disabled = !state.next;
    $("log-previous").disabled = state.pages.length < 2;
    $("log-first").disabled = state.pages.length < 2;
  }

  function previousPage() {
    state.pages.pop();
    const cursor = state.pages[state.pages.length - 1];
    loadLog(cursor === undefined ? null : cursor, cursor === undefined);
  }

  // --- start ----------------------------------------------------------------------------

  function start() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      $("base-url").value = location.origin;
      $("nav").hidden = false;
    }
    try {
      LedgerProofs.subtle();
    } catch (error) {
      const banner = $("no-crypto");
      banner.textContent = `Nothing can be verified here: ${reason(error)}`;
      banner.hidden = false;
    }
    $("connect").addEventListener("submit", connect);
    $("save-digest").addEventListener("click", saveDigest);
    $("inclusion").addEventListener("submit", (event) => {
      event.preventDefault();
      proveInclusion(Number($("position").value));
    });
    $("old-digest").addEventListener("change", () => {
      const file = $("old-digest").files[0];
      if (file) checkKept(file);
    });
    $("log-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      loadLog(null, true);
    });
    $("log-next").addEventListener("click", () => loadLog(state.next, false));
    $("log-previous").addEventListener("click", previousPage);
    $("log-first").addEventListener("click", () => loadLog(null, true));
  }

  start();
})();
