"""SPEC v3 part 2, a license's approval, through HTTP on both databases, each rule at its
boundary: one number per ledger, validity (and the policy's max_license_years), the
consignee, the order of those rules, and the license's shape. What a license allows money
leaving EXIM is in ``test_v3_license_gate_http``. Every refusal appends nothing.

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
    granted,
    licensed,
    move_clock,
    noon,
    post,
    refused,
    requested,
    two_controlled,
)
from tests.support.factories import (
    application,
    assert_problem,
    batch_headers,
    error_fields,
)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(database_url) as c:
        yield c


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


async def test_a_backdated_approval_is_bound_by_the_policy_in_force_when_it_occurred(
        client: httpx.AsyncClient):
    body = application()
    deal_id = await deal(client, body, requested("Z-0"), requested("Z-1"))
    await adopt(client, max_license_years=2)  # from day 0
    move_clock(client, 1)
    await adopt(client, max_license_years=4)  # from day 1
    dated_day_0 = {"occurred_at": noon()}
    await refused(client, post(client, deal_id, granted(body, "Z-0", valid_until="2029-03-11")
                               | dated_day_0), "license_validity_invalid")
    await accepted(client, deal_id, granted(body, "Z-0", valid_until="2029-03-10") | dated_day_0)
    await accepted(client, deal_id, granted(body, "Z-1", valid_until="2031-03-11"))  # day 1


async def test_the_new_policy_fields_are_left_out_of_the_normal_form_at_their_defaults(
        client: httpx.AsyncClient):
    defaults = await adopt(client, max_license_years=4, screening_max_age_days=90)
    assert not {"max_license_years", "screening_max_age_days"} & defaults["data"].keys()
    move_clock(client, 1)
    changed = await adopt(client, max_license_years=3, screening_max_age_days=60)
    assert (changed["data"]["max_license_years"], changed["data"]["screening_max_age_days"]
            ) == (3, 60)


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
