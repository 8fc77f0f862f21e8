"""SPEC v3 part 2, licenses, through HTTP on both databases, each rule at its boundary: one
number per ledger, validity, the consignee, the quantities the lines cover, the gate on the
event's date and on the day it is recorded, revocations that move earlier, and renewals
after financing. Every refusal appends nothing.

The server's clock stands on a fixed day (``tests.support.clocked``); a test moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.clocked import (
    accepted,
    adopt,
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
    screened,
    two_controlled,
    voted,
)
from tests.support.factories import (
    application,
    assert_problem,
    batch_headers,
    error_fields,
    event,
)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(database_url) as c:
        yield c


def revoked(number: str, effective_date: str | None = None) -> dict[str, Any]:
    data = {"license_number": number, "reason": "diversion risk"}
    if effective_date:
        data["effective_date"] = effective_date
    return event("CommerceLicenseRevoked", **data)


def numbered(body: dict[str, Any], number: str, ref: str = "Z-1001", **changes: Any
             ) -> dict[str, Any]:
    return granted(body, ref, license_number=number, **changes)


def holders(state: dict[str, Any], number: str) -> list[str]:
    return [lic["application_ref"] for lic in state["licenses"]
            if lic["status"] == "approved" and lic["license_number"] == number]


# -- one license, one deal ------------------------------------------------------------------


async def test_a_license_number_approved_on_one_deal_is_taken_on_every_other(
        client: httpx.AsyncClient):
    body = application()
    first = await deal(client, body, *licensed(body, license_number="D-900"))
    other = await deal(client, body | {"application_number": "EXIM-OTHER"}, requested())
    for number in ("D-900", "d-900"):  # compared without regard to case
        problem = await refused(client, post(client, other, numbered(body, number)),
                                "license_number_taken", 409)
        assert "D-900" in problem["detail"] and first in problem["detail"]
    await accepted(client, other, numbered(body, "D-901"))
    assert holders(await deal_state(client, first), "D-900") == ["Z-1001"]
    assert holders(await deal_state(client, other), "D-901") == ["Z-1001"]


async def test_a_license_number_is_taken_on_its_own_deal_under_another_request(
        client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, *licensed(body, license_number="D-910"), requested("Z-2"))
    for number in ("D-910", "d-910"):
        await refused(client, post(client, deal_id, numbered(body, number, "Z-2")),
                      "license_number_taken", 409)
    await accepted(client, deal_id, numbered(body, "D-911", "Z-2"))


async def test_one_number_approved_on_two_deals_in_one_batch_is_refused(
        client: httpx.AsyncClient):
    body = application()
    first = await deal(client, body, requested())
    second = await deal(client, body | {"application_number": "EXIM-SECOND"}, requested())
    items = [{"deal_id": first, **numbered(body, "D-920")},
             {"deal_id": second, **numbered(body, "d-920")}]
    request = client.post("/v1/batches", json={"events": items}, headers=batch_headers(items))
    problem = await refused(client, request, "license_number_taken", 409)
    assert problem["index"] == 1
    r = await client.post("/v1/batches", json={"events": items[1:]},
                          headers=batch_headers(items))
    assert r.status_code == 201, r.text  # the batch left the number free
    await refused(client, post(client, first, numbered(body, "D-920")),
                  "license_number_taken", 409)


# -- validity --------------------------------------------------------------------------------


async def test_a_license_is_valid_from_the_day_after_it_and_for_at_most_four_years(
        client: httpx.AsyncClient):
    body = application()
    requests = at(noon(-10), *[requested(f"Z-{i}") for i in range(4)])
    deal_id = await deal(client, body, *requests, applied_at=noon(-10))
    # an approval dated 28 February 2027 (recorded on 10 March): its own date counts
    for until in (day(-10), "2031-03-01", "2031-03-10"):
        problem = await refused(client, post(client, deal_id, granted(
            body, "Z-0", valid_until=until) | {"occurred_at": noon(-10)}),
            "license_validity_invalid")
        assert until in problem["detail"] and "2031-02-28" in problem["detail"]
    for ref, until in (("Z-0", day(-9)), ("Z-1", "2031-02-28")):
        await accepted(client, deal_id, granted(body, ref, valid_until=until)
                       | {"occurred_at": noon(-10)})
    # dated today, 10 March 2027
    for until in (day(), "2031-03-11", day(-1)):
        await refused(client, post(client, deal_id, granted(body, "Z-2", valid_until=until)),
                      "license_validity_invalid")
    await accepted(client, deal_id, granted(body, "Z-2", valid_until=day(1)))
    await accepted(client, deal_id, granted(body, "Z-3", valid_until="2031-03-10"))


async def test_four_years_from_29_february_end_on_29_february(client: httpx.AsyncClient):
    client.clock.set("2028-02-29T12:00:00Z")  # type: ignore[attr-defined]
    body = application()
    deal_id = await deal(client, body, requested("Z-0"), requested("Z-1"))
    await refused(client, post(client, deal_id, granted(body, "Z-0", valid_until="2032-03-01")),
                  "license_validity_invalid")
    await accepted(client, deal_id, granted(body, "Z-0", valid_until="2032-02-29"))


async def test_a_policy_s_max_license_years_bounds_the_validity(client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, *at(noon(-1), requested("Z-0"), requested("Z-1")),
                         applied_at=noon(-1))
    await adopt(client, max_license_years=2)
    # dated yesterday, under the shipped 4 years: the policy in force now binds it too
    problem = await refused(client, post(client, deal_id, granted(
        body, "Z-0", valid_until="2029-03-10") | {"occurred_at": noon(-1)}),
        "license_validity_invalid")
    assert "2 years" in problem["detail"]
    await accepted(client, deal_id, granted(body, "Z-0", valid_until="2029-03-09")
                   | {"occurred_at": noon(-1)})
    await refused(client, post(client, deal_id, granted(body, "Z-1", valid_until="2029-03-11")),
                  "license_validity_invalid")
    await accepted(client, deal_id, granted(body, "Z-1", valid_until="2029-03-10"))


async def test_an_approval_s_rules_come_in_spec_order(client: httpx.AsyncClient):
    body = application()
    await deal(client, body, *licensed(body, license_number="D-50"))
    deal_id = await deal(client, body | {"application_number": "EXIM-ORDER"}, requested())
    wrong = {"valid_until": day(), "consignee": {"name": "Elsewhere", "country": "FR"}}
    # eccn_not_in_deal (4A090.a is not in the request), then license_number_taken
    other = granted(body, lines=[("4A090.a", 8, "2000000.00")], license_number="D-50", **wrong)
    await refused(client, post(client, deal_id, other), "eccn_not_in_deal")
    # license_number_taken, then license_validity_invalid
    await refused(client, post(client, deal_id, numbered(body, "D-50", **wrong)),
                  "license_number_taken", 409)
    # license_validity_invalid, then license_consignee_mismatch
    await refused(client, post(client, deal_id, numbered(body, "D-51", **wrong)),
                  "license_validity_invalid")
    await refused(client, post(client, deal_id, numbered(body, "D-51",
                                                         consignee=wrong["consignee"])),
                  "license_consignee_mismatch")


# -- the consignee is the end user ----------------------------------------------------------


async def test_the_consignee_is_in_the_buyer_s_country_without_an_end_user(
        client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, requested())
    elsewhere = {"name": "Rheinland Rechenzentrum GmbH", "country": "FR"}
    problem = await refused(client, post(client, deal_id, granted(body, consignee=elsewhere)),
                            "license_consignee_mismatch")
    assert "FR" in problem["detail"] and "DE" in problem["detail"]
    # only the country is compared
    await accepted(client, deal_id, granted(body, consignee={"name": "Another GmbH",
                                                             "country": "DE"}))


async def test_the_consignee_is_in_the_end_user_s_country_when_there_is_one(
        client: httpx.AsyncClient):
    body = application(end_user={"name": "Amsterdam AI Lab", "country": "NL"})
    deal_id = await deal(client, body, requested())
    await refused(client, post(client, deal_id, granted(body, consignee=dict(body["buyer"]))),
                  "license_consignee_mismatch")
    await accepted(client, deal_id, granted(body))  # consigned to the end user


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
    await refused(client, post(client, deal_id, numbered(body, "D-40", "Z-RENEWAL")),
                  "license_number_taken", 409)
    await accepted(client, deal_id, numbered(body, "D-41", "Z-RENEWAL"))
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


# -- the shape of a license ---------------------------------------------------------------------


@pytest.mark.parametrize("eccns,lines", [
    (["3A090.a", "4A090.a"], [("3A090.a", 64, "8000000.00")]),  # a line missing
    (["3A090.a"], [("3A090.a", 64, "8000000.00"), ("4A090.a", 8, "2000000.00")]),  # extra
    (["3A090.a"], [("3A090.a", 32, "4000000.00"), ("3a090.A", 32, "4000000.00")]),  # twice
    (["3A090.a"], []),  # none
])
async def test_a_license_has_exactly_one_line_per_eccn(
        client: httpx.AsyncClient, eccns: list[str], lines: list[tuple[str, int, str]]):
    body = two_controlled()
    deal_id = await deal(client, body, requested("Z-1001", "3A090.a", "4A090.a"))
    approval = granted(body)
    approval["data"] |= {"eccns": eccns, "lines": [
        {"eccn": e, "quantity": q, "value": v} for e, q, v in lines]}
    problem = await refused(client, post(client, deal_id, approval), "validation_error")
    assert error_fields(problem) == ["data.lines"]


@pytest.mark.parametrize("number", ["D 900", "D_900", "", "D" * 41])
async def test_a_license_number_is_1_to_40_letters_digits_and_hyphens(
        client: httpx.AsyncClient, number: str):
    body = application()
    deal_id = await deal(client, body, requested())
    problem = assert_problem(await post(client, deal_id, numbered(body, number)), 422,
                             "validation_error")
    assert error_fields(problem) == ["data.license_number"]
    await accepted(client, deal_id, numbered(body, "d" * 40))
