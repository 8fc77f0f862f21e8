"""A ledger whose clock stands still on a fixed day, and the events the v3 license and party
tests build deals from (SPEC v3 part 2). Every date is an offset from that day, so the
tests never depend on the day they run (nor meet 29 February by accident)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx

from service.settings import Settings
from tests.conftest import BOOTSTRAP, auth
from tests.support.factories import (
    BOARD_APPROVED,
    FINANCED,
    Clock,
    adopt_policy,
    append_all,
    application,
    apply_deal,
    assert_problem,
    authorize_program,
    event,
    headers_for,
    ledger_client,
    license_approved,
    whole_log,
)

DAY = date(2027, 3, 10)  # the server's today, unless a test moves the clock
SHIPPED_EMBARGOED = ["BY", "CU", "IR", "KP", "RU", "SY"]
SHIPPED_RESTRICTED = ["AF", "BY", "CD", "CF", "CN", "CU", "ER", "HK", "HT", "IQ", "IR", "KH",
                      "KP", "LB", "LY", "MM", "MO", "NI", "RU", "SD", "SO", "SS", "SY", "VE",
                      "ZW"]


def day(offset: int = 0) -> str:
    """``DAY`` moved by ``offset`` days, ``YYYY-MM-DD``."""
    return (DAY + timedelta(days=offset)).isoformat()


def noon(offset: int = 0) -> str:
    """Noon UTC of ``day(offset)``: an ``occurred_at``, or where the clock is set."""
    return f"{day(offset)}T12:00:00Z"


@asynccontextmanager
async def clocked_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``database_url`` with its clock at ``noon()`` (``client.clock`` moves
    it), the program authorized by the board."""
    settings = Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP,
                        snapshot_interval=10)
    clock = Clock(noon())
    async with ledger_client(settings, clock=clock) as client:
        client.clock = clock
        await authorize_program(client)
        yield client


def move_clock(client: httpx.AsyncClient, offset: int) -> None:
    """The server's clock to ``noon(offset)``."""
    client.clock.set(noon(offset))  # type: ignore[attr-defined]


# -- events ----------------------------------------------------------------------------


def two_controlled(**changes: Any) -> dict[str, Any]:
    """``application()`` whose servers are controlled too: 64 accelerators (3A090.a) worth
    8,000,000.00 and 8 servers (4A090.a) worth 2,000,000.00."""
    return application(items=[
        {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
         "quantity": 64, "value": "8000000.00"},
        {"description": "AI servers", "category": "server", "eccn": "4A090.a",
         "quantity": 8, "value": "2000000.00"}], **changes)


def requested(ref: str = "Z-1001", *eccns: str) -> dict[str, Any]:
    return event("LicenseRequested", application_ref=ref, eccns=list(eccns or ["3A090.a"]))


def granted(body: dict[str, Any], ref: str = "Z-1001",
            lines: list[tuple[str, int, str]] | None = None, **changes: Any) -> dict[str, Any]:
    """The approval of request ``ref``, consigned to ``body``'s end user, its ``lines``
    (ECCN, quantity, value; default: 64 accelerators worth 8,000,000.00), valid a year."""
    lines = lines or [("3A090.a", 64, "8000000.00")]
    data = license_approved(body, application_ref=ref, eccns=[eccn for eccn, _, _ in lines],
                            lines=[{"eccn": e, "quantity": q, "value": v} for e, q, v in lines],
                            valid_until=day(365))
    data.update(changes)
    return event("CommerceLicenseApproved", **data)


def licensed(body: dict[str, Any], ref: str = "Z-1001",
             lines: list[tuple[str, int, str]] | None = None,
             **changes: Any) -> list[dict[str, Any]]:
    """A request and its approval (``granted``)."""
    eccns = [eccn for eccn, _, _ in lines] if lines else ["3A090.a"]
    return [requested(ref, *eccns), granted(body, ref, lines, **changes)]


def screened(party: str = "buyer", list_date: str | None = None, result: str = "clear",
             list_name: str = "CSL") -> dict[str, Any]:
    """A screening of ``party`` against ``list_name``, listed ``list_date`` (default
    ``day()``)."""
    return event("PartyScreened", party=party, list=list_name, list_date=list_date or day(),
                 result=result, reference=f"{list_name}-{party}-{result}")


def revoked(number: str, effective_date: str | None = None) -> dict[str, Any]:
    """A revocation of license ``number``, from ``effective_date`` (default: its own
    date)."""
    data = {"license_number": number, "reason": "diversion risk"}
    if effective_date:
        data["effective_date"] = effective_date
    return event("CommerceLicenseRevoked", **data)


def voted() -> dict[str, Any]:
    return event("BoardVoted", **BOARD_APPROVED)


def financed() -> dict[str, Any]:
    return event("DealFinanced", **FINANCED)


def disbursed(amount: str = "1000000.00") -> dict[str, Any]:
    return event("FundsDisbursed", amount=amount, reference="W-1")


def at(when: str, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    """``steps`` that occurred at ``when``."""
    return [{**step, "occurred_at": when} for step in steps]


async def deal(client: httpx.AsyncClient, body: dict[str, Any], *steps: dict[str, Any],
               applied_at: str | None = None) -> str:
    """``body`` applied for (at ``applied_at``, default now) and ``steps`` recorded, each
    asserted 201; the deal's id."""
    application = {**body, "occurred_at": applied_at} if applied_at else body
    deal_id: str = (await apply_deal(client, application))["deal_id"]
    await append_all(client, deal_id, list(steps))
    return deal_id


async def ready(client: httpx.AsyncClient, body: dict[str, Any], *more: dict[str, Any]
                ) -> str:
    """``body`` licensed (its accelerators), its parties screened, ``more`` recorded,
    and approved by the board: ready to be financed."""
    parties = [screened()] + ([screened("end_user")] if body.get("end_user") else [])
    return await deal(client, body, *licensed(body), *parties, *more, voted())


async def post(client: httpx.AsyncClient, deal_id: str, step: dict[str, Any]
               ) -> httpx.Response:
    return await client.post(f"/v1/deals/{deal_id}/events", json=step,
                             headers=headers_for(step["type"]))


async def accepted(client: httpx.AsyncClient, deal_id: str, step: dict[str, Any]
                   ) -> dict[str, Any]:
    r = await post(client, deal_id, step)
    assert r.status_code == 201, r.text
    envelope: dict[str, Any] = r.json()
    return envelope


async def refused(client: httpx.AsyncClient, request: Awaitable[httpx.Response], code: str,
                  status: int = 422) -> dict[str, Any]:
    """``request`` answers the problem ``status`` and ``code``, and appends no event
    (the global log is as long after as before; ``request`` is not sent before)."""
    before = len(await whole_log(client))
    problem = assert_problem(await request, status, code)
    assert len(await whole_log(client)) == before, f"a refused {code} appended events"
    return problem


async def deal_state(client: httpx.AsyncClient, deal_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def adopt(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """A version like the shipped one in force, with ``changes``, effective today (four
    eyes: proposed by one admin, approved by another)."""
    today = client.clock.moment.date().isoformat()  # type: ignore[attr-defined]
    return await adopt_policy(client, {
        "id": f"test-{today}", "effective_from": today, "embargoed": SHIPPED_EMBARGOED,
        "restricted_for_controlled": SHIPPED_RESTRICTED,
        "controlled_eccn_patterns": ["3A090*", "4A090*", "*.z"], **changes})
