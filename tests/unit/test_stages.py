"""Every transition of the SPEC's stage table, and license_status / board_status."""

from __future__ import annotations

from domain.deal import Deal
from tests.unit.test_rules import (
    apply,
    approve_license,
    cancel,
    deny_license,
    disburse,
    finance,
    financed,
    licensed,
    pay_claim,
    repay,
    request_license,
    uncontrolled_application,
    view,
    vote,
)


def stage(deal: Deal) -> str:
    return str(view(deal)["stage"])


def test_a_new_deal_is_applied_and_needs_a_license_for_controlled_items() -> None:
    deal = apply()
    assert (stage(deal), view(deal)["license_status"]) == ("applied", "required")
    assert view(deal)["board_status"] == "pending"


def test_a_deal_without_controlled_items_needs_no_license() -> None:
    deal = apply(uncontrolled_application())
    assert (stage(deal), view(deal)["license_status"]) == ("applied", "not_required")


def test_license_requests_and_decisions_are_stages_of_their_own() -> None:
    deal = request_license(apply())
    assert (stage(deal), view(deal)["license_status"]) == ("license_pending", "requested")
    assert stage(approve_license(deal)) == "license_approved"
    assert stage(deny_license(request_license(apply()))) == "license_denied"


def test_license_status_follows_the_latest_request_or_decision() -> None:
    deal = request_license(licensed(), ref="BIS-2")
    assert view(deal)["license_status"] == "requested"
    assert view(deny_license(deal, "BIS-2"))["license_status"] == "denied"


def test_license_events_do_not_change_status_of_deals_without_controlled_items() -> None:
    deal = request_license(apply(uncontrolled_application()), eccns=["5A992.C"])
    assert (stage(deal), view(deal)["license_status"]) == ("applied", "not_required")


def test_the_board_vote_outranks_the_license_stage() -> None:
    assert stage(vote(licensed())) == "board_approved"
    assert stage(vote(deny_license(request_license(apply())), "rejected")) == "board_rejected"
    assert stage(vote(apply())) == "board_approved"


def test_a_later_vote_replaces_an_earlier_one() -> None:
    deal = vote(vote(apply(), amount="100.00"), "rejected")
    shown = view(deal)
    assert (shown["stage"], shown["board_status"], shown["approved"]) == (
        "board_rejected",
        "rejected",
        "0.00",
    )
    shown = view(vote(deal, amount="700000.00"))
    assert (shown["stage"], shown["approved"]) == ("board_approved", "700000.00")


def test_financing_commits_the_amount() -> None:
    shown = view(finance(vote(licensed(), amount="800000.00"), amount="700000.00"))
    assert shown["stage"] == "financed"
    assert (shown["approved"], shown["committed"], shown["undisbursed"]) == (
        "800000.00",
        "700000.00",
        "700000.00",
    )
    assert shown["exposure"] == "700000.00"


def test_a_disbursement_moves_the_deal_to_disbursing() -> None:
    shown = view(disburse(financed(), "300000.00"))
    assert shown["stage"] == "disbursing"
    assert (shown["outstanding"], shown["undisbursed"], shown["exposure"]) == (
        "300000.00",
        "550000.00",
        "850000.00",
    )


def test_a_repayment_or_a_claim_moves_the_deal_to_repaying() -> None:
    assert stage(repay(disburse(financed(), "300000.00"), "1.00")) == "repaying"
    assert stage(pay_claim(disburse(financed(), "300000.00"), "1.00")) == "repaying"


def test_interest_alone_does_not_make_a_deal_repaying() -> None:
    assert stage(repay(disburse(financed(), "300000.00"), "0.00", "5.00")) == "disbursing"


def test_a_deal_fully_disbursed_and_repaid_is_repaid() -> None:
    deal = repay(disburse(financed(), "850000.00"), "850000.00")
    shown = view(deal)
    assert shown["stage"] == "repaid"
    assert (shown["outstanding"], shown["undisbursed"], shown["exposure"]) == ("0.00",) * 3


def test_a_deal_paid_off_by_a_claim_is_claimed_not_repaid() -> None:
    deal = pay_claim(repay(disburse(financed(), "850000.00"), "800000.00"), "50000.00")
    assert stage(deal) == "claimed"


def test_a_partly_disbursed_deal_is_repaid_once_the_rest_is_cancelled() -> None:
    deal = repay(disburse(financed(), "100000.00"), "100000.00")
    assert stage(deal) == "repaying"
    assert stage(cancel(deal)) == "repaid"


def test_a_deal_cancelled_before_financing_is_cancelled_from_any_early_stage() -> None:
    for deal in (apply(), request_license(apply()), licensed(), vote(licensed())):
        shown = view(cancel(deal))
        assert (shown["stage"], shown["closed"], shown["financed"]) == ("cancelled", True, False)


def test_a_financed_deal_cancelled_before_any_disbursement_is_cancelled() -> None:
    shown = view(cancel(financed()))
    assert (shown["stage"], shown["closed"], shown["cancelled"]) == (
        "cancelled", False, "850000.00")
    assert shown["exposure"] == "0.00"


def test_a_partial_cancellation_keeps_the_deal_financed() -> None:
    shown = view(cancel(financed(), "50000.00"))
    assert (shown["stage"], shown["undisbursed"]) == ("financed", "800000.00")


def test_a_cancellation_of_the_rest_of_a_disbursing_deal_keeps_it_disbursing() -> None:
    shown = view(cancel(disburse(financed(), "100.00")))
    assert (shown["stage"], shown["cancelled"], shown["undisbursed"]) == (
        "disbursing",
        "849900.00",
        "0.00",
    )
