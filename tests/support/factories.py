"""Valid payloads to start from; tests change one thing at a time."""

from __future__ import annotations

import copy
import datetime as _dt
import itertools
from typing import Any

_numbers = itertools.count(1)


def days_ago(days: float, offset: str = "Z") -> str:
    """A business time ``days`` before now (within the 30-day window when < 30), written
    with the zone ``offset`` (``Z`` or ``+HH:MM``), to the second."""
    from datetime import UTC, datetime, timedelta, timezone

    zone = UTC if offset == "Z" else timezone(timedelta(
        hours=int(offset[1:3]), minutes=int(offset[4:6])) * (-1 if offset[0] == "-" else 1))
    moment = (datetime.now(UTC) - timedelta(days=days)).astimezone(zone).replace(microsecond=0)
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if offset == "Z" else text


def application(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_number": f"EXIM-{next(_numbers):06d}",
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
        "instrument": "loan_guarantee",
        "term": "medium",
        "contract_value": "10000000.00",
        "financed_amount": "8500000.00",
        "tenor_years": 5,
        "us_content_pct": "90",
        "items": [
            {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
             "quantity": 64, "value": "8000000.00"},
            {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
             "quantity": 8, "value": "2000000.00"},
        ],
    }
    body.update(copy.deepcopy(changes))
    return body


def event(type_name: str, **data: Any) -> dict[str, Any]:
    return {"type": type_name, "data": data}


LICENSE_REQUESTED = {"application_ref": "Z-1001", "eccns": ["3A090.a"]}
# the end of the year three years on: after today, and inside the 4 years a license may run
VALID_UNTIL = f"{_dt.datetime.now(_dt.UTC).year + 3}-12-31"
# the lines cover application()'s accelerators; a license number is taken once per ledger
LICENSE_APPROVED = {"application_ref": "Z-1001", "license_number": "D-555", "eccns": ["3A090.a"],
                    "valid_until": VALID_UNTIL,
                    "consignee": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
                    "lines": [{"eccn": "3A090.a", "quantity": 64, "value": "8000000.00"}]}
_licenses = itertools.count(1)


def license_approved(body: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """LICENSE_APPROVED under a number of its own, its consignee the end user of ``body``
    (an application) when given."""
    data = {**copy.deepcopy(LICENSE_APPROVED), "license_number": f"D-{next(_licenses):05d}"}
    if body is not None:
        data["consignee"] = dict(body.get("end_user") or body["buyer"])
    data.update(copy.deepcopy(changes))
    return data


def today() -> str:
    """Today's date, UTC."""
    return days_ago(0)[:10]


def screening(party: str = "buyer", **changes: Any) -> dict[str, Any]:
    """A clear screening against the Consolidated Screening List, listed today."""
    return {"party": party, "list": "CSL", "list_date": today(), "result": "clear",
            "reference": f"CSL-{party}-{next(_numbers)}", **changes}
BOARD_APPROVED = {"meeting_date": "2026-06-01", "votes_for": 4, "votes_against": 1,
                  "abstentions": 0, "decision": "approved", "approved_amount": "8500000.00"}
FINANCED = {"instrument": "loan_guarantee", "amount": "8500000.00", "exposure_fee_pct": "2.25",
            "final_maturity_date": "2031-06-30"}


def lifecycle_to_financed(body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """License, screening, board and financing of ``body`` (default: ``application()``'s
    parties); the end user is screened too when the application names one."""
    screenings = [event("PartyScreened", **screening())]
    if body is not None and body.get("end_user"):
        screenings.append(event("PartyScreened", **screening("end_user")))
    return [
        event("LicenseRequested", **LICENSE_REQUESTED),
        event("CommerceLicenseApproved", **license_approved(body)),
        *screenings,
        event("BoardVoted", **BOARD_APPROVED),
        event("DealFinanced", **FINANCED),
    ]


# --- HTTP helpers for the e2e and integration suites ---------------------------------
# (imports stay local so this module keeps importing nothing but the standard library)

PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "code"})
ENVELOPE_KEYS = frozenset({
    "event_id", "deal_id", "version", "position", "type", "data", "occurred_at",
    "recorded_at", "actor", "source", "correlation_id", "idempotency_key",
    "policy_version", "prev_hash", "hash",
})
HASHED_KEYS = ("deal_id", "version", "type", "data", "occurred_at", "recorded_at", "actor",
               "source", "prev_hash")


def direct_loan_application(**changes: Any) -> dict[str, Any]:
    """A long-term direct loan: same goods, a 10-year tenor."""
    return application(instrument="direct_loan", term="long", tenor_years=10, **changes)


def uncontrolled_application(**changes: Any) -> dict[str, Any]:
    """No controlled ECCN: needs no Commerce license."""
    items = [
        {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
         "quantity": 80, "value": "8000000.00"},
        {"description": "Switches", "category": "networking", "eccn": "EAR99",
         "quantity": 20, "value": "2000000.00"},
    ]
    return application(items=items, **changes)


def financing_for(instrument: str, **changes: Any) -> dict[str, Any]:
    data = dict(FINANCED, instrument=instrument)
    if instrument == "direct_loan":
        data["interest_rate_pct"] = "4.125"
    data.update(changes)
    return data


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the given status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), \
        response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def error_fields(problem: dict[str, Any]) -> list[str]:
    errors = problem.get("errors")
    assert isinstance(errors, list) and errors, problem
    for error in errors:
        assert isinstance(error.get("field"), str) and isinstance(error.get("message"), str)
    return [e["field"] for e in errors]


def recompute_hash(envelope: dict[str, Any]) -> str:
    import hashlib
    import json

    material = {k: envelope[k] for k in HASHED_KEYS}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def writer_headers(**extra: str) -> dict[str, str]:
    from tests.conftest import auth

    return {**auth("writer"), **extra}


def key_for(type_name: str) -> str:
    """The tests' key (a name in conftest's KEYS) for posting ``type_name``: its desk's
    (SPEC v3). A reversal is posted by the second servicing key, so that it is never its
    target's actor (four eyes on reversals)."""
    from domain.desks import desk_of

    if type_name == "EventReversed":
        return "servicing2"
    desk = desk_of(type_name)
    assert desk is not None, f"no desk posts {type_name}"
    return desk


def headers_for(type_name: str, **extra: str) -> dict[str, str]:
    """The headers of a post of ``type_name`` by its desk's key (``key_for``)."""
    from tests.conftest import auth

    return {**auth(key_for(type_name)), **extra}


def poster_headers(body: Any, **extra: str) -> dict[str, str]:
    """The headers of a post of ``body`` (an event, or a batch of one desk's events) by a
    key that may post it; a writer's when the body names no type a desk posts (a test of
    its schema)."""
    from domain.desks import POSTERS

    items = body.get("events") if isinstance(body, dict) else None
    first = items[0] if isinstance(items, list) and items else body
    type_name = first.get("type") if isinstance(first, dict) else None
    if isinstance(type_name, str) and type_name in POSTERS:
        return headers_for(type_name, **extra)
    return writer_headers(**extra)


def batch_headers(items: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    """The headers of a batch all of whose items one desk's key may post."""
    keys = {key_for(item["type"]) for item in items}
    assert len(keys) == 1, f"a batch of {sorted(keys)}'s types needs a key of each"
    return headers_for(items[0]["type"], **extra)


async def apply_deal(client: Any, body: dict[str, Any] | None = None,
                     **headers: str) -> dict[str, Any]:
    """POST /v1/deals by the origination desk, asserting 201; the DealApplied envelope."""
    r = await client.post("/v1/deals", json=body or application(),
                          headers=headers_for("DealApplied", **headers))
    assert r.status_code == 201, r.text
    envelope: dict[str, Any] = r.json()
    return envelope


async def post_event(client: Any, deal_id: str, type_name: str, data: dict[str, Any],
                     headers: dict[str, str] | None = None, **body: Any) -> Any:
    """POST an event, by its desk's key unless ``headers`` say otherwise."""
    return await client.post(f"/v1/deals/{deal_id}/events",
                             json={"type": type_name, "data": data, **body},
                             headers=headers or headers_for(type_name))


async def append_all(client: Any, deal_id: str,
                     steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post each step (``{"type", "data", ...}``) by its desk's key, asserting 201; their
    envelopes."""
    envelopes = []
    for step in steps:
        r = await client.post(f"/v1/deals/{deal_id}/events", json=step,
                              headers=headers_for(step["type"]))
        assert r.status_code == 201, r.text
        envelopes.append(r.json())
    return envelopes


AUTHORIZATION = {"meeting_date": "2025-01-02", "votes_for": 4, "votes_against": 0,
                 "abstentions": 1, "effective_from": "2025-01-02",
                 "total_limit": "1000000000000.00"}


async def authorize_program(client: Any, **changes: Any) -> dict[str, Any]:
    """The board authorizes the program (by default from 2025, without a practical
    limit); the ProgramAuthorized envelope."""
    from tests.conftest import auth

    r = await client.post("/v1/program/authorizations", json={**AUTHORIZATION, **changes},
                          headers=auth("board"))
    assert r.status_code == 201, r.text
    envelope: dict[str, Any] = r.json()
    return envelope


async def adopt_policy(client: Any, version: dict[str, Any],
                       authority: str = "Federal Register 91 FR 1234") -> dict[str, Any]:
    """A policy version proposed by one admin and approved by another (four eyes); the
    PolicyAdopted envelope."""
    from tests.conftest import auth

    r = await client.post("/v1/policies", json={**version, "authority": authority},
                          headers=auth("admin"))
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/policies/{version['id']}/approval", json={},
                          headers=auth("admin2"))
    assert r.status_code == 201, r.text
    envelope: dict[str, Any] = r.json()
    return envelope


async def financed_deal(client: Any, body: dict[str, Any] | None = None) -> str:
    """A deal taken through license, board and financing; its id."""
    body = body or application()
    deal_id: str = (await apply_deal(client, body))["deal_id"]
    await append_all(client, deal_id, lifecycle_to_financed(body)[:-1] + [
        event("DealFinanced", **financing_for(body["instrument"])),
    ])
    return deal_id


async def whole_log(client: Any, page: int = 1000) -> list[dict[str, Any]]:
    """Every event of GET /v1/events, paging with next_after."""
    from tests.conftest import auth

    events: list[dict[str, Any]] = []
    after = 0
    while True:
        r = await client.get("/v1/events", params={"after": after, "limit": page},
                             headers=auth("reader"))
        assert r.status_code == 200, r.text
        body = r.json()
        events += body["events"]
        if not body["events"]:
            return events
        after = body["next_after"]


PROGRAM = "00000000-0000-0000-0000-000000000000"


async def deal_log(client: Any) -> list[dict[str, Any]]:
    """The global log without the program stream (its policies are adopted at start)."""
    return [e for e in await whole_log(client) if e["deal_id"] != PROGRAM]


async def deal_version(client: Any, deal_id: str) -> int | None:
    """The deal's version, or None when there is no such deal."""
    from tests.conftest import auth

    r = await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    version: int = r.json()["version"]
    return version


class Clock:
    """A server clock a test moves by hand: ``clock.set("2026-03-01T10:00:00Z")``."""

    def __init__(self, start: str) -> None:
        self.set(start)

    def set(self, when: str) -> None:
        from domain.chain import parse_timestamp

        self.moment = parse_timestamp(when)

    def __call__(self) -> Any:
        return self.moment


def ledger_client(settings: Any, raise_app_exceptions: bool = True,
                  clock: Clock | None = None) -> Any:
    """An httpx client on a freshly built app for ``settings`` (conftest's pattern), for
    tests that need non-default settings or a ``clock`` of their own.
    ``raise_app_exceptions=False`` lets a test see the 500 response an unexpected exception
    becomes, as a real client would."""
    from contextlib import asynccontextmanager

    import httpx

    from service.api.app import create_app

    @asynccontextmanager
    async def running() -> Any:
        app = create_app(settings, clock) if clock else create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
            async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as c:
                c.app = app  # type: ignore[attr-defined]
                yield c

    return running()
