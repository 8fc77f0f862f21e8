"""The typed client without a server: how it sends Decimals and a correlation id, what it
raises when no answer comes, and its own checks of Merkle proofs and signed digests."""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from exim_ledger_client import (
    ConsistencyProof,
    Digest,
    InclusionProof,
    LedgerClient,
    LedgerProblem,
    LedgerUnavailable,
    PublicKey,
    Retry,
    verify_consistency,
    verify_inclusion,
    verify_signature,
)
from exim_ledger_client.payloads import encode

from tools import verify_ledger

FAST = Retry(attempts=3, backoff=0.001)


def test_decimals_are_sent_as_money_with_two_places_and_percentages_plain():
    sent = encode({"contract_value": Decimal("1E+7"), "us_content_pct": Decimal("92.50"),
                   "exposure_fee_pct": Decimal("1E+2"), "tenor_years": 5,
                   "items": [{"value": Decimal("10000000"), "quantity": 64}],
                   "country_limits": {"DE": Decimal("2.5")}, "approved_amount": "1.00"})
    assert sent == {"contract_value": "10000000.00", "us_content_pct": "92.5",
                    "exposure_fee_pct": "100", "tenor_years": 5,
                    "items": [{"value": "10000000.00", "quantity": 64}],
                    "country_limits": {"DE": "2.50"}, "approved_amount": "1.00"}


@pytest.mark.parametrize("bad", [Decimal("0.001"), Decimal("NaN"), Decimal("Infinity")])
def test_a_fraction_of_a_cent_or_no_number_is_refused_never_rounded(bad: Decimal):
    with pytest.raises(ValueError):
        encode({"amount": bad})


def test_a_float_is_refused_anywhere():
    with pytest.raises(TypeError, match="amount"):
        encode({"lines": [{"amount": 1.5}]})


def recording(answer: httpx.Response | None) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    tries: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        if answer is None:
            raise httpx.ConnectError("connection refused", request=request)
        return answer

    return httpx.MockTransport(handle), tries


def test_a_post_sends_decimals_as_strings_and_the_callers_correlation_id():
    envelope = {"event_id": "00000000-0000-0000-0000-000000000001",
                "deal_id": "00000000-0000-0000-0000-000000000002", "version": 2,
                "position": 7, "type": "FundsDisbursed", "data": {}, "occurred_at":
                "2026-01-01T00:00:00+00:00", "recorded_at": "2026-01-01T00:00:00+00:00",
                "actor": "servicing", "source": None, "correlation_id": "c-1",
                "idempotency_key": "k", "policy_version": "p", "prev_hash": None,
                "hash": "00"}
    transport, tries = recording(httpx.Response(201, json=envelope))
    with LedgerClient("http://ledger", "secret", transport=transport) as ledger:
        ledger.append(envelope["deal_id"], "FundsDisbursed",
                      {"amount": Decimal("5000000"), "reference": "WIRE-1"},
                      correlation_id="c-1")
    [request] = tries
    assert json.loads(request.content)["data"] == {"amount": "5000000.00",
                                                    "reference": "WIRE-1"}
    assert request.headers["x-correlation-id"] == "c-1"


def test_no_answer_after_the_retries_is_unavailable_with_the_key_to_retry_with():
    transport, tries = recording(None)
    with LedgerClient("http://ledger", "secret", transport=transport, retry=FAST) as ledger:
        with pytest.raises(LedgerUnavailable) as unavailable:
            ledger.append("00000000-0000-0000-0000-000000000002", "DealCancelled",
                          {"reason": "withdrawn"}, idempotency_key="desk-7")
        with pytest.raises(LedgerUnavailable) as read:
            ledger.deal("00000000-0000-0000-0000-000000000002")
    assert isinstance(unavailable.value, LedgerProblem)  # the client's one error base
    assert unavailable.value.idempotency_key == "desk-7"
    assert (unavailable.value.status, unavailable.value.code) == (503, "ledger_unavailable")
    assert isinstance(unavailable.value.__cause__, httpx.ConnectError)
    assert read.value.idempotency_key is None
    assert [r.method for r in tries] == ["POST"] * 3 + ["GET"] * 3


# -- proofs, checked against the auditor's verifier (tools/verify_ledger.py) ---------------


LEAVES = [hashlib.sha256(str(i).encode()).digest() for i in range(11)]


def audit_path(index: int, size: int) -> list[bytes]:
    """RFC 6962 §2.1.1's PATH(m, D[n]), recursively."""
    def path(m: int, leaves: list[bytes]) -> list[bytes]:
        n = len(leaves)
        if n == 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return path(m, leaves[:k]) + [verify_ledger.merkle_root(leaves[k:])]
        return path(m - k, leaves[k:]) + [verify_ledger.merkle_root(leaves[:k])]
    return path(index, LEAVES[:size])


def consistency_path(first: int, second: int) -> list[bytes]:
    """RFC 6962 §2.1.2's PROOF(m, D[n])."""
    def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
        n = len(leaves)
        if m == n:
            return [] if whole else [verify_ledger.merkle_root(leaves)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return subproof(m, leaves[:k], whole) + [verify_ledger.merkle_root(leaves[k:])]
        return subproof(m - k, leaves[k:], False) + [verify_ledger.merkle_root(leaves[:k])]
    return subproof(first, LEAVES[:second], True)


def root(size: int) -> str:
    return verify_ledger.merkle_root(LEAVES[:size]).hex()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 11])
def test_every_leaf_s_inclusion_proof_verifies_and_a_wrong_one_does_not(size: int):
    for index in range(size):
        proof = InclusionProof(index, size, [p.hex() for p in audit_path(index, size)],
                               root(size))
        assert verify_inclusion(proof, LEAVES[index].hex(), root(size))
        assert not verify_inclusion(proof, LEAVES[(index + 1) % 11].hex())
        assert not verify_inclusion(proof, LEAVES[index].hex(), "11" * 32)
        if proof.audit_path:
            bent = InclusionProof(index, size, [*proof.audit_path[:-1], "00" * 32], proof.root)
            assert not verify_inclusion(bent, LEAVES[index].hex())


@pytest.mark.parametrize(("first", "second"), [(1, 2), (3, 7), (4, 8), (5, 11), (8, 11),
                                               (6, 6), (0, 5)])
def test_a_consistency_proof_verifies_only_for_the_trees_it_joins(first: int, second: int):
    nodes = [] if first in (0, second) else consistency_path(first, second)
    empty = hashlib.sha256(b"").hexdigest()
    proof = ConsistencyProof(first, second, [p.hex() for p in nodes],
                             root(first) if first else empty, root(second))
    assert verify_consistency(proof, proof.first_root, root(second))
    assert verify_ledger.verify_consistency(first, second, bytes.fromhex(proof.first_root),
                                            bytes.fromhex(proof.second_root), nodes)
    assert not verify_consistency(proof, second_root=root(second - 1) if second > 1 else empty)
    if nodes:
        forged = ConsistencyProof(first, second, proof.proof, proof.first_root, "11" * 32)
        assert not verify_consistency(forged)


def test_a_digest_s_signature_verifies_with_its_key_only():
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    fields: dict[str, Any] = {"tree_size": 11, "root": root(11), "position": 11,
                              "signed_at": "2026-01-01T00:00:00Z", "key_id": "k1"}
    signature = private.sign(verify_ledger.canonical_json(fields)).hex()
    digest = Digest.from_json({**fields, "signature": signature})
    key = PublicKey("k1", "Ed25519", base64.b64encode(raw).decode())
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert verify_signature(digest, key)
    assert not verify_signature(digest, PublicKey("k1", "Ed25519",
                                                  base64.b64encode(other).decode()))
    tampered = Digest.from_json({**fields, "position": 12, "signature": signature})
    assert not verify_signature(tampered, key)
