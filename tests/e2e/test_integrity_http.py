"""The audit integrity endpoints over HTTP: signed digests, the public key, inclusion and
consistency proofs (checked with tools/verify_ledger.py's own verifier functions), and
their errors and roles."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.settings import Settings
from tests.conftest import auth
from tests.support.auditor_tool import load_tool
from tests.support.factories import (
    PROGRAM,
    append_all,
    apply_deal,
    assert_problem,
    event,
    ledger_client,
    lifecycle_to_financed,
    whole_log,
)

tool = load_tool()
AUDITOR = auth("auditor")


async def populate(client: httpx.AsyncClient, deals: int = 3) -> list[dict[str, Any]]:
    """A few deals with interleaved events; the whole log."""
    ids = [(await apply_deal(client))["deal_id"] for _ in range(deals)]
    lifecycles = [lifecycle_to_financed() for _ in ids]  # a license number of each deal's own
    for steps in zip(*lifecycles, strict=True):
        for deal_id, step in zip(ids, steps, strict=True):
            await append_all(client, deal_id, [step])
    return await whole_log(client)


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    r = await client.get(path, params=params, headers=AUDITOR)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def digest_at(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    head = events[-1]["position"] if events else 0
    return await get(client, "/v1/audit/digest", min_position=head)


def leaf(ev: dict[str, Any]) -> bytes:
    return bytes.fromhex(ev["hash"])


def unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


async def test_the_digest_commits_to_the_whole_log_and_is_signed(client: httpx.AsyncClient):
    events = await populate(client)
    digest = await digest_at(client, events)
    key = await get(client, "/v1/audit/public-key")
    assert set(digest) == {"tree_size", "root", "position", "signed_at", "key_id", "signature"}
    assert digest["tree_size"] == len(events)
    assert digest["position"] == events[-1]["position"]
    assert digest["root"] == tool.merkle_root([leaf(e) for e in events]).hex()
    assert digest["signed_at"].endswith("Z")
    assert key["algorithm"] == "Ed25519"
    raw = base64.b64decode(key["public_key"])
    assert len(raw) == 32
    assert key["key_id"] == digest["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    assert tool.check_signature(digest, key) is True
    assert tool.check_signature({**digest, "tree_size": digest["tree_size"] - 1}, key) is False


@pytest.mark.program_unauthorized
async def test_the_empty_tree_has_the_empty_root(client: httpx.AsyncClient):
    """A new ledger, before the board's authorization, holds its two policies; the tree
    before them is the empty one."""
    digest = await get(client, "/v1/audit/digest", min_position=2)
    assert (digest["tree_size"], digest["position"]) == (2, 2)
    proof = await get(client, "/v1/audit/consistency", first=0, second=2)
    assert proof["first_root"] == hashlib.sha256(b"").hexdigest()


async def test_every_inclusion_proof_verifies_at_every_size_and_fails_when_wrong(
    client: httpx.AsyncClient,
):
    events = await populate(client)
    n = len(events)
    await digest_at(client, events)
    for index, ev in enumerate(events):
        for size in sorted({index + 1, (index + n + 1) // 2, n}):
            proof = await get(client, "/v1/audit/proof", event_id=ev["event_id"],
                              tree_size=size)
            root = tool.merkle_root([leaf(e) for e in events[:size]])
            assert proof["leaf_index"] == index and proof["tree_size"] == size
            assert proof["root"] == root.hex()
            path = unhex(proof["audit_path"])
            assert tool.verify_inclusion(leaf(ev), index, size, path, root)
            other = events[(index + 1) % n]
            assert not tool.verify_inclusion(leaf(other), index, size, path, root)
            assert not tool.verify_inclusion(leaf(ev), index, size, path, bytes(32))
    default = await get(client, "/v1/audit/proof", event_id=events[0]["event_id"])
    assert default["tree_size"] == n


async def test_every_consistency_proof_verifies_and_fails_when_wrong(client: httpx.AsyncClient):
    events = await populate(client, deals=2)
    n = len(events)
    await digest_at(client, events)
    roots = [tool.merkle_root([leaf(e) for e in events[:m]]) for m in range(n + 1)]
    for second in range(n + 1):
        for first in range(second + 1):
            answer = await get(client, "/v1/audit/consistency", first=first, second=second)
            assert (answer["first"], answer["second"]) == (first, second)
            assert answer["first_root"] == roots[first].hex()
            assert answer["second_root"] == roots[second].hex()
            proof = unhex(answer["proof"])
            assert tool.verify_consistency(first, second, roots[first], roots[second], proof)
            if 0 < first < second:
                assert not tool.verify_consistency(
                    first, second, roots[first - 1], roots[second], proof)
                assert not tool.verify_consistency(
                    first, second, roots[first], bytes(32), proof)


async def test_an_old_digest_is_a_prefix_of_a_later_one(client: httpx.AsyncClient):
    events = await populate(client, deals=2)
    old = await digest_at(client, events)
    deal_id = events[-1]["deal_id"]
    await append_all(client, deal_id, [event("FundsDisbursed", amount="100.00",
                                             reference="D-1")])
    events = await whole_log(client)
    new = await digest_at(client, events)
    assert new["tree_size"] == old["tree_size"] + 1
    answer = await get(client, "/v1/audit/consistency", first=old["tree_size"],
                       second=new["tree_size"])
    assert tool.verify_consistency(old["tree_size"], new["tree_size"],
                                   bytes.fromhex(old["root"]), bytes.fromhex(new["root"]),
                                   unhex(answer["proof"]))


async def test_bad_or_unknown_parameters_are_problems(client: httpx.AsyncClient):
    events = await populate(client, deals=1)
    n = len(events)
    await digest_at(client, events)
    some = events[2]["event_id"]

    async def problem(path: str, status: int, code: str, **params: Any) -> dict[str, Any]:
        return assert_problem(await client.get(path, params=params, headers=AUDITOR),
                              status, code)

    await problem("/v1/audit/proof", 404, "not_found",
                  event_id="00000000-0000-4000-8000-000000000000")
    await problem("/v1/audit/proof", 422, "validation_error", event_id="not-a-uuid")
    await problem("/v1/audit/proof", 422, "validation_error")
    for size in (0, -1, 2, "x"):
        await problem("/v1/audit/proof", 422, "validation_error", event_id=some,
                      tree_size=size)
    await problem("/v1/audit/proof", 409, "tree_size_not_reached", event_id=some,
                  tree_size=n + 1)
    for first, second in ((2, 1), (-1, 2), ("a", 2)):
        await problem("/v1/audit/consistency", 422, "validation_error", first=first,
                      second=second)
    await problem("/v1/audit/consistency", 409, "tree_size_not_reached", first=0, second=n + 1)
    await problem("/v1/audit/consistency", 422, "validation_error", first=1)
    await problem("/v1/audit/verify", 422, "validation_error", deal_id="nope")
    await problem("/v1/audit/verify", 404, "not_found",
                  deal_id="00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize("path", ["/v1/audit/digest", "/v1/audit/public-key",
                                  "/v1/audit/verify", "/v1/audit/consistency?first=0&second=0"])
async def test_only_auditors_and_admins_may_use_the_integrity_endpoints(
    client: httpx.AsyncClient, path: str
):
    assert (await client.get(path)).status_code == 401
    for role in ("reader", "writer"):
        assert_problem(await client.get(path, headers=auth(role)), 403, "forbidden")
    for role in ("auditor", "admin"):
        assert (await client.get(path, headers=auth(role))).status_code == 200


async def test_verify_over_http_reports_an_untampered_ledger(client: httpx.AsyncClient):
    events = await populate(client, deals=2)
    await digest_at(client, events)
    report = await get(client, "/v1/audit/verify")
    assert report["ok"] is True and report["failures"] == []
    assert report["events_checked"] == len(events)
    program_events = [e for e in events if e["deal_id"] == PROGRAM]
    # the two shipped policies and the board's authorization (the client fixture's)
    assert [e["type"] for e in program_events] == [
        "PolicyAdopted", "PolicyAdopted", "ProgramAuthorized"]
    one = await get(client, "/v1/audit/verify", deal_id=events[-1]["deal_id"])
    assert one["ok"] is True
    assert one["events_checked"] == (len(events) - len(program_events)) // 2
    program = await get(client, "/v1/audit/verify", deal_id=PROGRAM)
    assert program["ok"] is True and program["events_checked"] == len(program_events)


async def test_the_generated_signing_key_is_private_and_survives_a_restart(settings: Settings):
    if settings.is_postgres:
        pytest.skip("the embedded default (SQLite) generates its key next to the database")
    async with ledger_client(settings) as client:
        first = await get(client, "/v1/audit/public-key")
    key_file = settings.sqlite_path.parent / "signing-key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    async with ledger_client(settings) as client:
        again = await get(client, "/v1/audit/public-key")
    assert again == first


async def test_a_configured_signing_key_signs_the_digest(settings: Settings, tmp_path: Path):
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    configured = settings.model_copy(update={"signing_key": base64.b64encode(seed).decode()})
    async with ledger_client(configured) as client:
        key = await get(client, "/v1/audit/public-key")
        digest = await get(client, "/v1/audit/digest")
    assert base64.b64decode(key["public_key"]) == public
    assert tool.check_signature(digest, key) is True

    pem = tmp_path / "key.pem"
    pem.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    pem.chmod(0o600)
    from_file = settings.model_copy(update={"signing_key_file": str(pem)})
    async with ledger_client(from_file) as client:
        assert (await get(client, "/v1/audit/public-key"))["key_id"] == key["key_id"]


async def test_a_malformed_signing_key_is_a_503_not_a_crash(settings: Settings):
    broken = settings.model_copy(update={"signing_key": "c2hvcnQ="})
    async with ledger_client(broken) as client:
        r = await client.get("/v1/audit/digest", headers=AUDITOR)
    assert_problem(r, 503, "signing_key_unavailable")
