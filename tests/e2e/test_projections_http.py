"""Projections over HTTP with the in-process runner: read-your-writes, filters and paging,
time travel, freshness and reconciliation, rebuilds, the audit trail and its exports, and
the live SSE feed of a real server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from service.settings import Settings
from tests.conftest import auth
from tests.support.factories import (
    BOARD_APPROVED,
    LICENSE_REQUESTED,
    PROGRAM,
    adopt_policy,
    append_all,
    application,
    apply_deal,
    assert_problem,
    direct_loan_application,
    event,
    financed_deal,
    headers_for,
    uncontrolled_application,
    whole_log,
    writer_headers,
)
from tests.support.live_server import LiveServer

NAMES = {"deals", "portfolio", "exposure", "audit"}
PATIENCE = 60.0  # a generous bound on waits that end as soon as their condition holds


async def fresh(client: httpx.AsyncClient, path: str, position: int, role: str = "reader",
                **params: Any) -> Any:
    """GET ``path`` once the projection reached ``position``; the JSON body."""
    r = await client.get(path, params={"min_position": position, **params}, headers=auth(role))
    assert r.status_code == 200, r.text
    return r.json()


async def head(client: httpx.AsyncClient) -> int:
    r = await client.get("/v1/events", params={"after": 0, "limit": 1000}, headers=auth("reader"))
    return int(r.json()["next_after"])


async def test_a_write_is_in_the_portfolio_read_that_waits_for_its_position(
    client: httpx.AsyncClient,
) -> None:
    applied = await apply_deal(client, application(financed_amount="8000000.00"))
    body = await fresh(client, "/v1/portfolio", applied["position"])
    assert body["position"] >= applied["position"]
    assert body["totals"]["deals"] == 1
    assert body["totals"]["requested"] == "8000000.00"
    assert body["by_stage"]["applied"] == 1

    r = await client.post(f"/v1/deals/{applied['deal_id']}/events",
                          json=event("LicenseRequested", **LICENSE_REQUESTED),
                          headers=writer_headers())
    assert r.status_code == 201, r.text
    assert int(r.headers["X-Ledger-Position"]) == r.json()["position"]
    body = await fresh(client, "/v1/portfolio", r.json()["position"])
    assert (body["by_stage"]["applied"], body["by_stage"]["license_pending"]) == (0, 1)
    deals = await fresh(client, "/v1/portfolio/deals", r.json()["position"])
    assert [d["stage"] for d in deals["deals"]] == ["license_pending"]


async def test_a_position_beyond_the_logs_head_is_refused_at_once(
    client: httpx.AsyncClient,
) -> None:
    applied = await apply_deal(client)
    beyond = applied["position"] + 10**6
    started = time.monotonic()
    for path in ("/v1/portfolio", "/v1/portfolio/deals", "/v1/exposure", "/v1/audit/log",
                 "/v1/audit/digest"):
        r = await client.get(path, params={"min_position": beyond}, headers=auth("admin"))
        body = assert_problem(r, 409, "position_not_reached")
        assert (body["min_position"], body["head"]) == (beyond, applied["position"])
    assert time.monotonic() - started < 4.0  # not one wait for the projections' timeout


async def test_a_position_the_projection_does_not_reach_is_a_503_projection_behind(
    settings: Settings,
) -> None:
    from service.api.app import create_app

    app = create_app(settings.model_copy(update={"projections_in_process": False}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ledger") as client:
        applied = await apply_deal(client)
        started = time.monotonic()
        r = await client.get("/v1/portfolio", params={"min_position": applied["position"]},
                             headers=auth("reader"))
        assert_problem(r, 503, "projection_behind")
        assert r.headers["Retry-After"]
        assert 4.0 <= time.monotonic() - started < 8.0


async def portfolio_of_many_deals(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Deals in several stages, countries, instruments, terms and categories, by number."""
    made: dict[str, dict[str, Any]] = {}
    bodies = [
        application(application_number="MIX-1"),
        uncontrolled_application(application_number="MIX-2", buyer={"name": "B", "country": "JP"}),
        direct_loan_application(application_number="MIX-3", buyer={"name": "C", "country": "FR"}),
        application(application_number="MIX-4", instrument="insurance"),
        uncontrolled_application(application_number="MIX-5", buyer={"name": "E", "country": "CN"}),
    ]
    for body in bodies:
        applied = await apply_deal(client, body)
        made[body["application_number"]] = {"body": body, "deal_id": applied["deal_id"]}
    await financed_deal(client, application(application_number="MIX-6",
                                            buyer={"name": "F", "country": "JP"}))
    made["MIX-6"] = {"deal_id": None}
    await append_all(client, made["MIX-2"]["deal_id"], [event("BoardVoted", **BOARD_APPROVED)])
    await append_all(client, made["MIX-4"]["deal_id"], [event("DealCancelled", reason="withdrawn")])
    return made


async def every_page(client: httpx.AsyncClient, limit: int, **filters: str) -> list[str]:
    numbers: list[str] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit, **filters}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/portfolio/deals", params=params, headers=auth("reader"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["deals"]) <= limit
        numbers += [d["application_number"] for d in body["deals"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return numbers
    raise AssertionError("paging did not end")


async def test_the_deal_list_filters_and_pages_through_every_deal_exactly_once(
    client: httpx.AsyncClient,
) -> None:
    await portfolio_of_many_deals(client)
    await fresh(client, "/v1/portfolio/deals", await head(client))
    everything = await every_page(client, limit=2)
    assert sorted(everything) == [f"MIX-{i}" for i in range(1, 7)]
    assert len(set(everything)) == len(everything)
    assert await every_page(client, limit=1000) == everything

    async def matching(**filters: str) -> set[str]:
        return set(await every_page(client, limit=2, **filters))

    assert await matching(stage="applied") == {"MIX-1", "MIX-3", "MIX-5"}
    assert await matching(stage="board_approved") == {"MIX-2"}
    assert await matching(stage="cancelled") == {"MIX-4"}
    assert await matching(stage="financed") == {"MIX-6"}
    assert await matching(country="JP") == {"MIX-2", "MIX-6"}
    assert await matching(country="DE", stage="applied") == {"MIX-1"}
    assert await matching(instrument="insurance") == {"MIX-4"}
    assert await matching(instrument="direct_loan") == {"MIX-3"}
    assert await matching(term="long") == {"MIX-3"}
    assert await matching(category="networking") == {"MIX-2", "MIX-5"}
    assert await matching(category="accelerator") == {"MIX-1", "MIX-3", "MIX-4", "MIX-6"}
    assert await matching(category="model") == set()
    r = await client.get("/v1/portfolio/deals", params={"cursor": "not-a-cursor"},
                         headers=auth("reader"))
    assert_problem(r, 422, "validation_error")


async def test_the_portfolio_as_of_a_past_moment_is_the_portfolio_as_it_was_then(
    client: httpx.AsyncClient,
) -> None:
    first = await apply_deal(client, application(application_number="THEN-1"))
    steps = await append_all(client, first["deal_id"], [event("BoardVoted", **BOARD_APPROVED)])
    then = await fresh(client, "/v1/portfolio", steps[-1]["position"])
    moment = steps[-1]["recorded_at"]
    later = await apply_deal(client, direct_loan_application(application_number="THEN-2"))
    await append_all(client, first["deal_id"], [event("DealCancelled", reason="withdrawn")])
    assert later["recorded_at"] > moment

    r = await client.get("/v1/portfolio", params={"as_of": moment}, headers=auth("reader"))
    assert r.status_code == 200, r.text
    past = r.json()
    assert past.pop("as_of") == moment
    assert past == then
    now = await fresh(client, "/v1/portfolio", await head(client))
    assert now["totals"]["deals"] == 2 and now["by_stage"]["cancelled"] == 1


async def test_projections_report_position_head_lag_and_status_and_reconcile(
    client: httpx.AsyncClient,
) -> None:
    await financed_deal(client)
    at = await head(client)
    await fresh(client, "/v1/portfolio", at)
    deadline = time.monotonic() + PATIENCE
    while True:  # every projection, not just the portfolio, reaches the head
        r = await client.get("/v1/projections", headers=auth("reader"))
        assert r.status_code == 200, r.text
        body = r.json()
        if all(p["position"] == at for p in body["projections"]):
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)
    rows = {p["name"]: p for p in body["projections"]}
    assert set(rows) >= NAMES
    for p in rows.values():
        assert {"name", "position", "head", "lag", "status", "last_error"} <= p.keys()
        assert (p["position"], p["head"], p["lag"], p["last_error"]) == (at, at, 0, None)
        assert p["status"] in ("running", "idle")
    assert body["reconciliation"]["ok"] is True
    assert body["reconciliation"]["debits"] == body["reconciliation"]["credits"]
    assert body["reconciliation"]["ledger_exposure"] == "8500000.00"


async def test_a_rebuild_is_for_admins_and_leaves_the_same_figures(
    client: httpx.AsyncClient,
) -> None:
    await portfolio_of_many_deals(client)
    at = await head(client)
    before = await fresh(client, "/v1/portfolio", at)
    deals_before = await fresh(client, "/v1/portfolio/deals", at, limit=1000)

    r = await client.post("/v1/projections/portfolio/rebuild", headers=auth("reader"))
    assert_problem(r, 403, r.json()["code"])
    r = await client.post("/v1/projections/nonsense/rebuild", headers=auth("admin"))
    assert_problem(r, 404, "not_found")
    for name in ("portfolio", "deals"):
        r = await client.post(f"/v1/projections/{name}/rebuild", headers=auth("admin"))
        assert r.status_code == 200, r.text
        assert r.json()["position"] >= at

    assert await fresh(client, "/v1/portfolio", at) == before
    assert await fresh(client, "/v1/portfolio/deals", at, limit=1000) == deals_before
    r = await client.get("/v1/projections", headers=auth("reader"))
    assert r.json()["reconciliation"]["ok"] is True


# ---- the audit trail ---------------------------------------------------------------------

async def test_a_deals_audit_trail_has_one_entry_per_event_for_auditors_only(
    client: httpx.AsyncClient,
) -> None:
    deal_id = await financed_deal(client)
    r = await client.get(f"/v1/deals/{deal_id}/events", headers=auth("reader"))
    events = r.json()["events"]
    body = await fresh(client, f"/v1/audit/deals/{deal_id}", events[-1]["position"], role="auditor")
    assert body["deal_id"] == deal_id
    assert [(e["position"], e["type"], e["actor"], e["hash"], e["recorded_at"], e["occurred_at"])
            for e in body["entries"]] == [
        (e["position"], e["type"], e["actor"], e["hash"], e["recorded_at"], e["occurred_at"])
        for e in events]
    assert all(e["summary"] and "source" in e for e in body["entries"])
    assert "8,500,000.00" in body["entries"][-1]["summary"]

    r = await client.get(f"/v1/audit/deals/{deal_id}", headers=auth("reader"))
    assert_problem(r, 403, r.json()["code"])
    r = await client.get("/v1/audit/log", headers=auth("reader"))
    assert_problem(r, 403, r.json()["code"])
    r = await client.get("/v1/audit/deals/8d3e2a4e-9a0c-4a53-a3c7-0a0d1b2c3d4e",
                         headers=auth("auditor"))
    assert_problem(r, 404, "not_found")


async def test_the_program_streams_audit_trail_shows_who_adopted_each_policy(
    client: httpx.AsyncClient,
) -> None:
    version = {"id": "2099-01-01", "effective_from": "2099-01-01", "embargoed": ["KP"],
               "restricted_for_controlled": ["CN"], "controlled_eccn_patterns": ["3A090*"]}
    adopted = await adopt_policy(client, version, authority="Board resolution 7")
    body = await fresh(client, f"/v1/audit/deals/{PROGRAM}", adopted["position"],
                       role="auditor")
    assert [(e["version"], e["type"], e["actor"]) for e in body["entries"]] == [
        (1, "PolicyAdopted", "system"), (2, "PolicyAdopted", "system"),
        (3, "ProgramAuthorized", "board-key"),  # the client fixture's
        (4, "PolicyProposed", "admin-key"), (5, "PolicyAdopted", "admin2-key")]
    summaries = [e["summary"] for e in body["entries"]]
    assert "2026-11-30" in summaries[1]
    assert "program authorized" in summaries[2]
    assert "2099-01-01 proposed" in summaries[3] and "Board resolution 7" in summaries[3]
    assert "proposed by admin-key under Board resolution 7" in summaries[4]


async def test_the_audit_log_filters_pages_and_exports_jsonl_and_csv(
    client: httpx.AsyncClient,
) -> None:
    first = await apply_deal(client, application(application_number="AUD-1"))
    r = await client.post("/v1/deals", json=application(application_number="AUD-2"),
                          headers={**auth("admin"), "X-Source-System": "origination"})
    second = r.json()
    steps = await append_all(client, first["deal_id"], [event("BoardVoted", **BOARD_APPROVED)])
    # the program stream: the shipped policies and the board's authorization
    policies = [e for e in await whole_log(client) if e["deal_id"] == PROGRAM]
    everything = [*policies, first, second, *steps]
    await fresh(client, "/v1/audit/log", steps[-1]["position"], role="auditor")

    async def entries(**params: Any) -> list[int]:
        positions, cursor = [], None
        for _ in range(50):
            query = {"limit": 1, **params, **({"cursor": cursor} if cursor else {})}
            r = await client.get("/v1/audit/log", params=query, headers=auth("auditor"))
            assert r.status_code == 200, r.text
            body = r.json()
            positions += [e["position"] for e in body["entries"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return positions
        raise AssertionError("paging did not end")

    assert await entries() == [e["position"] for e in everything]
    assert await entries(actor="admin-key") == [second["position"]]
    assert await entries(type="BoardVoted") == [steps[0]["position"]]
    assert await entries(deal_id=first["deal_id"]) == [first["position"], steps[0]["position"]]
    assert await entries(**{"from": second["recorded_at"]}) == [
        second["position"], steps[0]["position"]]
    assert await entries(to=second["recorded_at"]) == [
        *(e["position"] for e in policies), first["position"], second["position"]]
    assert await entries(**{"from": second["recorded_at"], "to": second["recorded_at"]}) == [
        second["position"]]

    r = await client.get("/v1/audit/log", params={"format": "jsonl"}, headers=auth("auditor"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [e["position"] for e in lines] == [e["position"] for e in everything]
    posted = lines[everything.index(second)]
    assert posted["source"] == "origination" and posted["actor"] == "admin-key"

    r = await client.get("/v1/audit/log", params={"format": "csv", "actor": "origination-key"},
                         headers=auth("auditor"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["position"]) for row in rows] == [first["position"]]
    assert rows[0]["hash"] == first["hash"] and rows[0]["type"] == "DealApplied"


# ---- the live feed, from a real server ----------------------------------------------------------

def read_sse(http: httpx.Client, count: int, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None,
             on_open: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """The first ``count`` SSE events of the stream (bounded), then the connection closes;
    ``on_open`` runs once the stream is open."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + PATIENCE
    with http.stream("GET", "/v1/events/stream", params=params or {},
                     headers={**auth("reader"), **(headers or {})}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        if on_open:
            on_open()
        for line in r.iter_lines():
            assert time.monotonic() < deadline, f"only {len(events)} of {count} events came"
            if line.startswith("id:"):
                current["id"] = line[3:].strip()
            elif line.startswith("event:"):
                current["event"] = line[6:].strip()
            elif line.startswith("data:"):
                current["data"] = json.loads(line[5:].strip())
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
                if len(events) == count:
                    break
    return events


def test_the_live_feed_streams_events_after_a_position_and_resumes_from_last_event_id(
    live_server: LiveServer,
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=httpx.Timeout(10.0)) as http:
        written = []
        for i in range(3):
            r = http.post("/v1/deals", json=application(application_number=f"SSE-{i + 1}"),
                          headers=writer_headers())
            assert r.status_code == 201, r.text
            written.append(r.json())
        deal_id = written[0]["deal_id"]
        r = http.post(f"/v1/deals/{deal_id}/events", json=event("BoardVoted", **BOARD_APPROVED),
                      headers=headers_for("BoardVoted"))
        written.append(r.json())
        positions = [e["position"] for e in written]

        feed = read_sse(http, 3, params={"after": positions[0]})
        assert [int(e["id"]) for e in feed] == positions[1:]
        assert [e["event"] for e in feed] == ["DealApplied", "DealApplied", "BoardVoted"]
        assert [e["data"]["hash"] for e in feed] == [e["hash"] for e in written[1:]]

        resumed = read_sse(http, 1, headers={"Last-Event-ID": feed[0]["id"]})
        assert int(resumed[0]["id"]) == positions[2]

        with httpx.Client(base_url=live_server.url, timeout=httpx.Timeout(10.0)) as writer:
            def write_one_more() -> None:
                r = writer.post(f"/v1/deals/{written[1]['deal_id']}/events",
                                json=event("DealCancelled", reason="withdrawn"),
                                headers=writer_headers())
                assert r.status_code == 201, r.text

            live = read_sse(http, 1, headers={"Last-Event-ID": str(positions[-1])},
                            on_open=write_one_more)
        assert live[0]["event"] == "DealCancelled"
        assert int(live[0]["id"]) > positions[-1]


async def test_each_projection_says_when_it_moved_in_utc(client: httpx.AsyncClient):
    await apply_deal(client)
    await fresh(client, "/v1/portfolio", 1)
    r = await client.get("/v1/projections", headers=auth("reader"))
    moved = [p["updated_at"] for p in r.json()["projections"] if p["updated_at"]]
    assert moved and all(m.endswith("Z") for m in moved), moved
