"""The explorer's reads through HTTP on both databases: the deals list searched by text
(``q``: application number, buyer, end user, any case, wildcards literal), bounded by
business time (``occurred_from`` inclusive, ``occurred_to`` exclusive), exported whole as
JSONL and CSV (the same rows as the paged JSON, streamed), and the license-status counts
across deals, which see a financed deal's revoked license whatever its stage."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.conftest import auth
from tests.support.factories import (
    Clock,
    application,
    apply_deal,
    assert_problem,
    authorize_program,
    error_fields,
    financed_deal,
    ledger_client,
    post_event,
)

DAY = "2027-01-{:02d}T09:00:00Z"  # the deals' business dates, before the server's day


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a fixed clock (the dates above stay within the backdating window)."""
    async with ledger_client(settings, clock=Clock("2027-01-20T10:00:00Z")) as c:
        await authorize_program(c)
        yield c


async def applied(client: httpx.AsyncClient, day: int, **changes: Any) -> str:
    body = {**application(**changes), "occurred_at": DAY.format(day)}
    return str((await apply_deal(client, body))["deal_id"])


async def listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """Every deal id the filters list, page after page."""
    ids: list[str] = []
    cursor = None
    while True:
        r = await client.get("/v1/portfolio/deals", headers=auth("reader"),
                             params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [row["deal_id"] for row in page["deals"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def head(client: httpx.AsyncClient) -> int:
    r = await client.get("/v1/events", params={"after": 0, "limit": 1000},
                         headers=auth("reader"))
    return int(r.json()["events"][-1]["position"])


async def test_q_finds_a_deal_by_number_buyer_or_end_user_in_any_case(
        client: httpx.AsyncClient):
    first = await applied(client, 2, application_number="EXPL-100A",
                          buyer={"name": "Nordlicht Rechenwerk AG", "country": "DE"})
    second = await applied(client, 3, application_number="EXPL-200",
                           end_user={"name": "Cerrado Computação S.A.", "country": "DE"})
    at = await head(client)
    assert await listed(client, q="expl-100a", min_position=at) == [first]
    assert await listed(client, q="NORDLICHT", min_position=at) == [first]
    assert await listed(client, q="computação", min_position=at) == [second]
    assert await listed(client, q="EXPL-", min_position=at) == [first, second]
    assert await listed(client, q="nordlicht%werk", min_position=at) == [], "% is no wildcard"
    assert await listed(client, q="nordlicht_rechen", min_position=at) == [], "nor _"
    assert await listed(client, q="expl", limit=1, min_position=at) == [first, second]
    for bad in ("", "x" * 101, "a\nb"):
        r = await client.get("/v1/portfolio/deals", params={"q": bad}, headers=auth("reader"))
        assert error_fields(assert_problem(r, 422, "validation_error")) == ["q"], bad


async def test_occurred_from_and_to_bound_the_business_date(client: httpx.AsyncClient):
    days = {day: await applied(client, day) for day in (1, 5, 9)}
    at = await head(client)
    assert await listed(client, occurred_from=DAY.format(5), min_position=at) == [
        days[5], days[9]]
    assert await listed(client, occurred_to=DAY.format(5), min_position=at) == [days[1]]
    assert await listed(client, occurred_from="2027-01-02T00:00:00Z",
                        occurred_to="2027-01-09T00:00:00+00:00", min_position=at) == [days[5]]
    view = (await client.get(f"/v1/deals/{days[9]}", headers=auth("reader"))).json()
    assert view["applied_occurred_at"] == "2027-01-09T09:00:00.000000Z"
    r = await client.get("/v1/portfolio/deals", params={"occurred_from": "yesterday"},
                         headers=auth("reader"))
    assert error_fields(assert_problem(r, 422, "validation_error")) == ["occurred_from"]


async def test_exports_stream_every_filtered_row_as_the_paged_list_has_them(
        client: httpx.AsyncClient):
    ids = [await applied(client, day, buyer={"name": f"Buyer, \"{day}\"", "country": "DE"})
           for day in (1, 2, 3)]
    await applied(client, 4, buyer={"name": "Other", "country": "BR"})
    at = await head(client)
    params = {"country": "DE", "min_position": at, "limit": 1}
    paged = []
    cursor = None
    while True:
        page = (await client.get("/v1/portfolio/deals", headers=auth("reader"), params={
            **params, **({"cursor": cursor} if cursor else {})})).json()
        paged += page["deals"]
        if (cursor := page["next_cursor"]) is None:
            break
    r = await client.get("/v1/portfolio/deals", params={**params, "format": "jsonl"},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in r.headers["content-disposition"]
    assert [json.loads(line) for line in r.text.splitlines()] == paged
    r = await client.get("/v1/portfolio/deals", params={**params, "format": "csv"},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["deal_id"] for row in rows] == ids
    assert [row["buyer_name"] for row in rows] == [f'Buyer, "{d}"' for d in (1, 2, 3)]
    assert [row["exposure"] for row in rows] == [deal["exposure"] for deal in paged]
    r = await client.get("/v1/portfolio/deals", params={"format": "xml"},
                         headers=auth("reader"))
    assert_problem(r, 422, "validation_error")
    r = await client.get("/v1/portfolio/deals", params={"format": "csv"})
    assert r.status_code == 401


async def test_license_status_counts_a_financed_deal_whose_license_was_revoked(
        client: httpx.AsyncClient):
    body = application()
    revoked = await financed_deal(client, body)
    await financed_deal(client)
    await applied(client, 6)
    number = next(e["data"]["license_number"] for e in (await client.get(
        f"/v1/deals/{revoked}/events", headers=auth("reader"))).json()["events"]
        if e["type"] == "CommerceLicenseApproved")
    r = await post_event(client, revoked, "CommerceLicenseRevoked",
                         {"license_number": number, "reason": "end user of concern"})
    assert r.status_code == 201, r.text
    at = int(r.json()["position"])
    r = await client.get("/v1/portfolio/license-status", params={"min_position": at},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    counts = r.json()
    by_status = {row["license_status"]: row for row in counts["by_license_status"]}
    assert by_status["revoked"]["deals"] == 1
    assert by_status["revoked"]["financed"] == 1
    revoked_view = (await client.get(f"/v1/deals/{revoked}", headers=auth("reader"))).json()
    assert by_status["revoked"]["exposure"] == revoked_view["exposure"]
    assert by_status["approved"]["financed"] == 1
    assert sum(row["deals"] for row in counts["by_license_status"]) == 3
    stage_rows = {(row["stage"], row["license_status"]): row["deals"]
                  for row in counts["by_stage"]}
    assert stage_rows[(revoked_view["stage"], "revoked")] == 1
    r = await client.get("/v1/portfolio/license-status",
                         params={"license_status": "revoked", "min_position": at},
                         headers=auth("reader"))
    assert [row["license_status"] for row in r.json()["by_license_status"]] == ["revoked"]
    r = await client.get("/v1/portfolio/license-status", headers=auth("reader"), params={
        "q": body["application_number"].lower(), "min_position": at})
    assert [(row["license_status"], row["deals"]) for row in r.json()["by_license_status"]] \
        == [("revoked", 1)], "the text search narrows it like the list"
