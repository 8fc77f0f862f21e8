"""SPEC v3 part 2, the license gate on money leaving EXIM, through HTTP on both databases,
each rule at its boundary: the quantities and values the valid licenses' lines cover, the
gate on the event's date and on the day it is recorded, revocations that move earlier,
renewals after financing, and the license status they leave. Every refusal appends
nothing.

The server's clock stands on a fixed day (``tests.support.clocked``); a test moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.clocked import (
    accepted,
    at,
    clocked_client,
    day,
    deal,
    deal_state,
    disbursed,
    financed,
    granted,
    licensed,
    move_clock,
    noon,
    post,
    refused,
    requested,
    revoked,
    screened,
    two_controlled,
    voted,
)
from tests.support.factories import application, event


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(database_url) as c:
        yield c


# -- what the lines cover ---------------------------------------------------------------------


@pytest.mark.parametrize("lines,code", [
    ([("3A090.a", 63, "8000000.00")], "license_quantity_exceeded"),
    ([("3A090.a", 64, "7999999.99")], "license_quantity_exceeded"),
    ([("3A090.a", 64, "8000000.00")], None),  # exactly the deal's
])
async def test_a_financing_needs_lines_covering_the_deal_s_quantity_and_value(
        client: httpx.AsyncClient, lines: list[tuple[str, int, str]], code: str | None):
    body = application()
    deal_id = await deal(client, body, *licensed(body, lines=lines), screened(), voted())
    if code is None:
        await accepted(client, deal_id, financed())
    else:
        problem = await refused(client, post(client, deal_id, financed()), code)
        assert "3A090.A" in problem["detail"]


@pytest.mark.parametrize("quantity,code", [(63, "license_quantity_exceeded"), (64, None)])
async def test_the_lines_cover_an_eccn_s_total_over_the_deal_s_items(
        client: httpx.AsyncClient, quantity: int, code: str | None):
    base = application()
    halves = [{**base["items"][0], "quantity": 32, "value": "4000000.00"},
              {**base["items"][0], "eccn": "3a090.A", "quantity": 32, "value": "4000000.00"}]
    body = application(items=[*halves, base["items"][1]])
    lines = [("3A090.a", quantity, "8000000.00")]
    deal_id = await deal(client, body, *licensed(body, lines=lines), screened(), voted())
    if code is None:
        await accepted(client, deal_id, financed())
    else:
        await refused(client, post(client, deal_id, financed()), code)


async def test_two_valid_licenses_together_cover_the_deal(client: httpx.AsyncClient):
    body = two_controlled()
    half = [("3A090.a", 32, "4000000.00"), ("4A090.a", 4, "1000000.00")]
    deal_id = await deal(client, body, *licensed(body, "Z-1", half), screened(), voted())
    await refused(client, post(client, deal_id, financed()), "license_quantity_exceeded")
    for step in licensed(body, "Z-2", half):
        await accepted(client, deal_id, step)
    await accepted(client, deal_id, financed())


async def test_an_amendment_raising_a_quantity_after_licensing_is_answered_at_financing(
        client: httpx.AsyncClient):
    body = application()
    more = {**body["items"][0], "quantity": 65}
    amended = event("DealAmended", items=[more, body["items"][1]], reason="one more unit")
    deal_id = await deal(client, body, *licensed(body), screened(), amended, voted())
    problem = await refused(client, post(client, deal_id, financed()),
                            "license_quantity_exceeded")
    assert "65 units" in problem["detail"] and "64 units" in problem["detail"]


@pytest.mark.parametrize("ends", ["revoked", "expired"])
async def test_a_license_that_ended_no_longer_counts_toward_the_quantities(
        client: httpx.AsyncClient, ends: str):
    body = application()
    half = [("3A090.a", 32, "4000000.00")]
    steps = [*licensed(body, "Z-1", half, license_number="D-1"),
             *licensed(body, "Z-2", half, license_number="D-2", valid_until=day(-1)
                       if ends == "expired" else day(365)),
             screened(list_date=day(-20)), voted()]
    deal_id = await deal(client, body, *at(noon(-20), *steps), applied_at=noon(-20))
    if ends == "revoked":
        await accepted(client, deal_id, revoked("D-2"))
    problem = await refused(client, post(client, deal_id, financed()),
                            "license_quantity_exceeded")
    assert "32 units" in problem["detail"]


async def test_a_disbursement_needs_lines_covering_the_deal_on_its_day(
        client: httpx.AsyncClient):
    body = application()
    half = [("3A090.a", 32, "4000000.00")]
    deal_id = await deal(client, body, *licensed(body, "Z-1", half),
                         *licensed(body, "Z-2", half, valid_until=day(5)),
                         screened(), voted(), financed())
    move_clock(client, 5)
    await accepted(client, deal_id, disbursed())  # valid up to and including day 5
    move_clock(client, 6)
    await refused(client, post(client, deal_id, disbursed()), "license_quantity_exceeded")
    for step in licensed(body, "Z-3", half):  # a renewal after financing
        await accepted(client, deal_id, step)
    await accepted(client, deal_id, disbursed())


# -- the gate on two dates: the event's and the day it is recorded -----------------------------


@pytest.mark.parametrize("until,code", [(day(5), "commerce_license_expired"),
                                        (day(9), "commerce_license_expired"),
                                        (day(10), None)])
async def test_a_backdated_financing_needs_a_license_still_valid_when_recorded(
        client: httpx.AsyncClient, until: str, code: str | None):
    body = application()
    deal_id = await deal(client, body, *licensed(body, valid_until=until), screened(), voted())
    move_clock(client, 10)
    financing = financed() | {"occurred_at": noon(2)}  # valid then: not on day 10
    if code is None:
        await accepted(client, deal_id, financing)
    else:
        await refused(client, post(client, deal_id, financing), code)


@pytest.mark.parametrize("effective,code", [(day(5), "commerce_license_revoked"),
                                            (day(10), "commerce_license_revoked"),
                                            (day(11), None)])
async def test_a_backdated_financing_is_refused_when_revoked_since(
        client: httpx.AsyncClient, effective: str, code: str | None):
    body = application()
    deal_id = await deal(client, body, *licensed(body, license_number="D-7"),
                         revoked("D-7", effective), screened(), voted())
    move_clock(client, 10)
    financing = financed() | {"occurred_at": noon(2)}
    if code is None:
        await accepted(client, deal_id, financing)
    else:
        await refused(client, post(client, deal_id, financing), code)


@pytest.mark.parametrize("ends,code", [("expired", "commerce_license_expired"),
                                       ("revoked", "commerce_license_revoked")])
async def test_a_backdated_disbursement_needs_a_license_still_valid_when_recorded(
        client: httpx.AsyncClient, ends: str, code: str):
    body = application()
    until = day(5) if ends == "expired" else day(365)
    deal_id = await deal(client, body, *licensed(body, license_number="D-8", valid_until=until),
                         screened(), voted(), financed())
    if ends == "revoked":
        await accepted(client, deal_id, revoked("D-8", day(5)))
    move_clock(client, 2)
    await accepted(client, deal_id, disbursed())  # valid on day 2 on both dates
    move_clock(client, 10)
    await refused(client, post(client, deal_id, disbursed() | {"occurred_at": noon(2)}), code)


# -- revocations --------------------------------------------------------------------------------


async def test_an_earlier_revocation_replaces_a_later_one(client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, *licensed(body, license_number="D-30"), screened(),
                         voted(), financed())
    await accepted(client, deal_id, revoked("D-30", day(300)))
    await accepted(client, deal_id, disbursed())  # not revoked yet
    await accepted(client, deal_id, revoked("d-30", day(5)))  # earlier: replaces it
    for later in (day(100), day(5)):  # a later date, or the same
        problem = await refused(client, post(client, deal_id, revoked("D-30", later)),
                                "license_already_revoked")
        assert day(5) in problem["detail"]
    licenses = (await deal_state(client, deal_id))["licenses"]
    assert licenses[0]["revoked"]["effective_date"] == day(5)
    move_clock(client, 4)
    await accepted(client, deal_id, disbursed())
    for offset in (5, 6, 200):  # from the earlier date on, and between the two dates
        move_clock(client, offset)
        await refused(client, post(client, deal_id, disbursed()), "commerce_license_revoked")


async def test_a_revocation_without_a_date_takes_effect_on_its_own_day(
        client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, *licensed(body, license_number="D-31"), screened(),
                         voted(), financed(), revoked("D-31", day(30)))
    move_clock(client, 3)
    await accepted(client, deal_id, revoked("D-31"))  # from day 3, before day 30
    await refused(client, post(client, deal_id, revoked("D-31")), "license_already_revoked")
    await refused(client, post(client, deal_id, disbursed()), "commerce_license_revoked")
    state = await deal_state(client, deal_id)
    assert state["licenses"][0]["revoked"]["effective_date"] == day(3)
    assert state["license_status"] == "revoked"


# -- renewals after financing ------------------------------------------------------------------


async def test_a_license_may_be_renewed_after_financing(client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, *licensed(body, license_number="D-40"), screened(),
                         voted(), financed())
    await accepted(client, deal_id, requested("Z-RENEWAL"))
    await refused(client, post(client, deal_id, granted(body, "Z-RENEWAL", license_number="D-40")),
                  "license_number_taken", 409)
    await accepted(client, deal_id, granted(body, "Z-RENEWAL", license_number="D-41"))
    await accepted(client, deal_id, revoked("D-40"))
    await accepted(client, deal_id, disbursed())  # the renewal covers the deal
    licenses = (await deal_state(client, deal_id))["licenses"]
    assert [(lic["license_number"], lic["status"]) for lic in licenses] == [
        ("D-40", "approved"), ("D-41", "approved")]


async def test_the_license_status_shows_a_license_expired_or_partial(
        client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, *licensed(body, valid_until=day(5)))
    move_clock(client, 6)
    shown = await deal_state(client, deal_id)  # judged on the deal's latest event's date
    assert (shown["license_status"], shown["stage"]) == ("approved", "license_approved")
    await accepted(client, deal_id, screened(list_date=day(6)))
    shown = await deal_state(client, deal_id)
    assert (shown["license_status"], shown["stage"]) == ("expired", "license_expired")
    body = two_controlled(application_number="EXIM-PARTIAL")
    deal_id = await deal(client, body, *licensed(body))  # 3A090.a, not 4A090.a
    shown = await deal_state(client, deal_id)
    assert (shown["license_status"], shown["stage"]) == ("partially_approved",
                                                         "license_partial")
