// Proofs checked in the browser, trusting nothing the server computed: an event's hash
// (SPEC §3: SHA-256 of the canonical JSON of its hashed fields), its RFC 6962 inclusion
// in a tree head, the consistency of two tree heads (verification as in RFC 9162
// §2.1.3.2 and §2.1.4.2), and the Ed25519 signature on a digest, with WebCrypto only.
// The same file is inlined into the auditor's self-contained page (tools/audit.html).
"use strict";

const LedgerProofs = (() => {
  const HASHED_FIELDS = ["deal_id", "version", "type", "data", "occurred_at", "recorded_at",
    "actor", "source", "prev_hash"];
  const SIGNED_FIELDS = ["tree_size", "root", "position", "signed_at", "key_id"];

  class Unsupported extends Error {}

  function subtle() {
    if (!globalThis.crypto || !globalThis.crypto.subtle) {
      throw new Unsupported("this browser offers no WebCrypto (crypto.subtle): nothing can " +
        "be verified here. Open the page over https:// or from a file, in a current browser.");
    }
    return globalThis.crypto.subtle;
  }

  const encoder = new TextEncoder();

  function hexToBytes(hex) {
    if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/i.test(hex)) {
      throw new Error(`not hex: ${String(hex).slice(0, 20)}`);
    }
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  const bytesToHex = (bytes) => [...new Uint8Array(bytes)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");

  function base64ToBytes(text) {
    const binary = atob(text.trim());
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  // Python sorts strings by code point; JavaScript's < compares UTF-16 code units, which
  // puts a character beyond U+FFFF (a surrogate pair, 0xD800...) before U+E000-U+FFFF.
  function byCodePoint(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
      if (x[i] !== y[i]) return x[i] - y[i];
    }
    return x.length - y.length;
  }

  // Keys sorted, no whitespace, non-ASCII kept as is: Python's
  // json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).
  function canonicalJson(value) {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (value !== null && typeof value === "object") {
      const keys = Object.keys(value).sort(byCodePoint);
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
    }
    if (typeof value === "number" && !Number.isInteger(value)) {
      throw new Error("a fractional number cannot be hashed canonically");
    }
    return JSON.stringify(value);
  }

  async function sha256(...parts) {
    const length = parts.reduce((n, p) => n + p.length, 0);
    const joined = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) { joined.set(part, offset); offset += part.length; }
    return new Uint8Array(await subtle().digest("SHA-256", joined));
  }

  const leafHash = (leaf) => sha256(Uint8Array.of(0), leaf);
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // The event's hash recomputed from its fields (hex).
  async function eventHash(envelope) {
    const fields = {};
    for (const name of HASHED_FIELDS) {
      if (!(name in envelope)) throw new Error(`the event lacks ${name}`);
      fields[name] = envelope[name];
    }
    return bytesToHex(await sha256(encoder.encode(canonicalJson(fields))));
  }

  // RFC 9162 §2.1.3.2: does `path` lead from leaf `index` of a `size`-leaf tree to `root`?
  async function verifyInclusion(leaf, index, size, path, root) {
    if (!(index >= 0 && index < size)) return false;
    let fn = index;
    let sn = size - 1;
    let r = await leafHash(leaf);
    for (const p of path) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, root);
  }

  // RFC 9162 §2.1.4.2: is the tree of `first` leaves a prefix of the tree of `second`?
  async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
    if (!(first >= 0 && first <= second)) return false;
    if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
    if (first === 0) return proof.length === 0 && equal(firstRoot, await sha256());
    if (proof.length === 0) return false;
    const path = [...proof];
    if ((first & (first - 1)) === 0) path.unshift(firstRoot);
    let fn = first - 1;
    let sn = second - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
  }

  // An event (as GET /v1/deals/{id}/events or /v1/events returns it) is in the tree whose
  // head is `root` (hex): its hash is recomputed, then the proof is followed. Returns
  // {ok, reason}.
  async function checkEvent(event, proof, root) {
    const hash = await eventHash(event);
    if (hash !== event.hash) {
      return { ok: false, reason: `the event's fields hash to ${hash}, not ${event.hash}` };
    }
    if (proof.root !== root) {
      return { ok: false, reason: "the proof is for another tree head" };
    }
    const ok = await verifyInclusion(hexToBytes(hash), proof.leaf_index, proof.tree_size,
      proof.audit_path.map(hexToBytes), hexToBytes(root));
    return ok ? { ok, reason: `leaf ${proof.leaf_index} of ${proof.tree_size}` }
      : { ok, reason: "the audit path does not lead to the tree head" };
  }

  // The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the key's 32 bytes follow.
  const SPKI_PREFIX = "302a300506032b6570032100";

  // The raw 32 bytes of a key as the auditor pastes it, in the forms tools/verify_ledger.py
  // takes: the base64 of the key, the JSON of /v1/audit/public-key, or a PEM public key.
  function publicKeyBytes(publicKey) {
    let text = typeof publicKey === "string" ? publicKey.trim() : publicKey.public_key;
    let raw;
    try {
      if (text.startsWith("{")) text = String(JSON.parse(text).public_key || "");
      if (text.startsWith("-----BEGIN PUBLIC KEY-----")) {
        const der = base64ToBytes(text.split(/\r?\n/).slice(1, -1).join(""));
        if (bytesToHex(der.slice(0, 12)) !== SPKI_PREFIX) {
          throw new Error("the PEM public key is not an Ed25519 key");
        }
        raw = der.slice(12);
      } else {
        raw = base64ToBytes(text);
      }
    } catch (error) {
      throw new Error(`not an Ed25519 public key (${error.message})`);
    }
    if (raw.length !== 32) {
      throw new Error(`not an Ed25519 public key: it holds ${raw.length} bytes, not 32`);
    }
    return raw;
  }

  // A key's id as the ledger names it: the first 16 hex digits of the SHA-256 of its bytes.
  const keyId = async (raw) => bytesToHex(await sha256(raw)).slice(0, 16);

  // The digest's Ed25519 signature over the canonical JSON of its signed fields, checked
  // against a public key the auditor obtained elsewhere ({algorithm, public_key}, or any
  // text publicKeyBytes reads).
  async function checkSignature(digest, publicKey) {
    const raw = publicKeyBytes(publicKey);
    let key;
    try {
      key = await subtle().importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      if (error instanceof Unsupported) throw error;
      throw new Unsupported(`this browser cannot verify Ed25519 signatures (${error.message})`);
    }
    const fields = {};
    for (const name of SIGNED_FIELDS) fields[name] = digest[name];
    return subtle().verify({ name: "Ed25519" }, key, hexToBytes(digest.signature),
      encoder.encode(canonicalJson(fields)));
  }

  return { canonicalJson, eventHash, verifyInclusion, verifyConsistency, checkEvent,
    checkSignature, publicKeyBytes, keyId, hexToBytes, bytesToHex, subtle, Unsupported };
})();
