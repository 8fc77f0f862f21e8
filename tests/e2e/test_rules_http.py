"""Every SPEC §2 rule, produced over HTTP: the right status, an RFC 9457 problem with the
rule's code, and nothing appended to the ledger."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.conftest import BOOTSTRAP, auth
from tests.support.factories import (
    BOARD_APPROVED,
    LICENSE_APPROVED,
    LICENSE_REQUESTED,
    Clock,
    append_all,
    application,
    apply_deal,
    assert_problem,
    authorize_program,
    days_ago,
    deal_version,
    direct_loan_application,
    event,
    financed_deal,
    financing_for,
    ledger_client,
    license_approved,
    lifecycle_to_financed,
    post_event,
    screening,
    uncontrolled_application,
    whole_log,
    writer_headers,
)

DISBURSED = {"amount": "5000000.00", "reference": "DISB-1"}


async def refused(client: httpx.AsyncClient, deal_id: str, type_name: str,
                  data: dict[str, Any], code: str, status: int = 422,
                  **body: Any) -> dict[str, Any]:
    """Post an event that must be refused with ``code``; check that nothing was appended."""
    log_before = await whole_log(client)
    version_before = await deal_version(client, deal_id)
    r = await post_event(client, deal_id, type_name, data, **body)
    problem = assert_problem(r, status, code)
    assert await whole_log(client) == log_before
    assert await deal_version(client, deal_id) == version_before
    return problem


async def refused_application(client: httpx.AsyncClient, body: dict[str, Any], code: str,
                              status: int = 422) -> dict[str, Any]:
    log_before = await whole_log(client)
    r = await client.post("/v1/deals", json=body, headers=writer_headers())
    problem = assert_problem(r, status, code)
    assert await whole_log(client) == log_before
    return problem


async def deal_at(client: httpx.AsyncClient, steps: list[dict[str, Any]],
                  body: dict[str, Any] | None = None) -> str:
    deal_id: str = (await apply_deal(client, body or application()))["deal_id"]
    await append_all(client, deal_id, steps)
    return deal_id


LICENSED = [event("LicenseRequested", **LICENSE_REQUESTED),
            event("CommerceLicenseApproved", **LICENSE_APPROVED)]
APPROVED_BY_BOARD = [event("BoardVoted", **BOARD_APPROVED)]
SCREENED = [event("PartyScreened", **screening())]


# --- DealApplied ----------------------------------------------------------------------

ITEMS_SHORT = [
    {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
     "quantity": 64, "value": "8000000.00"},
    {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
     "quantity": 8, "value": "1999999.99"},
]

APPLICATION_RULES = {
    "exporter_not_us": {"exporter": {"name": "Siliziumwerk AG", "country": "DE"}},
    "instrument_not_offered_for_term": {"instrument": "direct_loan", "term": "medium"},
    "term_mismatch": {"tenor_years": 8},
    "financed_share_exceeds_limit": {"financed_amount": "8500000.01"},
    "items_do_not_sum_to_contract_value": {"items": ITEMS_SHORT},
    "destination_embargoed": {"buyer": {"name": "Tehran Compute", "country": "IR"}},
    "controlled_items_to_restricted_destination": {
        "buyer": {"name": "Shenzhen Compute", "country": "CN"}},
}


@pytest.mark.parametrize("code", list(APPLICATION_RULES))
async def test_an_application_breaking_a_rule_is_refused_with_its_code(
    client: httpx.AsyncClient, code: str
):
    body = application(**APPLICATION_RULES[code])
    await refused_application(client, body, code)
    r = await client.get("/v1/deals", params={"application_number": body["application_number"]},
                         headers=auth("reader"))
    assert_problem(r, 404, "not_found")


async def test_a_long_term_deal_is_refused_when_it_would_fit_the_medium_term(
    client: httpx.AsyncClient,
):
    body = application(term="long", instrument="loan_guarantee", tenor_years=7)
    await refused_application(client, body, "term_mismatch")


async def test_a_medium_term_deal_is_refused_above_ten_million(client: httpx.AsyncClient):
    items = [{"description": "Accelerators", "category": "accelerator", "eccn": "3A090.a",
              "quantity": 200, "value": "20000000.00"}]
    body = application(contract_value="20000000.00", financed_amount="10000000.01", items=items)
    await refused_application(client, body, "term_mismatch")


async def test_the_first_broken_application_rule_in_spec_order_is_the_answer(
    client: httpx.AsyncClient,
):
    body = application(exporter={"name": "Tokyo Chips KK", "country": "JP"},
                       buyer={"name": "Tehran Compute", "country": "IR"}, tenor_years=9)
    await refused_application(client, body, "exporter_not_us")


async def test_an_uncontrolled_deal_may_go_to_a_country_restricted_only_for_controlled_items(
    client: httpx.AsyncClient,
):
    envelope = await apply_deal(
        client, uncontrolled_application(buyer={"name": "Hanoi DC", "country": "VE"}))
    assert envelope["version"] == 1


async def test_a_second_application_with_the_same_number_is_a_conflict(
    client: httpx.AsyncClient,
):
    body = application()
    first = await apply_deal(client, body)
    problem = await refused_application(
        client, application(application_number=body["application_number"],
                            financed_amount="8000000.00"),
        "duplicate_application", status=409)
    assert problem["status"] == 409
    assert await deal_version(client, first["deal_id"]) == 1


# --- licenses ------------------------------------------------------------------------


async def test_a_license_may_be_requested_and_approved_after_financing_for_a_renewal(
    client: httpx.AsyncClient,
):
    deal_id = await financed_deal(client)  # SPEC v3: no already_financed for a request
    r = await post_event(client, deal_id, "LicenseRequested",
                         {"application_ref": "Z-2002", "eccns": ["3A090.a"]})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 7
    r = await post_event(client, deal_id, "CommerceLicenseApproved",
                         license_approved(application_ref="Z-2002"))
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 8


async def test_a_license_request_for_an_eccn_outside_the_deal_is_refused(
    client: httpx.AsyncClient,
):
    deal_id = await deal_at(client, [])
    await refused(client, deal_id, "LicenseRequested",
                  {"application_ref": "Z-1001", "eccns": ["4A090.a"]}, "eccn_not_in_deal")


async def test_a_license_cannot_be_approved_without_a_request(client: httpx.AsyncClient):
    deal_id = await deal_at(client, [])
    await refused(client, deal_id, "CommerceLicenseApproved", LICENSE_APPROVED,
                  "license_not_requested")


async def test_a_license_cannot_be_denied_without_a_request(client: httpx.AsyncClient):
    deal_id = await deal_at(client, [event("LicenseRequested", **LICENSE_REQUESTED)])
    await refused(client, deal_id, "CommerceLicenseDenied",
                  {"application_ref": "Z-OTHER", "reason": "no such application"},
                  "license_not_requested")


async def test_an_approved_license_cannot_be_approved_again(client: httpx.AsyncClient):
    deal_id = await deal_at(client, LICENSED)
    await refused(client, deal_id, "CommerceLicenseApproved",
                  dict(LICENSE_APPROVED, license_number="D-556"), "license_already_decided")


async def test_an_approved_license_cannot_then_be_denied(client: httpx.AsyncClient):
    deal_id = await deal_at(client, LICENSED)
    await refused(client, deal_id, "CommerceLicenseDenied",
                  {"application_ref": "Z-1001", "reason": "second thoughts"},
                  "license_already_decided")


async def test_a_license_approval_may_not_cover_an_eccn_that_was_not_requested(
    client: httpx.AsyncClient,
):
    deal_id = await deal_at(client, [event("LicenseRequested", **LICENSE_REQUESTED)])
    await refused(client, deal_id, "CommerceLicenseApproved",
                  dict(LICENSE_APPROVED, eccns=["3A090.a", "5A992.c"],
                       lines=[*LICENSE_APPROVED["lines"],
                              {"eccn": "5A992.c", "quantity": 8, "value": "2000000.00"}]),
                  "eccn_not_in_deal")


async def test_a_license_approval_may_not_cover_an_eccn_outside_the_deal(
    client: httpx.AsyncClient,
):
    deal_id = await deal_at(client, [event("LicenseRequested", **LICENSE_REQUESTED)])
    await refused(client, deal_id, "CommerceLicenseApproved",
                  dict(LICENSE_APPROVED, eccns=["4A090.b"],
                       lines=[{"eccn": "4A090.b", "quantity": 64, "value": "8000000.00"}]),
                  "eccn_not_in_deal")


# --- board ---------------------------------------------------------------------------


async def test_a_board_vote_after_financing_is_refused(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    await refused(client, deal_id, "BoardVoted", BOARD_APPROVED, "already_financed")


@pytest.mark.parametrize(
    ("votes", "decision", "code"),
    [
        ((1, 1, 0), "rejected", "no_quorum"),
        ((4, 1, 1), "approved", "too_many_votes"),
        ((2, 2, 1), "approved", "decision_contradicts_votes"),
        ((3, 1, 0), "rejected", "decision_contradicts_votes"),
    ],
    ids=["two_directors_are_no_quorum", "six_votes_from_five_directors",
         "a_tie_cannot_approve", "a_majority_for_cannot_reject"],
)
async def test_a_board_vote_must_be_consistent(
    client: httpx.AsyncClient, votes: tuple[int, int, int], decision: str, code: str
):
    deal_id = await deal_at(client, [])
    data: dict[str, Any] = {"meeting_date": "2026-06-01", "votes_for": votes[0],
                            "votes_against": votes[1], "abstentions": votes[2],
                            "decision": decision}
    if decision == "approved":
        data["approved_amount"] = "8500000.00"
    await refused(client, deal_id, "BoardVoted", data, code)


async def test_the_board_may_not_approve_more_than_was_requested(client: httpx.AsyncClient):
    deal_id = await deal_at(client, [])
    await refused(client, deal_id, "BoardVoted",
                  dict(BOARD_APPROVED, approved_amount="8500000.01"),
                  "approved_amount_exceeds_request")


# --- financing -----------------------------------------------------------------------


async def test_a_deal_cannot_be_financed_twice(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "already_financed")


async def test_financing_is_refused_without_board_approval(client: httpx.AsyncClient):
    deal_id = await deal_at(client, LICENSED)
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "board_approval_required")


async def test_financing_is_refused_after_the_latest_vote_rejected_the_deal(
    client: httpx.AsyncClient,
):
    rejected = {"meeting_date": "2026-07-01", "votes_for": 1, "votes_against": 3,
                "abstentions": 1, "decision": "rejected"}
    deal_id = await deal_at(client,
                            LICENSED + APPROVED_BY_BOARD + [event("BoardVoted", **rejected)])
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "board_approval_required")


async def test_financing_may_not_exceed_the_board_approval(client: httpx.AsyncClient):
    deal_id = await deal_at(
        client, LICENSED + [event("BoardVoted", **dict(BOARD_APPROVED, approved_amount="8000000"))])
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "amount_exceeds_board_approval")


async def test_financing_must_use_the_deal_instrument(client: httpx.AsyncClient):
    deal_id = await deal_at(client, LICENSED + APPROVED_BY_BOARD)
    await refused(client, deal_id, "DealFinanced", financing_for("insurance"),
                  "instrument_mismatch")


async def test_financing_is_refused_without_an_approved_license(client: httpx.AsyncClient):
    deal_id = await deal_at(client, APPROVED_BY_BOARD)
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "commerce_license_required")


async def test_financing_is_refused_when_the_license_was_denied(client: httpx.AsyncClient):
    denied = {"application_ref": "Z-1001", "reason": "diversion risk"}
    deal_id = await deal_at(client, [event("LicenseRequested", **LICENSE_REQUESTED),
                                     event("CommerceLicenseDenied", **denied)] + APPROVED_BY_BOARD)
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "commerce_license_required")


async def test_financing_is_refused_when_every_covering_license_expired_before_it_occurred(
    client: httpx.AsyncClient,
):
    now, earlier = days_ago(0), days_ago(10)  # SPEC v3: valid_until after the approval
    yesterday = (date.fromisoformat(now[:10]) - timedelta(days=1)).isoformat()
    deal_id = await deal_at(
        client, [dict(event("LicenseRequested", **LICENSE_REQUESTED), occurred_at=earlier),
                 dict(event("CommerceLicenseApproved",
                            **dict(LICENSE_APPROVED, valid_until=yesterday)),
                      occurred_at=earlier)]
        + SCREENED + APPROVED_BY_BOARD, application(occurred_at=earlier))
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "commerce_license_expired", occurred_at=now)


async def test_financing_on_the_last_valid_day_of_a_license_is_accepted(
    client: httpx.AsyncClient,
):
    now, earlier = days_ago(0), days_ago(10)  # SPEC v3: valid_until after the approval
    deal_id = await deal_at(
        client, [dict(event("LicenseRequested", **LICENSE_REQUESTED), occurred_at=earlier),
                 dict(event("CommerceLicenseApproved",
                            **dict(LICENSE_APPROVED, valid_until=now[:10])),
                      occurred_at=earlier)]
        + SCREENED + APPROVED_BY_BOARD, application(occurred_at=earlier))
    r = await post_event(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                         occurred_at=now)
    assert r.status_code == 201, r.text


async def test_an_uncontrolled_deal_is_financed_without_a_license(client: httpx.AsyncClient):
    deal_id = await deal_at(client, SCREENED + APPROVED_BY_BOARD, uncontrolled_application())
    r = await post_event(client, deal_id, "DealFinanced", financing_for("loan_guarantee"))
    assert r.status_code == 201, r.text


# --- money after financing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "data"),
    [
        ("FundsDisbursed", DISBURSED),
        ("RepaymentReceived", {"principal": "1.00", "interest": "0.00", "reference": "R-1"}),
        ("ClaimPaid", {"amount": "1.00", "reference": "C-1"}),
    ],
)
async def test_money_cannot_move_before_financing(
    client: httpx.AsyncClient, type_name: str, data: dict[str, Any]
):
    deal_id = await deal_at(client, LICENSED + APPROVED_BY_BOARD)
    await refused(client, deal_id, type_name, data, "not_financed")


async def test_disbursements_may_not_exceed_the_commitment(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    await append_all(client, deal_id, [event("FundsDisbursed", **DISBURSED)])
    await refused(client, deal_id, "FundsDisbursed",
                  {"amount": "3500000.01", "reference": "DISB-2"},
                  "disbursement_exceeds_commitment")


async def test_disbursements_may_not_exceed_the_commitment_less_cancellations(
    client: httpx.AsyncClient,
):
    deal_id = await financed_deal(client)
    await append_all(client, deal_id, [event("DealCancelled", reason="scaled down",
                                             amount="4000000.00")])
    await refused(client, deal_id, "FundsDisbursed",
                  {"amount": "4500000.01", "reference": "DISB-1"},
                  "disbursement_exceeds_commitment")


async def test_a_repayment_may_not_exceed_the_outstanding_principal(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    await append_all(client, deal_id, [event("FundsDisbursed", **DISBURSED)])
    await refused(client, deal_id, "RepaymentReceived",
                  {"principal": "5000000.01", "interest": "0.00", "reference": "R-1"},
                  "repayment_exceeds_outstanding")


async def test_claims_are_not_paid_on_direct_loans(client: httpx.AsyncClient):
    deal_id = await financed_deal(client, direct_loan_application())
    await append_all(client, deal_id, [event("FundsDisbursed", **DISBURSED)])
    await refused(client, deal_id, "ClaimPaid", {"amount": "1000.00", "reference": "C-1"},
                  "claims_not_applicable")


async def test_a_claim_may_not_exceed_the_outstanding_principal(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    await append_all(client, deal_id, [event("FundsDisbursed", **DISBURSED)])
    await refused(client, deal_id, "ClaimPaid", {"amount": "5000000.01", "reference": "C-1"},
                  "claim_exceeds_outstanding")


async def test_a_cancellation_may_not_exceed_the_undisbursed_commitment(
    client: httpx.AsyncClient,
):
    deal_id = await financed_deal(client)
    await append_all(client, deal_id, [event("FundsDisbursed", **DISBURSED)])
    await refused(client, deal_id, "DealCancelled",
                  {"reason": "too much", "amount": "3500000.01"},
                  "cancellation_exceeds_undisbursed")


# --- closed deals --------------------------------------------------------------------


CLOSED = [event("DealCancelled", reason="the buyer withdrew")]


@pytest.mark.parametrize(
    ("type_name", "data"),
    [
        ("LicenseRequested", LICENSE_REQUESTED),
        ("BoardVoted", BOARD_APPROVED),
        ("DealFinanced", financing_for("loan_guarantee")),
        ("FundsDisbursed", DISBURSED),
        ("DealCancelled", {"reason": "again"}),
    ],
)
async def test_a_deal_cancelled_before_financing_accepts_no_further_event(
    client: httpx.AsyncClient, type_name: str, data: dict[str, Any]
):
    deal_id = await deal_at(client, CLOSED)
    await refused(client, deal_id, type_name, data, "deal_closed")


async def test_deal_closed_comes_before_every_other_rule(client: httpx.AsyncClient):
    deal_id = await deal_at(client, CLOSED)
    await refused(client, deal_id, "LicenseRequested",
                  {"application_ref": "Z-1", "eccns": ["9E999"]}, "deal_closed")
    await refused(client, deal_id, "BoardVoted",
                  dict(BOARD_APPROVED, votes_for=1, votes_against=0, abstentions=0),
                  "deal_closed")


async def test_a_closed_deal_is_not_reopened_by_a_new_application_with_its_number(
    client: httpx.AsyncClient,
):
    body = application()
    deal_id = await deal_at(client, CLOSED, body)
    await refused_application(client, body, "duplicate_application", status=409)
    assert await deal_version(client, deal_id) == 2


# --- policy versions -----------------------------------------------------------------

DEFAULT_EMBARGOED = ["CU", "IR", "KP", "SY", "RU", "BY"]
DEFAULT_RESTRICTED = ["AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KH", "KP",
                      "LB", "LY", "MM", "MO", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW"]
CONTROLLED = ["3A090*", "4A090*", "*.z"]
AE_RESTRICTED = "2026-03-01-ae-restricted"
AE_EMBARGOED = "2026-06-01-ae-embargoed"


@pytest.fixture
def clock() -> Clock:
    """The server's clock, moved by the tests below through 2026."""
    return Clock("2026-01-15T10:00:00Z")


@pytest.fixture
async def client_with_later_policies(
    database_url: str, tmp_path: Path, clock: Clock
) -> Any:
    """Two later policy versions: from 2026-03-01 no controlled items to AE, from
    2026-06-01 AE embargoed (bootstrapped from a file onto a ledger with no deal yet, so
    their dates may lie ahead of or behind the clock)."""
    policy_file = tmp_path / "policies.json"
    policy_file.write_text(json.dumps([
        {"id": AE_RESTRICTED, "effective_from": "2026-03-01",
         "embargoed": DEFAULT_EMBARGOED, "restricted_for_controlled": DEFAULT_RESTRICTED + ["AE"],
         "controlled_eccn_patterns": CONTROLLED},
        {"id": AE_EMBARGOED, "effective_from": "2026-06-01",
         "embargoed": DEFAULT_EMBARGOED + ["AE"],
         "restricted_for_controlled": DEFAULT_RESTRICTED + ["AE"],
         "controlled_eccn_patterns": CONTROLLED},
    ]))
    settings = Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP,
                        policy_file=str(policy_file))
    async with ledger_client(settings, clock=clock) as c:
        c.clock = clock
        await authorize_program(c)  # from 2025 (SPEC v3: no financing without)
        yield c


def to_the_emirates(body: dict[str, Any] | None = None) -> dict[str, Any]:
    body = body or application()
    body["buyer"] = {"name": "Abu Dhabi AI Campus", "country": "AE"}
    return body


async def at(client: Any, when: str, deal_id: str, type_name: str, data: dict[str, Any],
             **body: Any) -> httpx.Response:
    """Post an event that occurred at ``when``, the server's clock an hour later."""
    client.clock.set(when)
    client.clock.moment += timedelta(hours=1)
    return await post_event(client, deal_id, type_name, data, occurred_at=when, **body)


async def deal_ready_to_finance(client: Any, body: dict[str, Any]) -> str:
    client.clock.set("2026-01-15T11:00:00Z")
    r = await client.post("/v1/deals", json={**body, "occurred_at": "2026-01-15T10:00:00Z"},
                          headers=writer_headers())
    assert r.status_code == 201, r.text
    assert r.json()["policy_version"] == "2025-05-13"
    deal_id: str = r.json()["deal_id"]
    vote = event("BoardVoted", **dict(BOARD_APPROVED, meeting_date="2026-02-01"))
    screened = event("PartyScreened", **screening(list_date="2026-02-01"))
    steps = [*lifecycle_to_financed(body)[:2], screened, vote] \
        if body["items"][0]["eccn"].startswith("3A090") else [screened, vote]
    client.clock.set("2026-02-01T11:00:00Z")
    await append_all(client, deal_id, [dict(s, occurred_at="2026-02-01T10:00:00Z")
                                       for s in steps])
    return deal_id


async def screen_again(client: Any, deal_id: str, when: str) -> None:
    """A fresh screening of the buyer at ``when`` (SPEC v3: at most 90 days old when money
    leaves)."""
    r = await at(client, when, deal_id, "PartyScreened", screening(list_date=when[:10]))
    assert r.status_code == 201, r.text


async def test_financing_is_rechecked_for_embargo_under_the_policy_in_force_when_it_occurs(
    client_with_later_policies: httpx.AsyncClient,
):
    client = client_with_later_policies
    deal_id = await deal_ready_to_finance(client, to_the_emirates())
    await screen_again(client, deal_id, "2026-06-30T10:00:00Z")
    client.clock.set("2026-07-01T11:00:00Z")
    problem = await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                            "destination_embargoed", occurred_at="2026-07-01T10:00:00Z")
    assert AE_EMBARGOED in problem["detail"]


async def test_financing_is_rechecked_for_controlled_items_under_the_later_policy(
    client_with_later_policies: httpx.AsyncClient,
):
    client = client_with_later_policies
    deal_id = await deal_ready_to_finance(client, to_the_emirates())
    client.clock.set("2026-04-01T11:00:00Z")
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "controlled_items_to_restricted_destination",
                  occurred_at="2026-04-01T10:00:00Z")


async def test_financing_before_a_policy_takes_effect_passes_only_if_decided_before_it_too(
    client_with_later_policies: httpx.AsyncClient,
):
    client = client_with_later_policies
    deal_id = await deal_ready_to_finance(client, to_the_emirates())
    client.clock.set("2026-03-01T00:00:01Z")  # dated the day before, decided on the day:
    await refused(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                  "controlled_items_to_restricted_destination",
                  occurred_at="2026-02-28T23:59:59Z")  # the newer restriction still holds
    client.clock.set("2026-02-28T23:59:59Z")
    r = await post_event(client, deal_id, "DealFinanced", financing_for("loan_guarantee"),
                         occurred_at="2026-02-28T23:59:58Z")
    assert r.status_code == 201, r.text
    assert r.json()["policy_version"] == "2025-05-13"


async def test_each_event_records_the_policy_version_in_force_at_its_occurred_at(
    client_with_later_policies: httpx.AsyncClient,
):
    client = client_with_later_policies
    deal_id = await deal_ready_to_finance(client, to_the_emirates(uncontrolled_application()))
    r = await at(client, "2026-04-01T10:00:00Z", deal_id, "DealFinanced",
                 financing_for("loan_guarantee"))
    assert r.status_code == 201, r.text
    assert r.json()["policy_version"] == AE_RESTRICTED
    r = await at(client, "2026-05-31T23:59:59Z", deal_id, "RepaymentReceived",
                 {"principal": "0.00", "interest": "1.00", "reference": "I-1"})
    assert r.json()["policy_version"] == AE_RESTRICTED
    r = await at(client, "2026-06-01T00:00:00Z", deal_id, "RepaymentReceived",
                 {"principal": "0.00", "interest": "1.00", "reference": "I-2"})
    assert r.status_code == 201, r.text
    assert r.json()["policy_version"] == AE_EMBARGOED
    await screen_again(client, deal_id, "2026-06-01T00:00:00Z")
    r = await at(client, "2026-06-01T00:00:01Z", deal_id, "FundsDisbursed", DISBURSED)
    assert_problem(r, 422, "destination_embargoed"), "money never leaves for an embargo"
    stream = (await client.get(f"/v1/deals/{deal_id}/events", headers=auth("reader"))).json()
    assert [e["policy_version"] for e in stream["events"]] == [
        "2025-05-13", "2025-05-13", "2025-05-13", AE_RESTRICTED, AE_RESTRICTED, AE_EMBARGOED,
        AE_EMBARGOED]


async def test_an_application_under_the_later_policy_is_refused_for_the_embargo(
    client_with_later_policies: httpx.AsyncClient,
):
    client = client_with_later_policies
    client.clock.set("2026-06-02T01:00:00Z")
    body = {**to_the_emirates(uncontrolled_application()), "occurred_at": "2026-06-02T00:00:00Z"}
    await refused_application(client, body, "destination_embargoed")
