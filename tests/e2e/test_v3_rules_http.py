"""SPEC v3, part 1, through HTTP on both databases: each rule at its boundary (just inside
passes, just outside fails with its code), and the rule order where two adjacent rules
hold at once.

The program's authorization and limits, congressional notice, board approvals that cover
their terms and the meeting rules, four eyes on reversals; four eyes on policy and the
gate that stays on what was controlled at financing are in ``test_policy_v3_http``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.factories import (
    BOARD_APPROVED,
    application,
    apply_deal,
    assert_problem,
    authorize_program,
    financing_for,
    post_event,
    screening,
    uncontrolled_application,
)

TODAY = datetime.now(UTC).date()


def day(offset: int = 0) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def vote(meeting: str | None = None, amount: str = "8500000.00", **changes: Any
         ) -> dict[str, Any]:
    return {**BOARD_APPROVED, "meeting_date": meeting or day(), "approved_amount": amount,
            **changes}


async def screen(client: httpx.AsyncClient, deal_id: str, **body: Any) -> None:
    """The licensing desk screens the buyer (SPEC v3: before money leaves EXIM), listed on
    the day the screening occurred."""
    listed = body["occurred_at"][:10] if "occurred_at" in body else day()
    r = await post_event(client, deal_id, "PartyScreened", screening(list_date=listed), **body)
    assert r.status_code == 201, r.text


async def approved(client: httpx.AsyncClient, body: dict[str, Any] | None = None,
                   meeting: str | None = None) -> str:
    """An uncontrolled deal (no license needed), its buyer screened, the board approved in
    full; its id."""
    body = body or uncontrolled_application()
    deal_id: str = (await apply_deal(client, body))["deal_id"]
    await screen(client, deal_id)
    r = await post_event(client, deal_id, "BoardVoted",
                         vote(meeting, amount=body["financed_amount"]))
    assert r.status_code == 201, r.text
    return deal_id


async def finance(client: httpx.AsyncClient, deal_id: str, amount: str,
                  instrument: str = "loan_guarantee") -> httpx.Response:
    return await post_event(client, deal_id, "DealFinanced",
                            financing_for(instrument, amount=amount))


async def program(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/v1/program", headers=auth("reader"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def sized(amount: str, **changes: Any) -> dict[str, Any]:
    """An uncontrolled medium-term deal financing ``amount`` (85% of its contract)."""
    cents = round(float(amount) * 100)
    contract = cents * 100 // 85 + (1 if cents * 100 % 85 else 0)
    half = contract // 2
    items = [{"description": "Rack servers", "category": "server", "eccn": "5A992.c",
              "quantity": 80, "value": f"{half // 100}.{half % 100:02d}"},
             {"description": "Switches", "category": "networking", "eccn": "EAR99",
              "quantity": 20, "value": f"{(contract - half) // 100}.{(contract - half) % 100:02d}"}]
    return application(contract_value=f"{contract // 100}.{contract % 100:02d}",
                       financed_amount=amount, items=items, **changes)


# -- the program itself ------------------------------------------------------------------------


@pytest.mark.program_unauthorized
async def test_financing_needs_a_program_authorization_in_force(client: httpx.AsyncClient):
    deal_id = await approved(client)
    assert_problem(await finance(client, deal_id, "8500000.00"), 422, "program_not_authorized")
    await authorize_program(client, effective_from=day(1))  # not yet in force
    assert_problem(await finance(client, deal_id, "8500000.00"), 422, "program_not_authorized")
    await authorize_program(client, effective_from=day(-10), expires_on=day(-1))  # expired
    assert_problem(await finance(client, deal_id, "8500000.00"), 422, "program_not_authorized")
    await authorize_program(client, effective_from=day(-10), expires_on=day(0))  # in force today
    r = await finance(client, deal_id, "8500000.00")
    assert r.status_code == 201, r.text


@pytest.mark.program_unauthorized
async def test_a_financing_dated_before_the_authorization_is_refused(client: httpx.AsyncClient):
    back = f"{day(-3)}T12:00:00Z"
    deal_id = (await apply_deal(client, {**uncontrolled_application(), "occurred_at": back}))[
        "deal_id"]
    await screen(client, deal_id, occurred_at=back)
    r = await post_event(client, deal_id, "BoardVoted", vote(day(-3)), occurred_at=back)
    assert r.status_code == 201, r.text
    await authorize_program(client, effective_from=day(-1))
    r = await post_event(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                         occurred_at=f"{day(-2)}T12:00:00Z")
    assert_problem(r, 422, "program_not_authorized")
    r = await post_event(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                         occurred_at=f"{day(-1)}T00:00:00Z")
    assert r.status_code == 201, r.text


async def test_a_suspension_stops_financing_until_a_new_authorization(client: httpx.AsyncClient):
    await authorize_program(client)
    first, second = await approved(client), await approved(client)
    r = await client.post("/v1/program/suspensions", headers=auth("board"),
                          json={"reason": "appropriations lapsed", "effective_from": day(1)})
    assert r.status_code == 201, r.text
    assert (await program(client))["suspended"] is False  # from tomorrow
    assert (await finance(client, first, "8500000.00")).status_code == 201
    r = await client.post("/v1/program/suspensions", headers=auth("board"),
                          json={"reason": "appropriations lapsed", "effective_from": day()})
    assert r.status_code == 201, r.text
    status = await program(client)
    assert (status["suspended"], status["authorization"]) == (True, None)
    assert_problem(await finance(client, second, "8500000.00"), 422, "program_not_authorized")
    await authorize_program(client)  # lifts it
    assert (await program(client))["suspended"] is False
    assert (await finance(client, second, "8500000.00")).status_code == 201


async def test_a_suspension_is_never_retroactive(client: httpx.AsyncClient):
    r = await client.post("/v1/program/suspensions", headers=auth("board"),
                          json={"reason": "x", "effective_from": day(-1)})
    assert_problem(r, 422, "suspension_retroactive")


async def test_the_total_limit_holds_to_the_cent(client: httpx.AsyncClient):
    await authorize_program(client, total_limit="10000000.00")
    a = await approved(client, sized("8500000.00"))
    b = await approved(client, sized("1500000.00"))
    c = await approved(client, sized("0.01"))
    assert (await finance(client, a, "8500000.00")).status_code == 201
    assert (await finance(client, b, "1500000.00")).status_code == 201  # exactly the limit
    assert_problem(await finance(client, c, "0.01"), 422, "program_limit_exceeded")
    status = await program(client)
    assert (status["committed"], status["total_limit"], status["available"]) == (
        "10000000.00", "10000000.00", "0.00")
    r = await post_event(client, a, "DealCancelled", {"reason": "buyer withdrew",
                                                      "amount": "0.01"})
    assert r.status_code == 201, r.text
    assert (await program(client))["committed"] == "9999999.99"
    assert (await finance(client, c, "0.01")).status_code == 201


async def test_a_country_limit_holds_to_the_cent(client: httpx.AsyncClient):
    await authorize_program(client, country_limits={"DE": "10000000.00"})
    a = await approved(client, sized("8500000.00"))
    b = await approved(client, sized("1500000.01"))
    c = await approved(client, sized("1500000.00"))
    other = await approved(client, sized("8500000.00", buyer={"name": "Paris DC",
                                                              "country": "FR"}))
    assert (await finance(client, a, "8500000.00")).status_code == 201
    assert_problem(await finance(client, b, "1500000.01"), 422, "country_limit_exceeded")
    assert (await finance(client, c, "1500000.00")).status_code == 201
    assert (await finance(client, other, "8500000.00")).status_code == 201  # FR: no limit
    status = await program(client)
    assert status["committed"] == "18500000.00"
    rows = {row["country"]: row for row in status["by_country"]}
    assert rows["DE"] == {"country": "DE", "committed": "10000000.00",
                          "limit": "10000000.00", "available": "0.00"}
    assert rows["FR"] == {"country": "FR", "committed": "8500000.00", "limit": None,
                          "available": None}


async def test_the_program_limit_is_checked_before_the_country_limit(client: httpx.AsyncClient):
    await authorize_program(client, total_limit="1000000.00",
                            country_limits={"DE": "1000000.00"})
    deal_id = await approved(client)
    assert_problem(await finance(client, deal_id, "8500000.00"), 422, "program_limit_exceeded")


async def test_the_limits_are_checked_before_the_maturity(client: httpx.AsyncClient):
    await authorize_program(client, country_limits={"DE": "1.00"})
    deal_id = await approved(client)
    r = await post_event(client, deal_id, "DealFinanced",
                         financing_for("loan_guarantee", final_maturity_date="2099-01-01"))
    assert_problem(r, 422, "country_limit_exceeded")


async def test_an_authorization_is_a_board_vote(client: httpx.AsyncClient):
    async def authorizing(**changes: Any) -> httpx.Response:
        return await client.post("/v1/program/authorizations", headers=auth("board"), json={
            "meeting_date": day(), "votes_for": 3, "votes_against": 0, "abstentions": 0,
            "effective_from": day(), "total_limit": "1.00", **changes})

    assert_problem(await authorizing(votes_for=2), 422, "no_quorum")
    assert_problem(await authorizing(abstentions=3), 422, "too_many_votes")
    assert_problem(await authorizing(votes_for=2, votes_against=2), 422,
                   "decision_contradicts_votes")
    assert_problem(await authorizing(meeting_date=day(1)), 422, "meeting_in_future")
    assert_problem(await authorizing(expires_on=day()), 422, "validation_error")
    for role in ("writer", "admin", "origination", "servicing", "licensing", "reader"):
        r = await client.post("/v1/program/authorizations", headers=auth(role), json={})
        problem = assert_problem(r, 403, "event_not_permitted")
        assert (problem["event_type"], problem["role"]) == ("ProgramAuthorized", role)
    r = await authorizing(votes_for=3, votes_against=2, expires_on=day(1),
                          country_limits={"IN": "5.00"})
    assert r.status_code == 201, r.text
    envelope = r.json()
    assert (envelope["type"], envelope["deal_id"], envelope["actor"]) == (
        "ProgramAuthorized", "00000000-0000-0000-0000-000000000000", "board-key")
    status = await program(client)
    assert status["authorization"]["country_limits"] == {"IN": "5.00"}
    assert status["authorization"]["hash"] == envelope["hash"]


# -- congressional notice ------------------------------------------------------------------------


def long_term(amount: str, buyer: str = "Acme Compute Ltd", country: str = "IN",
              **changes: Any) -> dict[str, Any]:
    """A long-term uncontrolled direct loan of ``amount`` to ``buyer``."""
    return sized(amount, term="long", instrument="direct_loan", tenor_years=10,
                 buyer={"name": buyer, "country": country}, **changes)


async def vote_on(client: httpx.AsyncClient, deal_id: str, amount: str,
                  meeting: str | None = None, **changes: Any) -> httpx.Response:
    return await post_event(client, deal_id, "BoardVoted", vote(meeting, amount, **changes))


async def notify(client: httpx.AsyncClient, deal_id: str, on: str, amount: str
                 ) -> httpx.Response:
    return await post_event(client, deal_id, "CongressionalNotified",
                            {"notified_on": on, "amount": amount, "reference": "CN-1"})


async def test_notice_is_needed_above_the_threshold(client: httpx.AsyncClient):
    at = (await apply_deal(client, long_term("100000000.00")))["deal_id"]
    assert (await vote_on(client, at, "100000000.00")).status_code == 201  # not above
    above = (await apply_deal(client, long_term("100000000.01", buyer="Other Co")))["deal_id"]
    assert_problem(await vote_on(client, above, "100000000.01"), 422,
                   "congressional_notice_required")
    rejection = {**vote(), "decision": "rejected", "votes_for": 1, "votes_against": 4}
    del rejection["approved_amount"]
    rejected = await post_event(client, above, "BoardVoted", rejection)
    assert rejected.status_code == 201, rejected.text  # a rejection needs none
    medium = (await apply_deal(client, sized("8500000.00", buyer={
        "name": "Acme Compute Ltd", "country": "IN"})))["deal_id"]
    assert (await vote_on(client, medium, "8500000.00")).status_code == 201


async def test_the_notice_period_and_amount_hold_to_the_day_and_the_cent(
        client: httpx.AsyncClient):
    deal_id = (await apply_deal(client, long_term("170000000.00")))["deal_id"]
    assert (await notify(client, deal_id, day(-34), "170000000.00")).status_code == 201
    assert_problem(await vote_on(client, deal_id, "170000000.00"), 422,
                   "notice_period_not_elapsed")
    assert (await notify(client, deal_id, day(-35), "169999999.99")).status_code == 201
    assert_problem(await vote_on(client, deal_id, "170000000.00"), 422,
                   "notice_amount_exceeded")
    r = await vote_on(client, deal_id, "169999999.99")
    assert r.status_code == 201, r.text


async def test_the_latest_notice_counts(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client, long_term("170000000.00")))["deal_id"]
    assert (await notify(client, deal_id, day(-40), "170000000.00")).status_code == 201
    assert (await notify(client, deal_id, day(-10), "170000000.00")).status_code == 201
    assert_problem(await vote_on(client, deal_id, "170000000.00"), 422,
                   "notice_period_not_elapsed")


async def test_a_notice_is_never_dated_ahead(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client, long_term("170000000.00")))["deal_id"]
    assert_problem(await notify(client, deal_id, day(1), "1.00"), 422, "notice_in_future")
    assert (await notify(client, deal_id, day(), "1.00")).status_code == 201


async def test_approvals_add_up_by_buyer_whatever_its_case_and_outer_spaces(
        client: httpx.AsyncClient):
    first = (await apply_deal(client, long_term("60000000.00", "Acme Compute Ltd")))["deal_id"]
    assert (await vote_on(client, first, "60000000.00")).status_code == 201
    other_country = (await apply_deal(client, long_term("50000000.00", "Acme Compute Ltd",
                                                        country="AE")))["deal_id"]
    assert (await vote_on(client, other_country, "50000000.00")).status_code == 201
    exactly = (await apply_deal(client, long_term("40000000.00", "ACME compute ltd")))["deal_id"]
    assert (await vote_on(client, exactly, "40000000.00")).status_code == 201  # 100M: not above
    second = (await apply_deal(client, long_term("0.01", "  acme COMPUTE ltd ")))["deal_id"]
    problem = assert_problem(await vote_on(client, second, "0.01"), 422,
                             "congressional_notice_required")
    assert "100000000.01" in problem["detail"]


async def test_approvals_count_within_365_days_either_side(client: httpx.AsyncClient):
    old = (await apply_deal(client, long_term("60000000.00")))["deal_id"]
    assert (await vote_on(client, old, "60000000.00", meeting=day(-366))).status_code == 201
    deal_id = (await apply_deal(client, long_term("50000000.00")))["deal_id"]
    assert (await vote_on(client, deal_id, "50000000.00")).status_code == 201  # 366 days apart
    third = (await apply_deal(client, long_term("50000000.00")))["deal_id"]
    # 365 days from both: 60M + 50M + 50M
    assert_problem(await vote_on(client, third, "50000000.00", meeting=day(-365)), 422,
                   "congressional_notice_required")


async def test_a_deal_cancelled_before_financing_no_longer_counts(client: httpx.AsyncClient):
    first = (await apply_deal(client, long_term("60000000.00")))["deal_id"]
    assert (await vote_on(client, first, "60000000.00")).status_code == 201
    second = (await apply_deal(client, long_term("50000000.00")))["deal_id"]
    assert_problem(await vote_on(client, second, "50000000.00"), 422,
                   "congressional_notice_required")
    r = await post_event(client, first, "DealCancelled", {"reason": "withdrawn"})
    assert r.status_code == 201, r.text
    assert (await vote_on(client, second, "50000000.00")).status_code == 201


async def test_notice_rules_follow_the_vote_s_own(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client, long_term("170000000.00")))["deal_id"]
    # approved_amount_exceeds_request, then congressional_notice_required
    assert_problem(await vote_on(client, deal_id, "170000000.01"), 422,
                   "approved_amount_exceeds_request")
    # notice_period_not_elapsed, then notice_amount_exceeded
    assert (await notify(client, deal_id, day(-1), "1.00")).status_code == 201
    assert_problem(await vote_on(client, deal_id, "170000000.00"), 422,
                   "notice_period_not_elapsed")


async def test_a_notice_after_financing_is_refused(client: httpx.AsyncClient):
    await authorize_program(client)
    deal_id = await approved(client)
    assert (await finance(client, deal_id, "8500000.00")).status_code == 201
    assert_problem(await notify(client, deal_id, day(), "1.00"), 422, "already_financed")


# -- the meeting, and what an approval covers ------------------------------------------------


async def test_a_vote_records_a_meeting_that_took_place_once(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client, uncontrolled_application()))["deal_id"]
    assert_problem(await vote_on(client, deal_id, "100.00", meeting=day(1)), 422,
                   "meeting_in_future")
    assert (await vote_on(client, deal_id, "100.00", meeting=day(-5))).status_code == 201
    assert (await vote_on(client, deal_id, "100.00", meeting=day())).status_code == 201
    assert_problem(await vote_on(client, deal_id, "200.00", meeting=day()), 409,
                   "meeting_already_recorded")
    # an earlier meeting already recorded: 409 before meeting_out_of_order
    assert_problem(await vote_on(client, deal_id, "200.00", meeting=day(-5)), 409,
                   "meeting_already_recorded")
    assert_problem(await vote_on(client, deal_id, "200.00", meeting=day(-1)), 422,
                   "meeting_out_of_order")
    # meeting_out_of_order, then no_quorum
    assert_problem(await vote_on(client, deal_id, "200.00", meeting=day(-2), votes_for=1,
                                 votes_against=1), 422, "meeting_out_of_order")


async def amend(client: httpx.AsyncClient, deal_id: str, **terms: Any) -> None:
    r = await post_event(client, deal_id, "DealAmended", {"reason": "corrected", **terms})
    assert r.status_code == 201, r.text


async def state(client: httpx.AsyncClient, deal_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_an_approval_covers_the_terms_it_saw(client: httpx.AsyncClient):
    await authorize_program(client)
    body = uncontrolled_application()
    deal_id = await approved(client, body)
    await amend(client, deal_id, financed_amount="8000000.00", tenor_years=5,
                items=[{**body["items"][0], "quantity": 79}, body["items"][1]])
    shown = await state(client, deal_id)
    assert (shown["board_status"], shown["stage"]) == ("approved", "board_approved")
    await amend(client, deal_id, financed_amount="8000000.01")  # up, but within what it saw
    assert (await state(client, deal_id))["board_status"] == "approved"
    await amend(client, deal_id, financed_amount="8500000.00")
    assert (await state(client, deal_id))["board_status"] == "approved"
    assert (await finance(client, deal_id, "8500000.00")).status_code == 201


async def test_an_amendment_beyond_the_approval_makes_it_stale(client: httpx.AsyncClient):
    await authorize_program(client)
    body = uncontrolled_application(financed_amount="8000000.00")
    cases: list[dict[str, Any]] = [
        {"financed_amount": "8000000.01"},
        {"tenor_years": 4},
        {"items": [{**body["items"][0], "quantity": 81}, body["items"][1]]},
        {"items": [body["items"][0], {**body["items"][1], "eccn": "4A994.a"}]},  # new ECCN
    ]
    for terms in cases:
        deal_id = await approved(client, uncontrolled_application(financed_amount="8000000.00"))
        await amend(client, deal_id, **terms)
        shown = await state(client, deal_id)
        assert (shown["board_status"], shown["stage"]) == ("stale", "board_stale"), terms
        problem = assert_problem(await finance(client, deal_id, "8000000.00"), 422,
                                 "board_approval_stale")
        assert "8000000.00" in problem["detail"]
        # board_approval_stale before amount_exceeds_board_approval
        assert_problem(await finance(client, deal_id, "9999999.00"), 422,
                       "board_approval_stale")
        await amend(client, deal_id, reason="back", **{
            k: v for k, v in {"financed_amount": "8000000.00", "tenor_years": 5,
                              "items": body["items"]}.items() if k in terms})
        assert (await state(client, deal_id))["board_status"] == "stale"  # until a new vote
    # a new meeting's approval covers the amended terms
    deal_id = await approved(client, uncontrolled_application(financed_amount="8000000.00"),
                             meeting=day(-1))
    await amend(client, deal_id, tenor_years=4)
    assert (await vote_on(client, deal_id, "8000000.00")).status_code == 201
    assert (await state(client, deal_id))["board_status"] == "approved"
    assert (await finance(client, deal_id, "8000000.00")).status_code == 201


# -- four eyes on reversals -------------------------------------------------------------------


async def disbursed(client: httpx.AsyncClient) -> tuple[str, int]:
    await authorize_program(client)
    deal_id = await approved(client)
    assert (await finance(client, deal_id, "8500000.00")).status_code == 201
    r = await post_event(client, deal_id, "FundsDisbursed",
                         {"amount": "8500000.00", "reference": "W-1"})
    assert r.status_code == 201, r.text
    return deal_id, r.json()["version"]


async def reverse(client: httpx.AsyncClient, deal_id: str, version: int, key: str,
                  **data: Any) -> httpx.Response:
    return await post_event(client, deal_id, "EventReversed",
                            {"version": version, "reason": "posted in error", **data},
                            headers=auth(key))


async def test_a_reversal_needs_another_key_and_evidence_of_returned_funds(
        client: httpx.AsyncClient):
    deal_id, version = await disbursed(client)
    # reversal_by_same_actor, then reversal_evidence_required
    assert_problem(await reverse(client, deal_id, version, "servicing"), 422,
                   "reversal_by_same_actor")
    assert_problem(await reverse(client, deal_id, version, "servicing2"), 422,
                   "reversal_evidence_required")
    r = await reverse(client, deal_id, version, "servicing2", return_reference="RET-77")
    assert r.status_code == 201, r.text
    assert r.json()["data"]["return_reference"] == "RET-77"
    # already_reversed, before reversal_by_same_actor
    assert_problem(await reverse(client, deal_id, version, "servicing", return_reference="x"),
                   422, "already_reversed")
    shown = await state(client, deal_id)
    assert shown["disbursed"] == "0.00"
    # one more wire, then none beyond the commitment
    r = await post_event(client, deal_id, "FundsDisbursed",
                         {"amount": "8500000.00", "reference": "W-2"})
    assert r.status_code == 201, r.text
    r = await post_event(client, deal_id, "FundsDisbursed", {"amount": "0.01", "reference": "W-3"})
    assert_problem(r, 422, "disbursement_exceeds_commitment")


async def test_evidence_is_asked_for_a_disbursement_only_and_before_the_balances(
        client: httpx.AsyncClient):
    deal_id, version = await disbursed(client)
    r = await post_event(client, deal_id, "RepaymentReceived",
                         {"principal": "100.00", "interest": "0.00", "reference": "P-1"})
    assert r.status_code == 201, r.text
    repayment = r.json()["version"]
    # reversal_evidence_required, then reversal_breaks_balances
    assert_problem(await reverse(client, deal_id, version, "servicing2"), 422,
                   "reversal_evidence_required")
    assert_problem(await reverse(client, deal_id, version, "servicing2", return_reference="R"),
                   422, "reversal_breaks_balances")
    r = await reverse(client, deal_id, repayment, "servicing2")
    assert r.status_code == 201, r.text


async def test_a_writer_may_reverse_what_a_servicing_key_posted(client: httpx.AsyncClient):
    deal_id, version = await disbursed(client)
    r = await reverse(client, deal_id, version, "writer", return_reference="RET-1")
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == "writer-key"


# -- the order of the money rules this issue adds -----------------------------------------------


async def test_a_controlled_deal_unlicensed_is_refused_before_the_program_rules(
        client: httpx.AsyncClient):
    body = application()
    deal_id = (await apply_deal(client, body))["deal_id"]
    assert (await vote_on(client, deal_id, "8500000.00")).status_code == 201
    assert_problem(await finance(client, deal_id, "8500000.00"), 422,
                   "commerce_license_required")


async def test_a_long_term_financing_is_limited_like_any_other(client: httpx.AsyncClient):
    await authorize_program(client, total_limit="20000000.00")
    deal_id = (await apply_deal(client, long_term("25000000.00")))["deal_id"]
    await screen(client, deal_id)
    assert (await vote_on(client, deal_id, "25000000.00")).status_code == 201
    assert_problem(await finance(client, deal_id, "25000000.00", "direct_loan"), 422,
                   "program_limit_exceeded")
    assert (await finance(client, deal_id, "20000000.00", "direct_loan")).status_code == 201


@pytest.mark.parametrize("path,type_name", [("/v1/program/authorizations", "ProgramAuthorized"),
                                            ("/v1/program/suspensions", "ProgramSuspended")])
async def test_only_the_board_posts_the_program_s_events(client: httpx.AsyncClient, path: str,
                                                         type_name: str):
    for key in ("admin", "writer", "reader", "auditor", "origination", "licensing",
                "servicing"):
        problem = assert_problem(await client.post(path, json={}, headers=auth(key)), 403,
                                 "event_not_permitted")  # before the body's data
        assert (problem["event_type"], problem["role"]) == (type_name, key)
        assert type_name in problem["detail"] and key in problem["detail"]
    assert_problem(await client.post(path, json={}, headers=auth("board")), 422,
                   "validation_error")
