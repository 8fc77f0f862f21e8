"""The rules SPEC §2 added in v2, each refused and accepted just on the passing side of its
boundary, and the order in which financing and disbursements check every rule.

The clock is injected: ``NOW`` is the moment these tests judge at.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.chain import format_timestamp, parse_timestamp
from domain.deal import Deal
from domain.policy import SHIPPED, PolicyBook, PolicyVersion
from tests.unit.test_rules import (
    CHIP,
    ON,
    application,
    approve_license,
    cancel,
    disburse,
    finance,
    finance_data,
    financed,
    judged,
    licensed,
    meta,
    pay_claim,
    post,
    refused,
    repay,
    request_license,
    screen,
    uncontrolled_application,
    view,
    vote,
)
from tests.unit.test_rules import apply as apply_for

NOW = parse_timestamp(ON)


def at(delta: timedelta, base: datetime = NOW) -> str:
    return format_timestamp(base + delta)


def designating(*countries: str) -> PolicyBook:
    """The first shipped version, then one from the day before ON that designates."""
    first = SHIPPED[0]
    later = PolicyVersion(**{**first.__dict__, "id": "designating",
                             "effective_from": date(2025, 6, 1),
                             "designated_countries": frozenset(countries)})
    return PolicyBook([first, later])


# -- business time -------------------------------------------------------------------------


def ask(deal: Deal, when: str, ref: str = "BIS-1", **kwargs: Any) -> Deal:
    return post(deal, "LicenseRequested", at=when, application_ref=ref, eccns=[CHIP], **kwargs)


def test_an_event_may_be_dated_up_to_five_minutes_before_the_deals_latest_event() -> None:
    deal = apply_for()
    ask(deal, at(timedelta(minutes=-5)))
    with refused("occurred_before_previous_event"):
        ask(deal, at(timedelta(minutes=-5, microseconds=-1)), "BIS-2")


def test_history_never_runs_backwards_even_after_a_later_event() -> None:
    later = NOW + timedelta(days=1)
    deal = ask(apply_for(), at(timedelta(days=1)), now=later)
    with refused("occurred_before_previous_event"):
        ask(deal, ON, "BIS-2", now=later)


def test_thirty_days_back_is_accepted_and_thirty_one_refused() -> None:
    now = NOW + timedelta(days=40)  # the deal applied 40 days ago
    assert ask(apply_for(), at(timedelta(days=-30), now), now=now).version == 2
    with refused("backdated_beyond_window"):
        ask(apply_for(), at(timedelta(days=-31), now), now=now)


def test_the_window_is_the_policy_in_force_nows() -> None:
    first = SHIPPED[0]
    strict = PolicyVersion(**{**first.__dict__, "id": "strict", "effective_from": date(2025, 6, 3),
                              "max_backdating_days": 2})
    book = PolicyBook([first, strict])
    now = NOW + timedelta(days=3)
    assert ask(apply_for(), at(timedelta(days=-2), now), book=book, now=now).version == 2
    with refused("backdated_beyond_window") as error:
        ask(apply_for(), at(timedelta(days=-2, seconds=-1), now), book=book, now=now)
    assert "2 days" in error.value.detail


def test_an_application_may_not_be_backdated_beyond_the_window_either() -> None:
    with refused("backdated_beyond_window"):
        apply_at(application(), at(timedelta(days=-31)), ON)
    assert apply_at(application(), at(timedelta(days=-30)), ON).version == 1


def test_business_time_is_checked_right_after_deal_closed() -> None:
    late = NOW + timedelta(days=90)
    with refused("deal_closed"):
        post(cancel(apply_for()), "LicenseRequested", at=at(timedelta(days=1)), now=late,
             application_ref="X", eccns=["NOT-IN-DEAL"])
    with refused("occurred_before_previous_event"):
        post(apply_for(), "LicenseRequested", at=at(timedelta(days=-1)),
             application_ref="X", eccns=["NOT-IN-DEAL"])
    with refused("backdated_beyond_window"):
        post(apply_for(), "LicenseRequested", at=at(timedelta(days=1)), now=late,
             application_ref="X", eccns=["NOT-IN-DEAL"])


# -- new application rules -----------------------------------------------------------------


def test_a_buyer_in_the_united_states_is_refused() -> None:
    with refused("buyer_not_foreign"):
        apply_for(application(buyer={"name": "Austin Compute", "country": "US"}))
    assert apply_for(application(buyer={"name": "Toronto Compute", "country": "CA"}))


def test_financing_exactly_at_the_us_content_is_accepted_and_a_cent_more_refused() -> None:
    assert apply_for(application(us_content_pct="85", financed_amount="850000.00")).version == 1
    with refused("financed_exceeds_us_content") as error:
        apply_for(application(us_content_pct="60.5", financed_amount="605000.01"))
    assert "605000.00" in error.value.detail
    assert apply_for(application(us_content_pct="60.5", financed_amount="605000.00"))


def test_us_content_is_checked_after_the_financed_share() -> None:
    with refused("financed_share_exceeds_limit"):
        apply_for(application(us_content_pct="10", financed_amount="850000.01"))
    with refused("financed_exceeds_us_content"):
        apply_for(application(us_content_pct="10", financed_amount="850000.00",
                              contract_value="2000000.00"))


def test_a_destination_outside_the_designated_ones_is_refused() -> None:
    book = designating("FR", "JP")
    with refused("destination_not_designated"):
        apply_for(book=book)
    assert apply_for(application(buyer={"name": "Paris AI", "country": "FR"}), book=book)


def test_designation_is_checked_after_the_embargo_and_before_controlled_items() -> None:
    book = designating("FR")
    with refused("destination_embargoed"):
        apply_for(application(buyer={"name": "B", "country": "IR"}), book=book)
    with refused("destination_not_designated"):
        apply_for(application(buyer={"name": "B", "country": "CN"}), book=book)


def test_eccns_compare_without_regard_to_case() -> None:
    deal = apply_for(application(items=[
        {"description": "c", "category": "accelerator", "eccn": "3a090.a", "quantity": 1,
         "value": "1000000.00"}]))
    assert view(deal)["controlled_eccns"] == ["3A090.A"]
    assert request_license(deal, eccns=["3a090.A"]).licenses[0]["eccns"] == ["3A090.A"]


HONG_KONG = application(buyer={"name": "Kowloon AI", "country": "HK"})


def apply_at(data: dict[str, Any], when: str, now: str | None = None) -> Deal:
    judgement = judged(when, now=parse_timestamp(now or when))
    return Deal.apply_for(uuid.uuid4(), data, meta(when), judgement)


def test_hong_kong_is_restricted_for_controlled_items_from_2026_11_30() -> None:
    assert apply_at(HONG_KONG, "2026-11-29T23:59:59.999999Z").version == 1
    with refused("controlled_items_to_restricted_destination") as error:
        apply_at(HONG_KONG, "2026-11-30T00:00:00.000000Z")
    assert "policy 2026-11-30" in error.value.detail
    assert apply_at(uncontrolled_application(buyer={"name": "HK", "country": "HK"}),
                    "2026-12-01T00:00:00.000000Z").version == 1


def test_a_backdate_never_escapes_a_newer_restriction() -> None:
    before, now = "2026-11-29T09:00:00.000000Z", "2026-12-01T09:00:00.000000Z"
    judgement = judged(before, now=parse_timestamp(now))
    assert (judgement.policy.id, judgement.policy_now.id) == ("2025-05-13", "2026-11-30")
    with refused("controlled_items_to_restricted_destination") as error:
        apply_at(HONG_KONG, before, now)
    assert "policy 2026-11-30" in error.value.detail


# -- the license gate and revocation -------------------------------------------------------


def test_a_revocation_needs_an_approved_license_with_that_number() -> None:
    deal = request_license(apply_for())
    with refused("license_not_found"):
        post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="x")
    approve_license(deal)
    post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="diversion")
    with refused("license_already_revoked"):
        post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="again")


def test_a_license_may_be_revoked_after_financing_and_stops_disbursements() -> None:
    deal = financed()
    post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="diversion")
    with refused("commerce_license_revoked"):
        disburse(deal, "1.00")
    assert view(deal)["license_status"] == "revoked"


def test_a_revocation_takes_effect_on_its_effective_date() -> None:
    deal = financed()
    post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="x",
         effective_date="2025-06-03")
    assert view(deal)["license_status"] == "approved"  # not yet on 2025-06-02
    disburse(deal, "1.00")
    with refused("commerce_license_revoked"):
        post(deal, "FundsDisbursed", at="2025-06-03T00:00:00.000000Z", amount="1.00",
             reference="D")


def test_a_revocation_without_a_date_takes_effect_on_its_own_date() -> None:
    deal = vote(licensed())
    post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="x")
    assert deal.licenses[0]["revoked"]["effective_date"] == ON[:10]
    assert view(deal)["stage"] == "board_approved"
    with refused("commerce_license_revoked"):
        finance(deal)


def test_a_revoked_license_shows_as_a_stage_before_the_board_votes() -> None:
    deal = post(licensed(), "CommerceLicenseRevoked", license_number="L-BIS-1", reason="x")
    assert (view(deal)["stage"], view(deal)["license_status"]) == ("license_revoked", "revoked")


def test_another_valid_license_still_covers_after_one_is_revoked() -> None:
    deal = approve_license(request_license(licensed(), "BIS-2"), "BIS-2", valid_until="2029-01-01")
    post(deal, "CommerceLicenseRevoked", license_number="L-BIS-1", reason="x")
    assert view(deal)["license_status"] == "approved"
    assert finance(vote(deal)).financed


def test_the_gate_answers_required_then_revoked_then_expired() -> None:
    deal = vote(apply_for(application(items=[
        {"description": "a", "category": "accelerator", "eccn": CHIP, "quantity": 1,
         "value": "500000.00"},
        {"description": "b", "category": "accelerator", "eccn": "4A090.A", "quantity": 1,
         "value": "500000.00"}])))
    request_license(deal, "BIS-1", [CHIP])
    approve_license(deal, "BIS-1", [CHIP], valid_until="2025-06-30")
    with refused("commerce_license_required"):
        finance(deal)
    request_license(deal, "BIS-2", ["4A090.A"])
    approve_license(deal, "BIS-2", ["4A090.A"], valid_until="2029-01-01")
    post(deal, "CommerceLicenseRevoked", license_number="L-BIS-2", reason="x",
         effective_date="2025-07-05")
    with refused("commerce_license_expired"):  # BIS-1 ran out; BIS-2 is still valid
        finance(deal, at="2025-07-04T00:00:00.000000Z")
    with refused("commerce_license_revoked"):  # both invalid: revoked is answered first
        finance(deal, at="2025-07-05T00:00:00.000000Z")


def test_a_disbursement_after_the_license_expired_is_refused() -> None:
    deal = disburse(financed(), "1.00")  # the license is valid until 2026-12-31
    with refused("commerce_license_expired"):
        post(deal, "FundsDisbursed", at="2027-01-01T00:00:00.000000Z", amount="1.00",
             reference="D", now=parse_timestamp("2027-01-01T00:00:00.000000Z"))


def test_a_disbursement_into_a_destination_embargoed_later_is_refused() -> None:
    first = SHIPPED[0]
    later = PolicyVersion(**{**first.__dict__, "id": "later", "effective_from": date(2025, 7, 1),
                             "embargoed": first.embargoed | {"DE"}})
    book = PolicyBook([first, later])
    deal = financed(apply_for(book=book))
    when = "2025-07-01T00:00:00.000000Z"
    with refused("destination_embargoed"):
        post(deal, "FundsDisbursed", at=when, now=parse_timestamp(when), book=book,
             amount="1.00", reference="D")


def test_a_destination_that_stops_being_designated_keeps_its_commitments() -> None:
    deal = financed()
    book = designating("JP")
    assert disburse_with(deal, book).disbursed == 1


def disburse_with(deal: Deal, book: PolicyBook) -> Deal:
    return post(deal, "FundsDisbursed", book=book, amount="1.00", reference="D")


# -- financing: maturity, and every rule in order ------------------------------------------


def test_maturity_exactly_at_the_tenor_plus_one_year_is_accepted_and_a_day_later_refused() -> None:
    # tenor 5 years, financed on 2025-06-02: the latest maturity is 2031-06-02
    with refused("maturity_outside_tenor"):
        finance(vote(licensed()), final_maturity_date="2031-06-03")
    assert finance(vote(licensed()), final_maturity_date="2031-06-02").financed


def test_maturity_must_fall_after_the_financing_date() -> None:
    with refused("maturity_outside_tenor"):
        finance(vote(licensed()), final_maturity_date="2025-06-02")
    assert finance(vote(licensed()), final_maturity_date="2025-06-03").financed


def test_financing_is_capped_by_an_amended_financed_amount_below_the_approval() -> None:
    deal = vote(licensed())
    post(deal, "DealAmended", financed_amount="800000.00", reason="more cash down")
    with refused("amount_exceeds_board_approval"):
        finance(deal)
    assert finance(deal, amount="800000.00").committed == 800000


FINANCING_ORDER = [
    ("already_financed", lambda: financed(), {}),
    ("board_approval_required", lambda: licensed(), {}),
    ("amount_exceeds_board_approval", lambda: vote(licensed()), {"amount": "850000.01"}),
    ("instrument_mismatch", lambda: vote(licensed()), {"instrument": "loan_guarantee"}),
    ("commerce_license_required", lambda: vote(apply_for()), {}),
    ("commerce_license_revoked", lambda: post(vote(licensed()), "CommerceLicenseRevoked",
                                              license_number="L-BIS-1", reason="x"), {}),
    ("commerce_license_expired", lambda: vote(licensed()),
     {"at": "2027-01-02T00:00:00.000000Z"}),
    ("maturity_outside_tenor", lambda: vote(licensed()), {"final_maturity_date": "2040-01-01"}),
]


@pytest.mark.parametrize(("code", "deal", "changes"), FINANCING_ORDER,
                         ids=[c for c, _, _ in FINANCING_ORDER])
def test_financing_answers_the_first_broken_rule_in_spec_order(
    code: str, deal: Any, changes: dict[str, Any]
) -> None:
    """Each case breaks its rule and every later one; the earlier ones hold."""
    changes = {"final_maturity_date": "2040-01-01", "instrument": "loan_guarantee",
               "amount": "850000.01", **changes}
    rank = [c for c, _, _ in FINANCING_ORDER].index(code)
    for earlier in ("amount", "instrument"):
        if rank <= [c for c, _, _ in FINANCING_ORDER].index(
                {"amount": "amount_exceeds_board_approval",
                 "instrument": "instrument_mismatch"}[earlier]):
            continue
        changes[earlier] = finance_data()[earlier]
    when = changes.pop("at", ON)
    with refused(code):
        post(screen(deal()), "DealFinanced", at=when, now=parse_timestamp(when),
             **finance_data(**changes))


def test_financing_checks_the_destination_after_the_license_gate_and_before_maturity() -> None:
    first = SHIPPED[0]
    later = PolicyVersion(**{**first.__dict__, "id": "later", "effective_from": date(2025, 6, 1),
                             "embargoed": first.embargoed | {"DE"}})
    deal = vote(apply_for())  # no license
    with refused("commerce_license_required"):
        post(deal, "DealFinanced", book=PolicyBook([first, later]),
             **finance_data(final_maturity_date="2040-01-01"))
    with refused("destination_embargoed"):
        post(screen(vote(licensed())), "DealFinanced", book=PolicyBook([first, later]),
             **finance_data(final_maturity_date="2040-01-01"))


def test_a_disbursement_answers_commitment_then_license_then_destination() -> None:
    first = SHIPPED[0]
    later = PolicyVersion(**{**first.__dict__, "id": "later", "effective_from": date(2025, 6, 1),
                             "embargoed": first.embargoed | {"DE"}})
    book = PolicyBook([first, later])
    with refused("not_financed"):
        post(vote(licensed()), "FundsDisbursed", book=book, amount="1.00", reference="D")
    deal = post(financed(), "CommerceLicenseRevoked", license_number="L-BIS-1", reason="x")
    with refused("disbursement_exceeds_commitment"):
        post(deal, "FundsDisbursed", book=book, amount="850000.01", reference="D")
    with refused("commerce_license_revoked"):
        post(deal, "FundsDisbursed", book=book, amount="1.00", reference="D")
    with refused("destination_embargoed"):
        post(financed(), "FundsDisbursed", book=book, amount="1.00", reference="D")
    restricting = PolicyBook([first, PolicyVersion(**{
        **first.__dict__, "id": "later", "effective_from": date(2025, 6, 1),
        "restricted_for_controlled": first.restricted_for_controlled | {"DE"}})])
    with refused("controlled_items_to_restricted_destination"):
        post(financed(), "FundsDisbursed", book=restricting, amount="1.00", reference="D")


# -- corrections ---------------------------------------------------------------------------


def test_terms_may_be_amended_before_financing_and_are_judged_again() -> None:
    deal = apply_for()
    post(deal, "DealAmended", financed_amount="700000.00", tenor_years=4, reason="resized")
    assert (view(deal)["requested"], view(deal)["tenor_years"]) == ("700000.00", 4)
    with refused("financed_share_exceeds_limit"):
        post(deal, "DealAmended", financed_amount="850000.01", reason="x")
    with refused("term_mismatch"):
        post(deal, "DealAmended", tenor_years=8, reason="x")
    with refused("items_do_not_sum_to_contract_value"):
        post(deal, "DealAmended", contract_value="2000000.00", reason="x")
    with refused("already_financed"):
        post(financed(), "DealAmended", tenor_years=4, reason="x")


def test_an_amendment_that_adds_controlled_items_needs_a_license_for_them() -> None:
    deal = vote(apply_for(uncontrolled_application()))
    assert view(deal)["license_status"] == "not_required"
    post(deal, "DealAmended", reason="added accelerators", items=[
        {"description": "c", "category": "accelerator", "eccn": "3a090.b", "quantity": 1,
         "value": "1000000.00"}])
    assert (view(deal)["license_status"], view(deal)["controlled_eccns"]) == (
        "required", ["3A090.B"])
    with refused("board_approval_stale"):  # v3: the board did not see the accelerators
        finance(deal)
    with refused("commerce_license_required"):
        finance(vote(deal))


def test_an_amendment_is_judged_under_the_destination_rules() -> None:
    book = designating("FR")
    deal = apply_for(application(buyer={"name": "Paris AI", "country": "FR"}))
    with refused("destination_not_designated"):
        post(apply_for(), "DealAmended", book=book, tenor_years=4, reason="x")
    assert post(deal, "DealAmended", book=book, tenor_years=4, reason="x").version == 2


def test_a_reversal_must_name_a_money_event_of_the_deal() -> None:
    deal = disburse(financed(), "100.00")
    with refused("reversal_target_invalid"):
        post(deal, "EventReversed", version=99, reason="x", return_reference="RET-1")
    with refused("reversal_target_invalid"):  # the board vote
        post(deal, "EventReversed", version=4, reason="x", return_reference="RET-1")
    post(deal, "EventReversed", version=deal.version, reason="wire returned",
         return_reference="RET-1")
    with refused("already_reversed"):
        post(deal, "EventReversed", version=deal.version - 1, reason="again",
             return_reference="RET-1")


def test_reversing_a_disbursement_already_repaid_breaks_the_balances() -> None:
    deal = repay(disburse(financed(), "100.00"), "100.00")
    with refused("reversal_breaks_balances"):
        post(deal, "EventReversed", version=deal.version - 1, reason="x", return_reference="RET-1")
    post(deal, "EventReversed", version=deal.version, reason="repayment bounced",
         return_reference="RET-1")
    post(deal, "EventReversed", version=deal.version - 2, reason="wire returned",
         return_reference="RET-1")
    assert (view(deal)["disbursed"], view(deal)["stage"]) == ("0.00", "financed")


def test_reversing_a_claim_with_recoveries_above_what_would_remain_breaks_the_balances() -> None:
    deal = pay_claim(disburse(financed(), "100.00"), "60.00")
    claim = deal.version
    post(deal, "RecoveryReceived", amount="10.00", reference="R")
    with refused("reversal_breaks_balances"):
        post(deal, "EventReversed", version=claim, reason="x", return_reference="RET-1")
    post(deal, "EventReversed", version=deal.version, reason="recovery misposted",
         return_reference="RET-1")
    post(deal, "EventReversed", version=claim, reason="claim paid in error",
         return_reference="RET-1")
    assert (view(deal)["claims_paid"], view(deal)["recovered"]) == ("0.00", "0.00")


def test_a_reversed_disbursement_no_longer_counts() -> None:
    deal = disburse(disburse(financed(), "100.00"), "50.00")
    post(deal, "EventReversed", version=deal.version - 1, reason="duplicate wire",
         return_reference="RET-1")
    shown = view(deal)
    assert (shown["disbursed"], shown["outstanding"], shown["undisbursed"]) == (
        "50.00", "50.00", "849950.00")
    assert shown["reversed_versions"] == [deal.version - 2]


def test_recoveries_need_a_claim_and_may_not_pass_the_claims_paid() -> None:
    deal = disburse(financed(), "100.00")
    with refused("not_financed"):
        post(vote(licensed()), "RecoveryReceived", amount="1.00", reference="R")
    with refused("no_claim_to_recover"):
        post(deal, "RecoveryReceived", amount="1.00", reference="R")
    pay_claim(deal, "60.00")
    post(deal, "RecoveryReceived", amount="40.00", reference="R1")
    with refused("recovery_exceeds_claims"):
        post(deal, "RecoveryReceived", amount="20.01", reference="R2")
    post(deal, "RecoveryReceived", amount="20.00", reference="R2")
    assert view(deal)["recovered"] == "60.00"


def test_a_guarantee_paid_off_by_a_claim_is_claimed() -> None:
    deal = pay_claim(disburse(financed(), "850000.00"), "850000.00")
    assert view(deal)["stage"] == "claimed"
    assert view(repay(disburse(financed(), "850000.00"), "850000.00"))["stage"] == "repaid"


def test_cancelling_the_rest_after_a_reversed_disbursement_cancels_that_too() -> None:
    deal = disburse(financed(), "100.00")
    cancel(deal)
    post(deal, "EventReversed", version=deal.version - 1, reason="wire returned",
         return_reference="RET-1")
    assert (view(deal)["cancelled"], view(deal)["stage"]) == ("850000.00", "cancelled")
