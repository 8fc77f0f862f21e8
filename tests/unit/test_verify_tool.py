"""tools/verify_ledger.py against the project's MerkleTree and a fake ledger.

The script is loaded from its file, as an auditor would run it; the fake
ledger answers its GETs from envelopes built here and a real MerkleTree.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.merkle import MerkleTree
from tests.support.auditor_tool import load_tool

tool = load_tool()

LEAVES = [hashlib.sha256(f"leaf-{i}".encode()).digest() for i in range(200)]
Event = dict[str, Any]


def spec_hash(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_log(count: int, deals: int = 3) -> list[Event]:
    """A valid global log: deals interleaved, positions with gaps."""
    deal_ids = [str(uuid.UUID(int=d + 1)) for d in range(deals)]
    last: dict[str, tuple[int, str | None]] = {d: (0, None) for d in deal_ids}
    events = []
    for i in range(count):
        deal = deal_ids[i % deals]
        version, prev = last[deal]
        body = {
            "deal_id": deal,
            "version": version + 1,
            "type": "DealApplied" if version == 0 else "BoardVoted",
            "data": {"buyer": "Société Générale €", "amount": f"{i}.00", "n": i},
            "occurred_at": f"2026-01-01T00:00:{i % 60:02d}.000000Z",
            "recorded_at": f"2026-01-01T00:01:{i % 60:02d}.123456Z",
            "actor": "origination",
            "source": "crm" if i % 2 else None,
            "prev_hash": prev,
        }
        digest = spec_hash(body)
        events.append(
            {
                **body,
                "event_id": str(uuid.UUID(int=1000 + i)),
                "position": 2 * i + 1,
                "correlation_id": None,
                "idempotency_key": None,
                "policy_version": "2025-05-13",
                "hash": digest,
            }
        )
        last[deal] = (version + 1, digest)
    return events


class FakeLedger:
    def __init__(self, events: list[Event], key: Ed25519PrivateKey, key_id: str = "k1") -> None:
        self.events = events
        self.key = key
        self.key_id = key_id
        self.tree = MerkleTree()
        self.tree.append_many(bytes.fromhex(e["hash"]) for e in events)
        self.current = self.digest_at(len(events))
        self.proof_override: dict[str, Any] = {}

    def digest_at(self, size: int) -> dict[str, Any]:
        fields = {
            "tree_size": size,
            "root": self.tree.root(size).hex(),
            "position": self.events[size - 1]["position"] if size else 0,
            "signed_at": "2026-01-02T00:00:00.000000Z",
            "key_id": self.key_id,
        }
        return {**fields, "signature": self.sign(fields)}

    def sign(self, fields: dict[str, Any]) -> str:
        return self.key.sign(tool.canonical_json(fields)).hex()

    def __call__(self, path: str, params: dict[str, Any]) -> Any:
        if path == "/v1/audit/digest":
            return copy.deepcopy(self.current)
        if path == "/v1/audit/public-key":
            raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            return {
                "key_id": self.key_id,
                "algorithm": "Ed25519",
                "public_key": base64.b64encode(raw).decode(),
            }
        if path == "/v1/events":
            page = [e for e in self.events if e["position"] > params["after"]][: params["limit"]]
            return {"events": page, "next_after": page[-1]["position"] if page else params["after"]}
        if path == "/v1/audit/proof":
            index = next(
                i for i, e in enumerate(self.events) if e["event_id"] == params["event_id"]
            )
            size = params["tree_size"]
            answer = {
                "leaf_index": index,
                "tree_size": size,
                "audit_path": [p.hex() for p in self.tree.inclusion_proof(index, size)],
                "root": self.tree.root(size).hex(),
            }
            return {**answer, **self.proof_override}
        if path == "/v1/audit/consistency":
            first, second = params["first"], params["second"]
            return {
                "first": first,
                "second": second,
                "proof": [p.hex() for p in self.tree.consistency_proof(first, second)],
                "first_root": self.tree.root(first).hex(),
                "second_root": self.tree.root(second).hex(),
            }
        raise AssertionError(f"unexpected GET {path}")


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger(make_log(2500), Ed25519PrivateKey.generate())


def run(ledger: FakeLedger, *extra: str) -> int:
    code: int = tool.main(["--url", "http://ledger.test", "--api-key", "k", *extra], get=ledger)
    return code


# Hash chain


def test_canonical_json_sorts_keys_compactly_and_keeps_non_ascii() -> None:
    assert tool.canonical_json({"b": 1, "a": {"é": None}}) == '{"a":{"é":null},"b":1}'.encode()


def test_the_event_hash_is_over_a_hand_written_canonical_form() -> None:
    envelope = {
        "event_id": "ignored",
        "position": 7,
        "hash": "ignored",
        "deal_id": "d",
        "version": 1,
        "type": "DealApplied",
        "data": {"name": "Ünal", "amount": "10.00"},
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "recorded_at": "2026-01-01T00:00:01.000000Z",
        "actor": "a",
        "source": None,
        "prev_hash": None,
    }
    canonical = (
        '{"actor":"a","data":{"amount":"10.00","name":"Ünal"},"deal_id":"d",'
        '"occurred_at":"2026-01-01T00:00:00.000000Z","prev_hash":null,'
        '"recorded_at":"2026-01-01T00:00:01.000000Z","source":null,'
        '"type":"DealApplied","version":1}'
    ).encode()
    assert tool.event_hash(envelope) == hashlib.sha256(canonical).hexdigest()


@pytest.mark.parametrize("field", tool.HASHED_FIELDS)
def test_every_hashed_field_changes_the_hash(field: str) -> None:
    event = make_log(4)[3]
    changed = {**event, field: "tampered"}
    assert tool.event_hash(changed) != tool.event_hash(event)


def test_a_well_formed_log_has_no_problems() -> None:
    assert tool.check_events(make_log(50)) == []


def _edit_data(log: list[Event]) -> None:
    log[10]["data"]["amount"] = "999.00"


def _rechain(log: list[Event]) -> None:
    log[10]["prev_hash"] = None
    log[10]["hash"] = spec_hash({k: log[10][k] for k in tool.HASHED_FIELDS})


def _drop(log: list[Event]) -> None:
    del log[10]


def _swap(log: list[Event]) -> None:
    log[10]["position"], log[11]["position"] = log[11]["position"], log[10]["position"]


def _strip(log: list[Event]) -> None:
    del log[10]["actor"]


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (_edit_data, "content hashes to"),
        (_rechain, "prev_hash does not match"),
        (_drop, "follows version"),
        (_swap, "position does not increase"),
        (_strip, "lacks actor"),
    ],
)
def test_a_tampered_log_is_caught(tamper: Callable[[list[Event]], None], complaint: str) -> None:
    log = make_log(30)
    tamper(log)
    problems = tool.check_events(log)
    assert any(complaint in p for p in problems), problems


# Merkle math against the project's tree


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=200))
def test_the_tool_root_equals_the_tree_root(n: int) -> None:
    tree = MerkleTree()
    tree.append_many(LEAVES[:n])
    assert tool.merkle_root(LEAVES[:n]) == tree.root()


@settings(max_examples=150)
@given(st.integers(min_value=1, max_value=200), st.data())
def test_the_tool_accepts_tree_inclusion_proofs_and_rejects_tampered_ones(
    size: int, data: st.DataObject
) -> None:
    tree = MerkleTree()
    tree.append_many(LEAVES[:size])
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof, good = tree.inclusion_proof(index, size), tree.root()
    assert tool.verify_inclusion(LEAVES[index], index, size, proof, good)
    assert not tool.verify_inclusion(LEAVES[(index + 1) % 200], index, size, proof, good)
    assert not tool.verify_inclusion(LEAVES[index], index + 1, size, proof, good)
    assert not tool.verify_inclusion(LEAVES[index], index, size, proof, LEAVES[0])
    if proof:
        assert not tool.verify_inclusion(LEAVES[index], index, size, proof[::-1] + [good], good)
        assert not tool.verify_inclusion(LEAVES[index], index, size, proof[:-1], good)


@settings(max_examples=150)
@given(st.integers(min_value=1, max_value=200), st.data())
def test_the_tool_accepts_tree_consistency_proofs_and_rejects_forks(
    second: int, data: st.DataObject
) -> None:
    first = data.draw(st.integers(min_value=0, max_value=second))
    tree = MerkleTree()
    tree.append_many(LEAVES[:second])
    proof = tree.consistency_proof(first, second)
    r1, r2 = tree.root(first), tree.root(second)
    assert tool.verify_consistency(first, second, r1, r2, proof)
    if first == 0:
        return
    forked = MerkleTree()
    forked.append_many([b"forged", *LEAVES[1:second]])
    assert not tool.verify_consistency(first, second, forked.root(first), r2, proof)
    assert not tool.verify_consistency(first, second, r1, forked.root(), proof)
    if first < second:
        assert not tool.verify_consistency(first, second, r1, r2, proof[:-1])
        assert not tool.verify_consistency(first, second, r2, r1, proof)


# Signature


def test_the_digest_signature_is_checked(ledger: FakeLedger) -> None:
    key = ledger("/v1/audit/public-key", {})
    digest = ledger.digest_at(5)
    assert tool.check_signature(digest, key) is True
    assert tool.check_signature({**digest, "tree_size": 6}, key) is False
    assert tool.check_signature({**digest, "signature": "zz"}, key) is False
    assert tool.check_signature({**digest, "signed_at": "2030-01-01T00:00:00Z"}, key) is False
    assert tool.check_signature(digest, {**key, "algorithm": "RSA"}) is False
    stranger = FakeLedger(ledger.events[:5], Ed25519PrivateKey.generate())
    assert tool.check_signature(stranger.digest_at(5), key) is False


def test_the_signature_check_is_skipped_without_cryptography(
    ledger: FakeLedger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    assert tool.check_signature(ledger.digest_at(5), {}) is None
    assert run(ledger) == 0
    assert "signature not checked" in capsys.readouterr().out


# The whole audit


def test_an_honest_ledger_verifies(ledger: FakeLedger, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(ledger, "--event-id", ledger.events[1234]["event_id"]) == 0
    out = capsys.readouterr().out
    assert "2500 event hashes" in out
    assert "inclusion proof of event" in out
    assert "ledger verified: tree size 2500" in out


def test_a_saved_digest_later_proves_the_log_only_grew(
    ledger: FakeLedger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "digest.json"
    ledger.current = ledger.digest_at(777)
    assert run(ledger, "--save-digest", str(saved)) == 0
    assert json.loads(saved.read_text())["tree_size"] == 777
    ledger.current = ledger.digest_at(2500)
    assert run(ledger, "--old-digest", str(saved)) == 0
    assert "tree 777 is a prefix of tree 2500" in capsys.readouterr().out


@pytest.mark.parametrize("old_size", [0, 1, 1024, 2500])
def test_edge_sizes_of_the_old_digest_verify(
    ledger: FakeLedger, tmp_path: Path, old_size: int
) -> None:
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps(ledger.digest_at(old_size)))
    assert run(ledger, "--old-digest", str(saved)) == 0


def test_a_rewritten_history_fails_the_consistency_check(
    ledger: FakeLedger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_log = make_log(2500)
    other_log[3]["hash"] = hashlib.sha256(b"a different event").hexdigest()
    forked = FakeLedger(other_log, ledger.key)
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps(forked.digest_at(100)))
    assert run(ledger, "--old-digest", str(saved)) == 1
    out = capsys.readouterr().out
    assert "differ from the digests'" in out
    assert "is not a prefix of the current tree" in out


def test_a_shrunken_tree_fails(ledger: FakeLedger, tmp_path: Path) -> None:
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps(ledger.digest_at(2500)))
    ledger.current = ledger.digest_at(2000)
    assert run(ledger, "--old-digest", str(saved)) == 1


def test_no_digest_is_saved_when_verification_fails(ledger: FakeLedger, tmp_path: Path) -> None:
    ledger.events[7]["data"]["amount"] = "0.01"
    saved = tmp_path / "digest.json"
    assert run(ledger, "--save-digest", str(saved)) == 1
    assert not saved.exists()


def test_an_edited_event_fails(ledger: FakeLedger, capsys: pytest.CaptureFixture[str]) -> None:
    ledger.events[2001]["actor"] = "someone-else"
    assert run(ledger) == 1
    assert "ledger NOT verified" in capsys.readouterr().err


def test_a_root_that_does_not_cover_the_log_fails(ledger: FakeLedger) -> None:
    fields = {k: ledger.current[k] for k in tool.SIGNED_FIELDS}
    fields["root"] = ledger.tree.root(2499).hex()
    ledger.current = {**fields, "signature": ledger.sign(fields)}
    assert run(ledger) == 1


def test_a_forged_signature_fails(ledger: FakeLedger) -> None:
    ledger.current["signature"] = Ed25519PrivateKey.generate().sign(b"x").hex()
    assert run(ledger) == 1


def test_a_digest_signed_by_another_key_id_fails(ledger: FakeLedger) -> None:
    ledger.current["key_id"] = "k2"
    assert run(ledger) == 1


def test_a_digest_committing_to_more_events_than_served_fails(ledger: FakeLedger) -> None:
    del ledger.events[-10:]
    assert run(ledger) == 1


def test_a_lying_inclusion_proof_fails(ledger: FakeLedger) -> None:
    ledger.proof_override = {"leaf_index": 11}
    assert run(ledger, "--event-id", ledger.events[10]["event_id"]) == 1
    ledger.proof_override = {"audit_path": [LEAVES[0].hex()] * 12}
    assert run(ledger, "--event-id", ledger.events[10]["event_id"]) == 1


def test_an_event_newer_than_the_digest_is_reported(
    ledger: FakeLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger.current = ledger.digest_at(100)
    assert run(ledger, "--event-id", ledger.events[150]["event_id"]) == 1
    assert "retry later" in capsys.readouterr().out
    assert run(ledger, "--event-id", "no-such-event") == 1


def test_an_unreachable_ledger_is_a_clear_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(request: Any, timeout: float) -> Any:
        assert request.get_header("Authorization") == "Bearer sekret"
        raise tool.urllib.error.URLError("connection refused")

    monkeypatch.setattr(tool.urllib.request, "urlopen", refuse)
    assert tool.main(["--url", "http://ledger.test/", "--api-key", "sekret"]) == 1
    assert "cannot reach http://ledger.test" in capsys.readouterr().err
