"""The signed Merkle tree head of the global log and its proofs (SPEC §3), and their checks
on the client's side: a proof checked here needs no trust in the server that sent it.

The tree is RFC 6962's (SHA-256; a leaf is an event's ``hash``, as bytes); the checks are
RFC 9162 §2.1.3.2 and §2.1.4.2, as in ``tools/verify_ledger.py``. The digest's Ed25519
signature needs ``cryptography`` (``pip install 'exim-ledger-client[verify]'``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SIGNED_FIELDS = ("tree_size", "root", "position", "signed_at", "key_id")
EMPTY_ROOT = hashlib.sha256(b"").digest()


@dataclass(frozen=True)
class Digest:
    """``GET /v1/audit/digest``: the tree head over the first ``tree_size`` events,
    signed (Ed25519, hex ``signature``) over the canonical JSON of the other fields."""

    tree_size: int
    root: str  # hex
    position: int
    signed_at: datetime
    key_id: str
    signature: str
    signed: bytes = field(repr=False, default=b"")  # the bytes the signature covers

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Digest:
        signed = canonical_json({key: raw[key] for key in SIGNED_FIELDS})
        return cls(raw["tree_size"], raw["root"], raw["position"],
                   datetime.fromisoformat(raw["signed_at"]), raw["key_id"], raw["signature"],
                   signed)


@dataclass(frozen=True)
class PublicKey:
    """``GET /v1/audit/public-key``: the key that signs digests (base64 of its 32 bytes)."""

    key_id: str
    algorithm: str
    public_key: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PublicKey:
        return cls(raw["key_id"], raw["algorithm"], raw["public_key"])


@dataclass(frozen=True)
class InclusionProof:
    """``GET /v1/audit/proof``: the audit path of leaf ``leaf_index`` (0-based) in the tree
    of ``tree_size`` leaves whose head is ``root`` (hex)."""

    leaf_index: int
    tree_size: int
    audit_path: list[str]
    root: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> InclusionProof:
        return cls(raw["leaf_index"], raw["tree_size"], list(raw["audit_path"]), raw["root"])


@dataclass(frozen=True)
class ConsistencyProof:
    """``GET /v1/audit/consistency``: that the tree of ``first`` leaves is a prefix of the
    tree of ``second``."""

    first: int
    second: int
    proof: list[str]
    first_root: str
    second_root: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ConsistencyProof:
        return cls(raw["first"], raw["second"], list(raw["proof"]), raw["first_root"],
                   raw["second_root"])


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _unhex(*values: str) -> list[bytes] | None:
    try:
        return [bytes.fromhex(v) for v in values]
    except (ValueError, TypeError):
        return None


def verify_inclusion(proof: InclusionProof, event_hash: str, root: str | None = None) -> bool:
    """Whether the event whose ``hash`` is ``event_hash`` is leaf ``proof.leaf_index`` of
    the tree whose head is ``root`` (hex; a verified ``Digest``'s, say): the proof must
    lead from the leaf to that root. Without ``root``, to the proof's own."""
    if root is not None and root != proof.root:
        return False
    decoded = _unhex(event_hash, proof.root, *proof.audit_path)
    if decoded is None:
        return False
    leaf, head, *path = decoded
    return _inclusion(leaf, proof.leaf_index, proof.tree_size, path, head)


def _inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
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


def verify_consistency(proof: ConsistencyProof, first_root: str | None = None,
                       second_root: str | None = None) -> bool:
    """Whether the tree of ``proof.first`` leaves with head ``first_root`` is a prefix of
    the tree of ``proof.second`` with head ``second_root`` (hex; two verified digests'
    roots, say; by default the proof's own)."""
    if (first_root not in (None, proof.first_root)
            or second_root not in (None, proof.second_root)):
        return False
    decoded = _unhex(proof.first_root, proof.second_root, *proof.proof)
    if decoded is None:
        return False
    old, new, *path = decoded
    return _consistency(proof.first, proof.second, old, new, path)


def _consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                 proof: Sequence[bytes]) -> bool:
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
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


def verify_signature(digest: Digest, public_key: PublicKey) -> bool:
    """Whether ``digest`` is signed by ``public_key`` (the operator's, obtained out of
    band: the server's own answer proves nothing). Needs ``cryptography``: without it,
    ``ImportError``."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as missing:
        raise ImportError("verifying a digest's signature needs cryptography: "
                          "pip install 'exim-ledger-client[verify]'") from missing
    if public_key.algorithm != "Ed25519":
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.public_key))
        key.verify(bytes.fromhex(digest.signature), digest.signed)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
