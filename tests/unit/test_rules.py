"""Every business rule code, and the order in which rules are checked.

The builders at the top are shared with the other unit test modules of the deal.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.chain import parse_timestamp
from domain.deal import Deal, EventMeta
from domain.errors import RuleViolation
from domain.guards import Across
from domain.licensing import totals_by_eccn
from domain.money import format_money
from domain.policy import SHIPPED, SHIPPED_BOOK, PolicyBook, PolicyVersion
from domain.program import Program, Recorded
from domain.rules import Judgement

ON = "2025-06-02T12:00:00.000000Z"
NOW = parse_timestamp(ON)  # the clock of these tests
CHIP = "3A090.A"
SERVER = "5A992.C"
FIRST_POLICY = SHIPPED[0]


def meta(occurred_at: str = ON) -> EventMeta:
    return EventMeta(event_id=str(uuid.uuid4()), occurred_at=occurred_at, actor="tests")


AUTHORIZATION = Recorded("ProgramAuthorized", {
    "meeting_date": "2025-01-02", "votes_for": 3, "votes_against": 0, "abstentions": 0,
    "effective_from": "2025-01-02", "total_limit": "1000000000000.00"}, 1, "board")
AUTHORIZED = Program([AUTHORIZATION])


def authorized(book: PolicyBook) -> Program:
    """A program stream that adopted ``book``'s versions, then was authorized without a
    practical limit."""
    adopted = [Recorded("PolicyAdopted", v.normal_form(), i, "system")
               for i, v in enumerate(book.versions, start=1)]
    return Program([*adopted, replace(AUTHORIZATION, stream_version=len(adopted) + 1)])


def judged(at: str = ON, book: PolicyBook = SHIPPED_BOOK, now: datetime = NOW,
           actor: str = "another-key", across: Across | None = None) -> Judgement:
    """An event judged at business time ``at`` with the clock at ``now``, posted by
    ``actor``, on a program of ``book``'s versions (``across``: no other deal, unless
    given)."""
    moment = parse_timestamp(at)
    return Judgement(moment, now, book.at(moment), book.at(now), actor, authorized(book),
                     across if across is not None else Across(whole=True))


def view(deal: Deal, book: PolicyBook = SHIPPED_BOOK) -> dict[str, Any]:
    return deal.view(book)


def application(**changes: Any) -> dict[str, Any]:
    """A medium-term insurance deal of 1,000,000.00 with one controlled item."""
    data: dict[str, Any] = {
        "application_number": "EXIM-2025-0001",
        "exporter": {"name": "Chipworks Inc", "country": "US"},
        "buyer": {"name": "Datacenter GmbH", "country": "DE"},
        "instrument": "insurance",
        "term": "medium",
        "contract_value": "1000000.00",
        "financed_amount": "850000.00",
        "tenor_years": 5,
        "us_content_pct": "100",
        "items": [
            {
                "description": "AI accelerators",
                "category": "accelerator",
                "eccn": CHIP,
                "quantity": 8,
                "value": "600000.00",
            },
            {
                "description": "Servers",
                "category": "server",
                "eccn": SERVER,
                "quantity": 2,
                "value": "400000.00",
            },
        ],
    }
    data.update(changes)
    return data


def uncontrolled_application(**changes: Any) -> dict[str, Any]:
    item = {"description": "Servers", "category": "server", "eccn": SERVER, "quantity": 1}
    return application(items=[{**item, "value": "1000000.00"}], **changes)


def apply(data: dict[str, Any] | None = None, book: PolicyBook = SHIPPED_BOOK) -> Deal:
    return Deal.apply_for(uuid.uuid4(), data or application(), meta(), judged(book=book))


def post(deal: Deal, type_name: str, at: str = ON, book: PolicyBook = SHIPPED_BOOK,
         now: datetime = NOW, **data: Any) -> Deal:
    deal.handle(type_name, data, meta(at), judged(at, book, now))
    return deal


def request_license(deal: Deal, ref: str = "BIS-1", eccns: list[str] | None = None) -> Deal:
    return post(deal, "LicenseRequested", application_ref=ref, eccns=eccns or [CHIP])


def lines_for(deal: Deal, eccns: list[str]) -> list[dict[str, Any]]:
    """License lines that cover exactly the deal's items of ``eccns``."""
    totals = totals_by_eccn(deal.items)
    return [{"eccn": e, "quantity": max(totals[e][0], 1) if e in totals else 1,
             "value": format_money(totals[e][1]) if e in totals else "1.00"} for e in eccns]


def approve_license(
    deal: Deal, ref: str = "BIS-1", eccns: list[str] | None = None, valid_until: str = "2026-12-31",
    **changes: Any,
) -> Deal:
    eccns = [e.upper() for e in (eccns or [CHIP])]
    data = {"application_ref": ref, "license_number": f"L-{ref}", "eccns": eccns,
            "valid_until": valid_until, "consignee": dict(deal.end_party),
            "lines": lines_for(deal, eccns), **changes}
    return post(deal, "CommerceLicenseApproved", **data)


def screen(deal: Deal, party: str = "buyer", result: str = "clear", at: str = ON,
           list_date: str | None = None, list_name: str = "CSL") -> Deal:
    return post(deal, "PartyScreened", at=at, party=party, list=list_name,
                list_date=list_date or at[:10], result=result, reference=f"S-{party}")


def deny_license(deal: Deal, ref: str = "BIS-1") -> Deal:
    return post(deal, "CommerceLicenseDenied", application_ref=ref, reason="diversion risk")


def licensed(deal: Deal | None = None) -> Deal:
    return approve_license(request_license(deal or apply()))


def vote(deal: Deal, decision: str = "approved", amount: str = "850000.00", **votes: Any) -> Deal:
    """A vote at the deal's next meeting (one a day from 1 May 2025)."""
    data: dict[str, Any] = {
        "meeting_date": (date(2025, 5, 1) + timedelta(days=len(deal.meeting_dates))).isoformat(),
        "votes_for": 4 if decision == "approved" else 1,
        "votes_against": 1 if decision == "approved" else 4,
        "abstentions": 0,
        "decision": decision,
    }
    data.update(votes)
    if decision == "approved":
        data["approved_amount"] = amount
    return post(deal, "BoardVoted", **data)


def finance_data(**changes: Any) -> dict[str, Any]:
    data = {
        "instrument": "insurance",
        "amount": "850000.00",
        "exposure_fee_pct": "1.25",
        "final_maturity_date": "2030-06-01",
    }
    data.update(changes)
    return data


def finance(deal: Deal, at: str = ON, **changes: Any) -> Deal:
    """Financed at ``at``; the parties are screened first when they have not been."""
    if not deal.screenings:
        screen(deal, at=max(at, deal.latest_occurred_at))
    return post(deal, "DealFinanced", at=at, **finance_data(**changes))


def financed(deal: Deal | None = None) -> Deal:
    return finance(vote(licensed(deal)))


def disburse(deal: Deal, amount: str) -> Deal:
    return post(deal, "FundsDisbursed", amount=amount, reference="D")


def repay(deal: Deal, principal: str, interest: str = "0.00") -> Deal:
    return post(deal, "RepaymentReceived", principal=principal, interest=interest, reference="R")


def pay_claim(deal: Deal, amount: str) -> Deal:
    return post(deal, "ClaimPaid", amount=amount, reference="C")


def cancel(deal: Deal, amount: str | None = None) -> Deal:
    data = {"reason": "buyer withdrew"} | ({"amount": amount} if amount else {})
    return post(deal, "DealCancelled", **data)


def refused(code: str) -> pytest.RaisesExc[RuleViolation]:
    return pytest.raises(RuleViolation, match=f"^{code}:")


# -- DealApplied ---------------------------------------------------------------------------


def test_a_valid_application_creates_the_deal_at_version_one() -> None:
    deal = apply()
    assert deal.version == 1
    assert view(deal)["stage"] == "applied"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"exporter": {"name": "Foreign Ltd", "country": "GB"}}, "exporter_not_us"),
        ({"instrument": "direct_loan"}, "instrument_not_offered_for_term"),
        ({"term": "long", "instrument": "insurance"}, "instrument_not_offered_for_term"),
        ({"tenor_years": 8}, "term_mismatch"),
        (
            {
                "financed_amount": "10000000.01",
                "contract_value": "20000000.00",
                "items": [
                    {
                        "description": "Cluster",
                        "category": "server",
                        "eccn": SERVER,
                        "quantity": 1,
                        "value": "20000000.00",
                    }
                ],
            },
            "term_mismatch",
        ),
        ({"term": "long", "instrument": "loan_guarantee", "tenor_years": 7}, "term_mismatch"),
        ({"financed_amount": "850000.01"}, "financed_share_exceeds_limit"),
        ({"contract_value": "1000000.01"}, "items_do_not_sum_to_contract_value"),
        ({"buyer": {"name": "Tehran Co", "country": "IR"}}, "destination_embargoed"),
        (
            {"buyer": {"name": "Shenzhen Co", "country": "CN"}},
            "controlled_items_to_restricted_destination",
        ),
    ],
)
def test_an_application_breaking_a_rule_is_refused(changes: dict[str, Any], code: str) -> None:
    with refused(code) as error:
        apply(application(**changes))
    assert error.value.status == 422


def test_medium_and_long_terms_are_told_apart_by_amount_and_tenor() -> None:
    assert apply(application(term="long", instrument="direct_loan", tenor_years=8)).term == "long"
    assert apply(application(tenor_years=7)).term == "medium"


def test_the_financed_share_detail_names_the_numbers() -> None:
    with refused("financed_share_exceeds_limit") as error:
        apply(application(financed_amount="850000.01"))
    assert error.value.detail == (
        "financed_amount 850000.01 exceeds 85% of contract_value 1000000.00 (850000.00)"
    )


def test_uncontrolled_items_may_go_to_a_restricted_destination() -> None:
    deal = apply(uncontrolled_application(buyer={"name": "Shenzhen Co", "country": "CN"}))
    assert view(deal)["license_status"] == "not_required"


def test_application_rules_are_checked_in_spec_order() -> None:
    with refused("exporter_not_us"):
        apply(application(exporter={"name": "F", "country": "GB"}, instrument="direct_loan"))
    with refused("instrument_not_offered_for_term"):
        apply(application(instrument="direct_loan", tenor_years=9))
    with refused("term_mismatch"):
        apply(application(tenor_years=9, financed_amount="999999.00"))
    with refused("financed_share_exceeds_limit"):
        apply(application(financed_amount="999999.00", contract_value="5.00"))
    with refused("items_do_not_sum_to_contract_value"):
        apply(application(contract_value="2000000.00", buyer={"name": "B", "country": "IR"}))
    with refused("destination_embargoed"):
        apply(application(buyer={"name": "B", "country": "RU"}))


def test_a_second_application_for_an_existing_deal_is_a_conflict() -> None:
    deal = apply()
    with refused("duplicate_application") as error:
        post(deal, "DealApplied", **application())
    assert error.value.status == 409


def test_an_unknown_event_type_is_refused() -> None:
    with refused("unknown_event_type"):
        post(apply(), "DealRenamed", name="x")


# -- closed deals ----------------------------------------------------------------------------


def test_a_deal_cancelled_before_financing_refuses_every_further_event() -> None:
    deal = cancel(apply())
    with refused("deal_closed"):
        request_license(deal)
    with refused("deal_closed"):
        cancel(deal)


def test_deal_closed_is_checked_before_any_other_rule() -> None:
    deal = cancel(apply())
    with refused("deal_closed"):
        approve_license(deal, ref="never-requested")
    with refused("deal_closed"):
        disburse(deal, "1.00")
    with refused("deal_closed"):
        vote(deal, votes_for=0, votes_against=0)
    with refused("deal_closed"):
        cancel(deal, amount="5.00")


# -- licenses ---------------------------------------------------------------------------------


def test_a_license_can_only_be_requested_for_the_deals_eccns() -> None:
    with refused("eccn_not_in_deal"):
        request_license(apply(), eccns=[CHIP, "4A090.B"])


def test_a_renewal_may_be_requested_and_approved_after_financing() -> None:  # v3
    deal = financed()
    approve_license(request_license(deal, ref="BIS-2"), ref="BIS-2", valid_until="2028-01-01")
    assert [lic["status"] for lic in deal.licenses] == ["approved", "approved"]


def test_an_application_ref_cannot_be_requested_twice() -> None:
    deal = request_license(apply())
    with refused("license_already_requested"):
        request_license(deal)


def test_a_decision_needs_a_request_with_that_ref() -> None:
    deal = request_license(apply())
    with refused("license_not_requested"):
        approve_license(deal, ref="BIS-9")
    with refused("license_not_requested"):
        post(deal, "CommerceLicenseDenied", application_ref="BIS-9", reason="no")


def test_a_license_is_decided_only_once() -> None:
    deal = deny_license(request_license(apply()))
    with refused("license_already_decided"):
        approve_license(deal, eccns=["NOT-EVEN-IN-DEAL"])
    with refused("license_already_decided"):
        post(deal, "CommerceLicenseDenied", application_ref="BIS-1", reason="again")


def test_an_approval_covers_only_eccns_of_the_deal_and_of_the_request() -> None:
    deal = request_license(apply())
    with refused("eccn_not_in_deal") as error:
        approve_license(deal, eccns=[SERVER])
    assert "not in request BIS-1" in error.value.detail
    with refused("eccn_not_in_deal") as error:
        approve_license(deal, eccns=["4A090.B"])
    assert "not among the deal's items" in error.value.detail


# -- BoardVoted -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "cast", "code"),
    [
        ("approved", (2, 0, 0), "no_quorum"),
        ("rejected", (1, 1, 0), "no_quorum"),
        ("approved", (4, 1, 1), "too_many_votes"),
        ("approved", (0, 0, 6), "too_many_votes"),
        ("approved", (2, 2, 1), "decision_contradicts_votes"),
        ("rejected", (3, 2, 0), "decision_contradicts_votes"),
    ],
)
def test_a_vote_breaking_a_rule_is_refused(
    decision: str, cast: tuple[int, int, int], code: str
) -> None:
    votes_for, votes_against, abstentions = cast
    with refused(code):
        vote(
            apply(),
            decision,
            amount="999999999.00",
            votes_for=votes_for,
            votes_against=votes_against,
            abstentions=abstentions,
        )


def test_the_board_cannot_approve_more_than_was_requested() -> None:
    with refused("approved_amount_exceeds_request") as error:
        vote(apply(), amount="850000.01")
    assert "850000.01" in error.value.detail and "850000.00" in error.value.detail


def test_the_board_cannot_vote_after_financing() -> None:
    with refused("already_financed"):
        vote(financed(), votes_for=0, votes_against=0)


def test_a_tied_vote_can_only_reject() -> None:
    deal = vote(apply(), "rejected", votes_for=2, votes_against=2)
    assert view(deal)["board_status"] == "rejected"


# -- DealFinanced -----------------------------------------------------------------------------


def test_financing_is_refused_twice() -> None:
    with refused("already_financed"):
        finance(financed(), amount="999999999.00")


def test_financing_is_refused_without_board_approval() -> None:
    with refused("board_approval_required"):
        finance(licensed())
    with refused("board_approval_required"):
        finance(vote(vote(licensed()), "rejected"))


def test_financing_cannot_exceed_the_approved_amount() -> None:
    with refused("amount_exceeds_board_approval"):
        finance(vote(licensed(), amount="500000.00"), amount="500000.01")


def test_financing_must_use_the_deals_instrument() -> None:
    with refused("instrument_mismatch"):
        finance(vote(licensed()), instrument="loan_guarantee")


def test_financing_is_refused_without_an_approved_license() -> None:
    with refused("commerce_license_required"):
        finance(vote(request_license(apply())))
    denied = deny_license(request_license(apply()))
    with refused("commerce_license_required"):
        finance(vote(denied))


def test_financing_needs_no_license_for_uncontrolled_items() -> None:
    assert finance(vote(apply(uncontrolled_application()))).financed


def test_financing_is_refused_when_every_covering_license_has_expired() -> None:
    deal = vote(licensed())
    with refused("commerce_license_expired"):
        finance(deal, at="2027-01-01T00:00:00.000000Z")
    assert finance(deal, at="2026-12-31T23:59:59.999999Z").financed


def test_one_valid_license_is_enough_when_another_has_expired() -> None:
    deal = approve_license(request_license(licensed(), "BIS-2"), "BIS-2", valid_until="2029-01-01")
    assert finance(vote(deal), at="2028-01-01T00:00:00.000000Z").financed


def later_policy(**changes: Any) -> PolicyBook:
    """The first shipped version, then one in force from the day before ON."""
    later = PolicyVersion(**{**FIRST_POLICY.__dict__, "id": "2025-06-01",
                             "effective_from": date(2025, 6, 1), **changes})
    return PolicyBook([FIRST_POLICY, later])


def test_financing_rechecks_the_destination_under_the_policy_in_force() -> None:
    stricter = later_policy(embargoed=frozenset({"DE"}),
                            restricted_for_controlled=frozenset({"DE"}))
    with refused("destination_embargoed"):
        post(screen(vote(licensed())), "DealFinanced", book=stricter, **finance_data())
    restricted = later_policy(restricted_for_controlled=frozenset({"DE"}))
    with refused("controlled_items_to_restricted_destination"):
        post(screen(vote(licensed())), "DealFinanced", book=restricted, **finance_data())


def test_financing_judges_controlled_items_under_the_policy_in_force() -> None:
    wider = later_policy(controlled_eccn_patterns=("5A992*",))
    deal = vote(licensed())
    with refused("commerce_license_required") as error:
        post(deal, "DealFinanced", book=wider, **finance_data())
    assert SERVER in error.value.detail


def test_financing_rules_are_checked_in_spec_order() -> None:
    with refused("board_approval_required"):
        finance(apply(), amount="999999999.00", instrument="direct_loan")
    with refused("amount_exceeds_board_approval"):
        finance(vote(apply()), amount="999999999.00", instrument="direct_loan")
    with refused("instrument_mismatch"):
        finance(vote(apply()), instrument="direct_loan")


# -- money after financing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        lambda deal: disburse(deal, "1.00"),
        lambda deal: repay(deal, "1.00"),
        lambda deal: pay_claim(deal, "1.00"),
    ],
)
def test_money_cannot_move_before_financing(action: Any) -> None:
    with refused("not_financed"):
        action(vote(licensed()))


def test_disbursements_cannot_exceed_the_commitment_less_cancellations() -> None:
    deal = disburse(financed(), "800000.00")
    with refused("disbursement_exceeds_commitment") as error:
        disburse(deal, "50000.01")
    assert "850000.00" in error.value.detail
    cancel(deal, "10000.00")
    with refused("disbursement_exceeds_commitment"):
        disburse(deal, "40000.01")
    assert view(disburse(deal, "40000.00"))["undisbursed"] == "0.00"


def test_repayments_cannot_exceed_the_outstanding_principal() -> None:
    deal = disburse(financed(), "100.00")
    with refused("repayment_exceeds_outstanding"):
        repay(deal, "100.01")
    assert view(repay(deal, "0.00", interest="500.00"))["interest_received"] == "500.00"


def test_claims_are_not_paid_on_direct_loans() -> None:
    data = application(term="long", instrument="direct_loan", tenor_years=10)
    deal = disburse(finance(vote(licensed(apply(data))), instrument="direct_loan"), "10.00")
    with refused("claims_not_applicable"):
        pay_claim(deal, "999999999.00")


def test_claims_cannot_exceed_the_outstanding_principal() -> None:
    deal = repay(disburse(financed(), "100.00"), "40.00")
    with refused("claim_exceeds_outstanding"):
        pay_claim(deal, "60.01")
    assert view(pay_claim(deal, "60.00"))["outstanding"] == "0.00"


# -- DealCancelled ----------------------------------------------------------------------------


def test_a_cancellation_before_financing_takes_no_amount() -> None:
    with refused("amount_not_allowed_before_financing"):
        cancel(apply(), "1.00")


def test_a_cancellation_after_financing_cannot_exceed_the_undisbursed_commitment() -> None:
    deal = disburse(financed(), "850000.00")
    with refused("cancellation_exceeds_undisbursed"):
        cancel(deal)
    deal = disburse(financed(), "849000.00")
    with refused("cancellation_exceeds_undisbursed"):
        cancel(deal, "1000.01")


def test_a_refused_event_changes_nothing() -> None:
    deal = disburse(financed(), "100.00")
    before, version, pending = view(deal), deal.version, len(deal.pending_events)
    with refused("repayment_exceeds_outstanding"):
        repay(deal, "100.01")
    assert (view(deal), deal.version, len(deal.pending_events)) == (before, version, pending)
