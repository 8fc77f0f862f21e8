"""SPEC v3 part 2, parties and smaller closings, through HTTP on both databases, each rule at
its boundary: screenings before money leaves EXIM (not screened, denied, stale, dated
ahead), the end user's country under the destination rules, classification evidence for
accelerators, the U.S. territories, and the schema's new demands. Every refusal appends
nothing.

The server's clock stands on a fixed day (``tests.support.clocked``); a test moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.clocked import (
    accepted,
    adopt,
    clocked_client,
    day,
    deal,
    deal_state,
    disbursed,
    financed,
    licensed,
    move_clock,
    noon,
    post,
    ready,
    refused,
    requested,
    screened,
    voted,
)
from tests.support.factories import (
    application,
    assert_problem,
    error_fields,
    event,
    headers_for,
    uncontrolled_application,
)

END_USER = {"name": "Amsterdam AI Lab", "country": "NL"}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(database_url) as c:
        yield c


def applying(client: httpx.AsyncClient, body: dict[str, Any]) -> Any:
    """POST /v1/deals of ``body`` by the origination desk (not sent until awaited)."""
    return client.post("/v1/deals", json=body, headers=headers_for("DealApplied"))


async def unscreened(client: httpx.AsyncClient, body: dict[str, Any],
                     *more: dict[str, Any]) -> str:
    """``body`` licensed, ``more`` recorded, approved by the board; no screening unless
    ``more`` holds one."""
    return await deal(client, body, *licensed(body), *more, voted())


# -- screened before money leaves EXIM ---------------------------------------------------------


async def test_financing_needs_the_buyer_screened_whose_screening_serves_as_end_user_s(
        client: httpx.AsyncClient):
    deal_id = await unscreened(client, application())
    problem = await refused(client, post(client, deal_id, financed()), "party_not_screened")
    assert "the buyer Rheinland Rechenzentrum GmbH (DE)" in problem["detail"]
    await accepted(client, deal_id, screened())  # no end user: the buyer is the end user
    await accepted(client, deal_id, financed())
    state = await deal_state(client, deal_id)
    assert state["end_user"] == state["buyer"]
    assert list(state["screenings"]) == ["buyer"]


@pytest.mark.parametrize("party,missing", [("buyer", "the end user"), ("end_user", "the buyer")])
async def test_a_distinct_end_user_is_screened_too(client: httpx.AsyncClient, party: str,
                                                   missing: str):
    body = application(end_user=END_USER)
    deal_id = await unscreened(client, body, screened(party))
    problem = await refused(client, post(client, deal_id, financed()), "party_not_screened")
    assert problem["detail"].startswith(missing)
    await accepted(client, deal_id, screened("end_user" if party == "buyer" else "buyer"))
    await accepted(client, deal_id, financed())


async def test_the_latest_screening_against_each_list_decides_a_denied_party(
        client: httpx.AsyncClient):
    deal_id = await unscreened(client, application(), screened(result="match"))
    problem = await refused(client, post(client, deal_id, financed()), "denied_party")
    assert "CSL" in problem["detail"]
    await accepted(client, deal_id, screened(list_name="SDN"))  # another list: still a match
    await refused(client, post(client, deal_id, financed()), "denied_party")
    await accepted(client, deal_id, screened())  # a later clear against the same list
    await accepted(client, deal_id, financed())


async def test_a_later_match_against_a_list_overrides_its_clear(client: httpx.AsyncClient):
    body = application(end_user=END_USER)
    deal_id = await unscreened(client, body, screened(), screened("end_user"),
                               screened("end_user", result="match"))
    problem = await refused(client, post(client, deal_id, financed()), "denied_party")
    assert problem["detail"].startswith("the end user Amsterdam AI Lab (NL)")


@pytest.mark.parametrize("age,code", [(90, None), (91, "party_screening_stale")])
async def test_a_screening_is_stale_after_90_days(client: httpx.AsyncClient, age: int,
                                                  code: str | None):
    deal_id = await unscreened(client, application(), screened(list_date=day(-age)))
    if code is None:
        await accepted(client, deal_id, financed())
    else:
        problem = await refused(client, post(client, deal_id, financed()), code)
        assert "91 days" in problem["detail"]


async def test_the_newest_list_date_among_the_latest_screenings_counts(
        client: httpx.AsyncClient):
    deal_id = await unscreened(client, application(), screened(list_date=day(-10)),
                               screened(list_date=day(-95)),  # CSL's latest: stale
                               screened(list_date=day(-200), list_name="SDN"))
    await refused(client, post(client, deal_id, financed()), "party_screening_stale")
    await accepted(client, deal_id, screened(list_date=day(-3), list_name="SDN"))
    await accepted(client, deal_id, financed())


async def test_each_party_s_screenings_must_be_fresh(client: httpx.AsyncClient):
    body = application(end_user=END_USER)
    deal_id = await unscreened(client, body, screened(),
                               screened("end_user", list_date=day(-91)))
    problem = await refused(client, post(client, deal_id, financed()), "party_screening_stale")
    assert "the end user" in problem["detail"]


async def test_a_policy_s_screening_max_age_days_applies(client: httpx.AsyncClient):
    deal_id = await unscreened(client, application(), screened(list_date=day(-31)))
    await adopt(client, screening_max_age_days=30)
    await refused(client, post(client, deal_id, financed()), "party_screening_stale")
    await accepted(client, deal_id, screened(list_date=day(-30)))
    await accepted(client, deal_id, financed())


async def test_a_screening_is_never_listed_after_it_occurred(client: httpx.AsyncClient):
    deal_id = await deal(client, application(), applied_at=noon(-5))
    await refused(client, post(client, deal_id, screened(list_date=day(1))),
                  "screening_in_future")
    # the event's own date counts, not the day it is recorded
    await refused(client, post(client, deal_id, screened(list_date=day(-4))
                               | {"occurred_at": noon(-5)}), "screening_in_future")
    await accepted(client, deal_id, screened(list_date=day(-5)) | {"occurred_at": noon(-5)})
    await accepted(client, deal_id, screened(list_date=day()))


async def test_a_disbursement_is_judged_on_screenings_posted_after_financing(
        client: httpx.AsyncClient):
    deal_id = await ready(client, application())
    await accepted(client, deal_id, financed())
    move_clock(client, 91)
    await refused(client, post(client, deal_id, disbursed()), "party_screening_stale")
    await accepted(client, deal_id, screened(list_date=day(91)))
    await accepted(client, deal_id, disbursed())
    await accepted(client, deal_id, screened(list_date=day(91), result="match"))
    await refused(client, post(client, deal_id, disbursed()), "denied_party")
    await accepted(client, deal_id, screened(list_date=day(91)))
    await accepted(client, deal_id, disbursed())


@pytest.mark.parametrize("field,value", [("party", "seller"), ("result", "unclear"),
                                         ("list_date", "2027-02-30"), ("list", "")])
async def test_a_screening_s_shape(client: httpx.AsyncClient, field: str, value: str):
    deal_id = await deal(client, application())
    bad = screened()
    bad["data"][field] = value
    problem = await refused(client, post(client, deal_id, bad), "validation_error")
    assert error_fields(problem) == [f"data.{field}"]


async def test_only_the_licensing_desk_records_a_screening(client: httpx.AsyncClient):
    deal_id = await deal(client, application())
    for key in ("writer", "admin", "origination", "board", "servicing", "reader", "auditor"):
        request = client.post(f"/v1/deals/{deal_id}/events", headers=auth(key),
                              json={"type": "PartyScreened", "data": {}})  # before its data
        problem = await refused(client, request, "event_not_permitted", 403)
        assert (problem["event_type"], problem["role"]) == ("PartyScreened", key)
    items = [{"deal_id": deal_id, **screened()}]
    r = await client.post("/v1/batches", json={"events": items}, headers=auth("writer"))
    assert assert_problem(r, 403, "event_not_permitted")["index"] == 0
    await accepted(client, deal_id, screened())
    assert (await deal_state(client, deal_id))["screenings"]["buyer"][0]["list"] == "CSL"


# -- the end user's country ------------------------------------------------------------------


@pytest.mark.parametrize("country,code", [("CN", "controlled_items_to_restricted_destination"),
                                          ("IR", "destination_embargoed")])
async def test_the_destination_rules_judge_the_end_user_s_country(
        client: httpx.AsyncClient, country: str, code: str):
    body = application(end_user={"name": "Far Away Compute", "country": country})
    problem = await refused(client, applying(client, body), code)
    assert country in problem["detail"]
    if code == "controlled_items_to_restricted_destination":
        r = await applying(client, uncontrolled_application(end_user=body["end_user"]))
        assert r.status_code == 201, r.text


async def test_an_amendment_is_judged_on_the_end_user_s_country(client: httpx.AsyncClient):
    body = uncontrolled_application(end_user={"name": "Far Away Compute", "country": "CN"})
    deal_id = await deal(client, body)
    chips = application()["items"][0]  # 3A090.a, in place of the servers
    amendment = event("DealAmended", items=[chips, body["items"][1]], reason="chips")
    await refused(client, post(client, deal_id, amendment),
                  "controlled_items_to_restricted_destination")


async def test_a_designation_judges_the_end_user_s_country(client: httpx.AsyncClient):
    await adopt(client, designated_countries=["DE"])
    await refused(client, applying(client, application(end_user=END_USER)),
                  "destination_not_designated")
    r = await applying(client, application(end_user={"name": "Munich Lab", "country": "DE"}))
    assert r.status_code == 201, r.text


LATER_POLICIES = {  # a version adopted after the deal was applied for, and what it answers
    "embargoed": ({"embargoed": ["AE", "BY", "CU", "IR", "KP", "RU", "SY"]},
                  "destination_embargoed", "destination_embargoed"),
    "restricted": ({"restricted_for_controlled": ["AE", "CN", "HK", "MO"]},
                   "controlled_items_to_restricted_destination",
                   "controlled_items_to_restricted_destination"),
    # a destination that stops being designated keeps its commitments
    "not designated": ({"designated_countries": ["DE"]}, "destination_not_designated", None),
}


@pytest.mark.parametrize("when", ["DealFinanced", "FundsDisbursed"])
@pytest.mark.parametrize("change", LATER_POLICIES)
async def test_money_to_an_end_user_barred_since_is_judged_on_its_country(
        client: httpx.AsyncClient, change: str, when: str):
    body = application(end_user={"name": "Gulf AI", "country": "AE"})
    deal_id = await ready(client, body)
    if when == "FundsDisbursed":
        await accepted(client, deal_id, financed())
    version, at_financing, at_disbursement = LATER_POLICIES[change]
    await adopt(client, **version)
    step, code = ((financed(), at_financing) if when == "DealFinanced"
                  else (disbursed(), at_disbursement))
    if code is None:
        await accepted(client, deal_id, step)
    else:
        problem = await refused(client, post(client, deal_id, step), code)
        assert "AE" in problem["detail"]


# -- classification evidence -------------------------------------------------------------------


def accelerators(eccn: str, **changes: Any) -> dict[str, Any]:
    return {"description": "Inference cards", "category": "accelerator", "eccn": eccn,
            "quantity": 64, "value": "8000000.00", **changes}


@pytest.mark.parametrize("eccn", ["EAR99", "5A992.c", "4A994.a"])
async def test_an_uncontrolled_accelerator_needs_its_classification_ruling(
        client: httpx.AsyncClient, eccn: str):
    base = application()
    body = application(items=[accelerators(eccn), base["items"][1]])
    problem = await refused(client, applying(client, body), "classification_evidence_required")
    assert "items[0]" in problem["detail"]
    ruled = application(items=[accelerators(eccn, classification_ref="G123456"),
                               base["items"][1]])
    r = await applying(client, ruled)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["items"][0]["classification_ref"] == "G123456"
    # an amendment to the items is judged alike
    deal_id = r.json()["deal_id"]
    amended = event("DealAmended", items=body["items"], reason="new items")
    await refused(client, post(client, deal_id, amended), "classification_evidence_required")
    amended["data"]["items"] = [accelerators(eccn, classification_ref="G7"), base["items"][1]]
    await accepted(client, deal_id, amended)


async def test_classification_evidence_comes_after_restricted_destinations(
        client: httpx.AsyncClient):
    base = application()
    items = [{**base["items"][0], "value": "4000000.00"},
             accelerators("EAR99", value="4000000.00"), base["items"][1]]
    body = application(items=items, end_user={"name": "Far Away Compute", "country": "CN"})
    await refused(client, applying(client, body), "controlled_items_to_restricted_destination")
    body["end_user"]["country"] = "NL"
    await refused(client, applying(client, body), "classification_evidence_required")


async def test_other_categories_need_no_classification_ruling(client: httpx.AsyncClient):
    r = await applying(client, uncontrolled_application())  # servers and networking
    assert r.status_code == 201, r.text


# -- the U.S. territories ------------------------------------------------------------------------


@pytest.mark.parametrize("territory", ["PR", "VI", "GU", "AS", "MP", "UM"])
async def test_a_u_s_territory_counts_as_the_united_states(client: httpx.AsyncClient,
                                                           territory: str):
    exporter = {"name": "Island Silicon", "country": territory}
    r = await applying(client, application(exporter=exporter))
    assert r.status_code == 201, r.text
    buyer = {"name": "Island Compute", "country": territory}
    await refused(client, applying(client, application(buyer=buyer)), "buyer_not_foreign")
    foreign = {"name": "Toronto Silicon", "country": "CA"}
    await refused(client, applying(client, application(exporter=foreign)), "exporter_not_us")


# -- what the schema now asks ------------------------------------------------------------------


async def test_an_application_states_its_u_s_content(client: httpx.AsyncClient):
    body = application()
    del body["us_content_pct"]
    problem = await refused(client, applying(client, body), "validation_error")
    assert error_fields(problem) == ["us_content_pct"]


@pytest.mark.parametrize("eccn", ["3A-090.a", "0Y521", "3F090", "3A09", "3A090.", "EAR-99",
                                  "3A090..a", "A3090"])
async def test_a_malformed_eccn_is_refused(client: httpx.AsyncClient, eccn: str):
    body = application()
    body["items"][1]["eccn"] = eccn
    problem = await refused(client, applying(client, body), "validation_error")
    assert error_fields(problem) == ["items[1].eccn"]
    deal_id = await deal(client, application())
    problem = await refused(client, post(client, deal_id, requested("Z-1", eccn)),
                            "validation_error")
    assert error_fields(problem) == ["data.eccns[0]"]


@pytest.mark.parametrize("eccn", ["ear99", "5a992.c", "0E521", "4A994.a.1", "5D002.c.1"])
async def test_a_well_formed_eccn_is_accepted_and_stored_upper_case(
        client: httpx.AsyncClient, eccn: str):
    body = application()
    body["items"][1]["eccn"] = eccn
    r = await applying(client, body)
    assert r.status_code == 201, r.text
    state = await deal_state(client, r.json()["deal_id"])
    assert eccn.upper() in state["eccns"]
