"""Refusals on record (issue 19) through HTTP on both databases: each write refused to an
authenticated key is listed once at ``GET /v1/refusals``, with who, what and the body's
hash, however many writes run beside it; what is not a refused write is not listed; a
store that fails changes no answer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.factories import (
    LICENSE_REQUESTED,
    application,
    apply_deal,
    assert_problem,
    license_approved,
    post_event,
    screening,
    whole_log,
)

Sent = tuple[bytes, httpx.Response]


async def send(client: httpx.AsyncClient, path: str, body: Any, key: str,
               **headers: str) -> Sent:
    """POST ``body`` as exactly these bytes, by ``key`` (a name in conftest's KEYS)."""
    raw = json.dumps(body).encode()
    r = await client.post(path, content=raw, headers={
        **auth(key), "Content-Type": "application/json", **headers})
    return raw, r


async def listed(client: httpx.AsyncClient, **query: Any) -> dict[str, Any]:
    r = await client.get("/v1/refusals", params=query, headers=auth("auditor"))
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def every_refusal(client: httpx.AsyncClient, **query: Any) -> list[dict[str, Any]]:
    page = await listed(client, **query)
    return page["refusals"]  # type: ignore[no-any-return]


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


async def licensed_deal(client: httpx.AsyncClient, body: dict[str, Any], number: str) -> str:
    deal_id: str = (await apply_deal(client, body))["deal_id"]
    for type_name, data in (("LicenseRequested", LICENSE_REQUESTED),
                            ("CommerceLicenseApproved",
                             license_approved(body, license_number=number))):
        r = await post_event(client, deal_id, type_name, data)
        assert r.status_code == 201, r.text
    return deal_id


async def test_each_refusal_is_listed_once_beside_concurrent_accepted_writes(
        client: httpx.AsyncClient):
    first_body = application(application_number="EXIM-R-1")
    first = await licensed_deal(client, first_body, "D-7001")
    second_body = application(application_number="EXIM-R-2")
    second = (await apply_deal(client, second_body))["deal_id"]
    r = await post_event(client, second, "LicenseRequested", LICENSE_REQUESTED)
    assert r.status_code == 201, r.text
    stranger = application(application_number="EXIM-R-US",
                           buyer={"name": "Home Buyer Inc.", "country": "US"})
    refusals: list[tuple[str, str, str, Any, str, str, str | None]] = [
        # (path, key, expected code, body, status, event_type, deal_id)
        ("/v1/deals", "origination", "buyer_not_foreign", stranger, "422", "DealApplied",
         None),
        ("/v1/deals", "origination", "duplicate_application", first_body, "409",
         "DealApplied", first),  # the problem names the deal
        (f"/v1/deals/{first}/events", "licensing", "version_conflict",
         {"type": "PartyScreened", "data": screening(), "expected_version": 1}, "409",
         "PartyScreened", first),
        (f"/v1/deals/{second}/events", "licensing", "license_number_taken",
         {"type": "CommerceLicenseApproved",
          "data": license_approved(second_body, license_number="D-7001")}, "409",
         "CommerceLicenseApproved", second),
        (f"/v1/deals/{first}/events", "origination", "event_not_permitted",
         {"type": "BoardVoted", "data": {}}, "403", "BoardVoted", first),
    ]
    accepted = [("/v1/deals", "origination", application(application_number=f"EXIM-OK-{i}"))
                for i in range(6)]
    accepted.append((f"/v1/deals/{second}/events", "licensing",
                     {"type": "PartyScreened", "data": screening()}))
    sent = await asyncio.gather(
        *(send(client, path, body, key) for path, key, _, body, *_ in refusals),
        *(send(client, path, body, key) for path, key, body in accepted))

    for (_, _, code, _, status, _, _), (_, r) in zip(refusals, sent, strict=False):
        assert_problem(r, int(status), code)
    stored = await every_refusal(client)
    assert len(stored) == len(refusals)
    by_code = {row["code"]: row for row in stored}
    for (_, key, code, body, _, event_type, deal_id), (raw, r) in zip(refusals, sent,
                                                                     strict=False):
        row = by_code[code]
        assert row["actor"] == f"{key}-key" and row["role"] == key
        assert row["event_type"] == event_type
        assert row["body_sha256"] == sha256(raw)
        assert row["request_id"] == r.headers["X-Request-ID"]
        assert row["detail"] == r.json()["detail"]
        assert row["deal_id"] == deal_id
        assert row["policy_version"]
        if event_type == "DealApplied":
            assert row["application_number"] == body["application_number"]
    ids = {e["event_id"] for e in await whole_log(client)}
    for _, r in sent[len(refusals):]:
        assert r.status_code == 201, r.text
        assert r.json()["event_id"] in ids


async def test_a_replayed_refusal_is_not_stored_again(client: httpx.AsyncClient):
    body = application(buyer={"name": "Home Buyer Inc.", "country": "US"})
    answers = [await send(client, "/v1/deals", body, "origination", **{
        "Idempotency-Key": "k-1", "X-Source-System": "crm"}) for _ in range(2)]
    assert [r.headers.get("Idempotency-Replayed") for _, r in answers] == [None, "true"]
    stored = await every_refusal(client)
    assert [(row["code"], row["source"]) for row in stored] == [("buyer_not_foreign", "crm")]


async def test_what_is_not_a_refused_write_of_a_known_key_is_not_stored(
        client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json=application())
    assert_problem(r, 401, "unauthorized")
    r = await client.get("/v1/portfolio/deals", params={"bogus": "1"}, headers=auth("reader"))
    assert_problem(r, 422, "validation_error")
    r = await client.get("/v1/refusals", headers=auth("reader"))
    assert_problem(r, 403, "forbidden")
    await apply_deal(client)
    assert await every_refusal(client) == []


async def test_refusals_are_filtered_and_paged(client: httpx.AsyncClient):
    us = {"name": "Home Buyer Inc.", "country": "US"}
    for i in range(3):
        await send(client, "/v1/deals", application(buyer=us), "origination")
        await send(client, "/v1/deals", application(application_number=f"X-{i}"), "board")
    everything = await every_refusal(client)
    assert len(everything) == 6
    assert {row["code"] for row in await every_refusal(client, code="buyer_not_foreign")} \
        == {"buyer_not_foreign"}
    assert len(await every_refusal(client, actor="board-key")) == 3
    assert len(await every_refusal(client, event_type="DealApplied")) == 6
    assert await every_refusal(client, event_type="BoardVoted") == []
    middle = everything[2]["recorded_at"]
    assert len(await every_refusal(client, to=middle)) >= 3
    assert await every_refusal(client, **{"from": "2999-01-01T00:00:00Z"}) == []
    rows: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = await listed(client, limit=4, **({"cursor": cursor} if cursor else {}))
        rows += page["refusals"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and rows == everything
    r = await client.get("/v1/refusals", params={"kind": "x"}, headers=auth("auditor"))
    assert_problem(r, 422, "validation_error")


async def test_refusals_are_counted_in_the_metrics_and_the_access_log(
        client: httpx.AsyncClient, caplog: Any):
    caplog.set_level("INFO", logger="exim_ledger.access")
    deal_id = (await apply_deal(client))["deal_id"]
    for _ in range(2):
        await send(client, f"/v1/deals/{deal_id}/events", {
            "type": "PartyScreened", "data": screening(), "expected_version": 7}, "licensing")
    await every_refusal(client)
    text = (await client.get("/metrics")).text
    assert re.search(r'^ledger_refusals_total\{code="version_conflict"\} 2\.0$', text, re.M)
    codes = [getattr(rec, "code", None) for rec in caplog.records
             if rec.name == "exim_ledger.access" and rec.getMessage().startswith("POST")]
    assert codes.count("version_conflict") == 2


async def test_a_failing_store_changes_no_answer_and_counts_the_drop(
        client: httpx.AsyncClient):
    from service import refusals

    app: Any = client.app  # type: ignore[attr-defined]
    refusals.refusals.drop(app.state.engine)
    try:
        raw, r = await send(client, "/v1/deals", application(
            buyer={"name": "Home Buyer Inc.", "country": "US"}), "origination")
        assert_problem(r, 422, "buyer_not_foreign")
        assert app.state.refusals.flush(5)
        text = (await client.get("/metrics")).text
        assert re.search(r'^ledger_refusals_dropped_total\{reason="store_failed"\} 1\.0$',
                         text, re.M)
        assert re.search(r'^ledger_refusals_total\{code="buyer_not_foreign"\} 1\.0$',
                         text, re.M)
    finally:
        refusals.metadata.create_all(app.state.engine)
    await send(client, "/v1/deals", {"type": "x"}, "origination")
    assert [row["code"] for row in await every_refusal(client)] == ["validation_error"]


async def test_the_client_reads_refusals_as_typed_records(client: httpx.AsyncClient):
    from exim_ledger_client import AsyncLedgerClient, LedgerProblem

    from tests.conftest import KEYS

    transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
    async with AsyncLedgerClient("http://ledger", KEYS["origination"], transport=transport,
                                 source="crm") as desk, \
            AsyncLedgerClient("http://ledger", KEYS["auditor"], transport=transport) as audit:
        applied = await desk.apply(application())
        with pytest.raises(LedgerProblem) as refused:
            await desk.append(applied.deal_id, "PartyScreened", screening(), expected_version=1)
        assert refused.value.status == 403
        page = await audit.refusals(code="event_not_permitted", since="2000-01-01T00:00:00Z")
        assert page.next_cursor is None
        [refusal] = page.refusals
        assert refusal.deal_id == applied.deal_id and refusal.source == "crm"
        assert refusal.event_type == "PartyScreened" and refusal.actor == "origination-key"
        assert refusal.recorded_at.tzinfo is not None
        assert (await audit.refusals(code="version_conflict")).refusals == []
