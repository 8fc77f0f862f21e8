#!/usr/bin/env python3
"""Independently verify a running ExportAI Deal Ledger.

Needs only the Python standard library; the digest's Ed25519 signature is
checked when the `cryptography` package is installed and skipped otherwise.
Nothing here imports the ledger's own code: an auditor can read this file
alone and know what was checked.

    python tools/verify_ledger.py --url http://127.0.0.1:8000 --api-key KEY \
        [--public-key FILE|BASE64] [--event-id ID] [--old-digest FILE] [--save-digest FILE]

With --public-key, signatures are checked against that key (obtained from the
operator by another channel) rather than the one the ledger publishes.

Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HASHED_FIELDS = ("deal_id", "version", "type", "data", "occurred_at", "recorded_at", "actor",
                 "source", "prev_hash")
SIGNED_FIELDS = ("tree_size", "root", "position", "signed_at", "key_id")
PAGE = 1000

Getter = Callable[[str, dict[str, Any]], Any]


class VerificationError(Exception):
    """A check that cannot go on (unreachable server, malformed answer)."""


# Hash chain (SPEC §3)


def canonical_json(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def event_hash(envelope: dict[str, Any]) -> str:
    missing = [key for key in HASHED_FIELDS if key not in envelope]
    if missing:
        raise VerificationError(f"event lacks {', '.join(missing)}")
    return hashlib.sha256(canonical_json({k: envelope[k] for k in HASHED_FIELDS})).hexdigest()


def check_events(events: Sequence[dict[str, Any]]) -> list[str]:
    """Problems found in the hashes, the per-deal chains and the position order."""
    problems: list[str] = []
    last: dict[str, tuple[int, str | None]] = {}
    previous_position = 0
    for event in events:
        where = f"event at position {event.get('position')} (deal {event.get('deal_id')})"
        position = event.get("position")
        if not isinstance(position, int) or position <= previous_position:
            problems.append(f"{where}: position does not increase")
        else:
            previous_position = position
        try:
            recomputed = event_hash(event)
        except VerificationError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if recomputed != event.get("hash"):
            problems.append(f"{where}: hash is {event.get('hash')}, content hashes to {recomputed}")
        version, prev_version_hash = last.get(event["deal_id"], (0, None))
        if event["version"] != version + 1:
            problems.append(f"{where}: version {event['version']} follows version {version}")
        if event["prev_hash"] != prev_version_hash:
            problems.append(f"{where}: prev_hash does not match the deal's previous event")
        last[event["deal_id"]] = (event["version"], event.get("hash"))
    return problems


# Merkle tree (RFC 6962 §2.1; verification as in RFC 9162 §2.1.3.2 and §2.1.4.2)


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The tree head over raw leaves (here: event hashes as bytes)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = [leaf_hash(leaf) for leaf in leaves]
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == hashlib.sha256(b"").digest()
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


# Signed digest


def signed_message(digest: dict[str, Any]) -> bytes:
    return canonical_json({key: digest[key] for key in SIGNED_FIELDS})


def check_signature(digest: dict[str, Any], public_key: dict[str, Any]) -> bool | None:
    """True/False for the Ed25519 signature; None when `cryptography` is missing."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    if public_key.get("algorithm") != "Ed25519":
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key["public_key"]))
        key.verify(bytes.fromhex(digest["signature"]), signed_message(digest))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


# The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the key's 32 bytes follow
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def load_public_key(value: str) -> dict[str, Any]:
    """A key given by the auditor: a file or the text itself, holding the base64 of the
    32-byte key, the JSON of /v1/audit/public-key, or a PEM public key."""
    path = Path(value)
    text = (path.read_text(encoding="utf-8") if path.is_file() else value).strip()
    try:
        raw = _key_bytes(text)
    except (ValueError, AttributeError):  # binascii.Error is a ValueError
        raw = b""
    if len(raw) != 32:
        raise ValueError("--public-key must be an Ed25519 public key (32 bytes in base64, "
                         "the JSON of /v1/audit/public-key, or PEM), as a file or text")
    return {"key_id": hashlib.sha256(raw).hexdigest()[:16], "algorithm": "Ed25519",
            "public_key": base64.b64encode(raw).decode("ascii")}


def _key_bytes(text: str) -> bytes:
    if text.startswith("{"):
        text = str(json.loads(text).get("public_key", ""))
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        der = base64.b64decode("".join(text.splitlines()[1:-1]))
        if not der.startswith(ED25519_SPKI_PREFIX):
            raise ValueError("the PEM public key is not an Ed25519 key")
        return der[len(ED25519_SPKI_PREFIX):]
    return base64.b64decode(text, validate=True)


# Talking to the ledger


def http_getter(url: str, api_key: str, timeout: float = 30.0) -> Getter:
    base = url.rstrip("/")

    def get(path: str, params: dict[str, Any]) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(
            base + path + query,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:300]
            raise VerificationError(f"GET {path} answered {exc.code}: {body}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise VerificationError(f"cannot reach {base}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise VerificationError(f"GET {path} did not return JSON: {exc}") from exc

    return get


def fetch_events(get: Getter) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = get("/v1/events", {"after": after, "limit": PAGE})
        batch = page.get("events", [])
        if not batch:
            return events
        events.extend(batch)
        next_after = page.get("next_after")
        if not isinstance(next_after, int) or next_after <= after:
            raise VerificationError(f"/v1/events paging did not advance past {after}")
        after = next_after


def unhex(value: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"{what} is not hex: {value!r}") from exc


# The audit


class Audit:
    def __init__(self, get: Getter, say: Callable[[str], None] = print,
                 public_key: dict[str, Any] | None = None) -> None:
        self.get = get
        self.say = say
        self.failures: list[str] = []
        self.given_key = public_key

    def public_key(self) -> dict[str, Any]:
        """The auditor's own copy of the key, else the one the ledger publishes."""
        if self.given_key is not None:
            return self.given_key
        return self.get("/v1/audit/public-key", {})  # type: ignore[no-any-return]

    def check(self, ok: bool, success: str, failure: str) -> bool:
        if ok:
            self.say(f"ok    {success}")
        else:
            self.failures.append(failure)
            self.say(f"FAIL  {failure}")
        return ok

    def run(
        self, event_id: str | None = None, old_digest: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        digest: dict[str, Any] = self.get("/v1/audit/digest", {})
        if self.given_key is not None:
            self.say(f"using the public key given, key_id {self.given_key['key_id']}")
        else:
            self.say("WARN  no --public-key: signatures are checked with the key the ledger "
                     "itself serves")
        self.digest_signature(digest, self.public_key())
        events = fetch_events(self.get)
        problems = check_events(events)
        for problem in problems:
            self.say(f"FAIL  {problem}")
        self.failures.extend(problems)
        if not problems:
            self.say(f"ok    {len(events)} event hashes and per-deal chains recomputed")
        self.digest_root(digest, events)
        if event_id is not None:
            self.inclusion(digest, events, event_id)
        if old_digest is not None:
            self.consistency(old_digest, digest)
        return digest

    def digest_signature(self, digest: dict[str, Any], public_key: dict[str, Any]) -> None:
        if not self.check(
            digest.get("key_id") == public_key.get("key_id"),
            f"digest key_id {digest.get('key_id')} is the published key",
            f"digest key_id {digest.get('key_id')} is not the published key "
            f"{public_key.get('key_id')}",
        ):
            return
        verdict = check_signature(digest, public_key)
        if verdict is None:
            self.say("skip  signature not checked: install the 'cryptography' package")
            return
        self.check(
            verdict,
            f"Ed25519 signature over the digest of tree size {digest.get('tree_size')}",
            "the digest's Ed25519 signature does not verify",
        )

    def digest_root(self, digest: dict[str, Any], events: list[dict[str, Any]]) -> None:
        size = digest["tree_size"]
        if not self.check(
            len(events) >= size,
            f"the log holds the {size} events the digest commits to",
            f"the digest commits to {size} events but the log returned {len(events)}",
        ):
            return
        if size:
            last = events[size - 1].get("position")
            self.check(
                last == digest.get("position"),
                f"leaf {size - 1} is the event at the digest's position {last}",
                f"the digest's position {digest.get('position')} is not that of event "
                f"#{size} (position {last})",
            )
        leaves = [unhex(event["hash"], "event hash") for event in events[:size]]
        recomputed = merkle_root(leaves).hex()
        self.check(
            recomputed == digest["root"],
            f"Merkle root over {size} events matches the digest",
            f"Merkle root over the first {size} events is {recomputed}, "
            f"the digest says {digest['root']}",
        )

    def inclusion(
        self, digest: dict[str, Any], events: list[dict[str, Any]], event_id: str
    ) -> None:
        index = next((i for i, e in enumerate(events) if e.get("event_id") == event_id), None)
        size = digest["tree_size"]
        if index is None:
            self.check(False, "", f"event {event_id} is not in the log")
            return
        if not self.check(
            index < size,
            f"event {event_id} is leaf {index}",
            f"event {event_id} is leaf {index}, beyond the digest's tree of {size}: retry later",
        ):
            return
        proof = self.get("/v1/audit/proof", {"event_id": event_id, "tree_size": size})
        path = [unhex(node, "audit path node") for node in proof.get("audit_path", [])]
        self.check(
            proof.get("leaf_index") == index
            and proof.get("tree_size") == size
            and proof.get("root") == digest["root"]
            and verify_inclusion(
                unhex(events[index]["hash"], "event hash"),
                index,
                size,
                path,
                unhex(digest["root"], "root"),
            ),
            f"inclusion proof of event {event_id} (leaf {index}) in tree {size}",
            f"inclusion proof of event {event_id} does not verify "
            f"(leaf_index {proof.get('leaf_index')}, expected {index})",
        )

    def consistency(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        first, second = old["tree_size"], new["tree_size"]
        if "signature" in old and old.get("key_id") == new.get("key_id"):
            verdict = check_signature(old, self.public_key())
            if verdict is not None:
                self.check(
                    verdict, "the old digest's signature", "the old digest's signature is bad"
                )
        if not self.check(
            first <= second,
            f"the tree grew from {first} to {second}",
            f"the tree shrank from {first} to {second}",
        ):
            return
        proof_nodes: list[bytes] = []
        if 0 < first < second:
            answer = self.get("/v1/audit/consistency", {"first": first, "second": second})
            self.check(
                answer.get("first") == first
                and answer.get("second") == second
                and answer.get("first_root") == old["root"]
                and answer.get("second_root") == new["root"],
                "the consistency answer names both digests' roots",
                f"the consistency answer's roots {answer.get('first_root')} / "
                f"{answer.get('second_root')} differ from the digests'",
            )
            proof_nodes = [unhex(node, "consistency node") for node in answer.get("proof", [])]
        self.check(
            verify_consistency(
                first,
                second,
                unhex(old["root"], "old root"),
                unhex(new["root"], "root"),
                proof_nodes,
            ),
            f"tree {first} is a prefix of tree {second} (append-only)",
            f"the old digest (tree {first}) is not a prefix of the current tree {second}",
        )


TRUSTED_THE_SERVER = (
    "the digest's signature was checked against the public key the server itself served "
    "(/v1/audit/public-key), which a server that rewrote its log could replace; an auditor "
    "passes --public-key with the operator's key, obtained by another channel")


def main(argv: Sequence[str] | None = None, get: Getter | None = None) -> int:
    parser = argparse.ArgumentParser(description="Independently verify a running ledger.")
    parser.add_argument("--url", required=True, help="ledger base URL")
    parser.add_argument("--api-key", required=True, help="an auditor (or admin) API key")
    parser.add_argument("--event-id", help="also prove this event's inclusion")
    parser.add_argument("--old-digest", help="JSON file of an earlier digest to check against")
    parser.add_argument("--save-digest", help="write the verified digest to this file")
    parser.add_argument("--public-key", help="the operator's Ed25519 public key, a file or "
                        "base64: check signatures with it, not with the ledger's own word")
    args = parser.parse_args(argv)
    try:
        key = load_public_key(args.public_key) if args.public_key else None
    except (OSError, ValueError) as exc:
        print(f"FAIL  {exc}", file=sys.stderr)
        return 2
    audit = Audit(get or http_getter(args.url, args.api_key), public_key=key)
    try:
        old = None
        if args.old_digest:
            with open(args.old_digest, encoding="utf-8") as handle:
                old = json.load(handle)
        digest = audit.run(args.event_id, old)
    except VerificationError as exc:
        print(f"FAIL  verification stopped: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"FAIL  verification stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if audit.failures:
        print(f"\nledger NOT verified: {len(audit.failures)} problem(s)", file=sys.stderr)
        return 1
    if args.save_digest:
        with open(args.save_digest, "w", encoding="utf-8") as handle:
            json.dump(digest, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
        print(f"saved the digest to {args.save_digest}")
    print(f"\nledger verified: tree size {digest['tree_size']}, root {digest['root']}")
    if key is None:
        print(f"WARNING: {TRUSTED_THE_SERVER}")
        print(f"WARNING: {TRUSTED_THE_SERVER}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
