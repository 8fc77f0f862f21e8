"""Business rules: ``check_*`` guards that raise ``RuleViolation`` with the SPEC's codes.

Each guard checks one rule; the ``Deal`` command methods call them in SPEC order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.policy import PolicyVersion
from domain.state import DealState, format_money

MEDIUM_TERM_MAX_AMOUNT = Decimal("10000000.00")
MEDIUM_TERM_MAX_TENOR = 7
MAX_FINANCED_SHARE = Decimal("0.85")
INSTRUMENTS_BY_TERM = {
    "medium": ("insurance", "loan_guarantee"),
    "long": ("direct_loan", "loan_guarantee"),
}
QUORUM = 3
DIRECTORS = 5


def _check_at_most(code: str, name: str, amount: Decimal, limit_name: str, limit: Decimal) -> None:
    if amount > limit:
        raise RuleViolation(
            code, f"{name} {format_money(amount)} exceeds {limit_name} {format_money(limit)}"
        )


# -- any event after DealApplied ---------------------------------------------------------


def check_deal_open(deal: DealState) -> None:
    if deal.closed:
        raise RuleViolation(
            "deal_closed", f"deal {deal.application_number} was cancelled before financing"
        )


def check_not_financed(deal: DealState) -> None:
    if deal.financed:
        raise RuleViolation(
            "already_financed", f"deal {deal.application_number} is already financed"
        )


def check_financed(deal: DealState) -> None:
    if not deal.financed:
        raise RuleViolation("not_financed", f"deal {deal.application_number} is not financed")


# -- DealApplied -------------------------------------------------------------------------


def check_exporter_is_us(data: Mapping[str, Any]) -> None:
    country = data["exporter"]["country"]
    if country != "US":
        raise RuleViolation("exporter_not_us", f"exporter country is {country}, not US")


def check_instrument_offered_for_term(data: Mapping[str, Any]) -> None:
    offered = INSTRUMENTS_BY_TERM[data["term"]]
    if data["instrument"] not in offered:
        raise RuleViolation(
            "instrument_not_offered_for_term",
            f"{data['instrument']} is not offered for {data['term']}-term deals "
            f"(offered: {', '.join(offered)})",
        )


def check_term(data: Mapping[str, Any]) -> None:
    amount, tenor = Decimal(data["financed_amount"]), data["tenor_years"]
    is_medium = amount <= MEDIUM_TERM_MAX_AMOUNT and tenor <= MEDIUM_TERM_MAX_TENOR
    if (data["term"] == "medium") != is_medium:
        bound, joined = ("<=", "and") if data["term"] == "medium" else (">", "or")
        raise RuleViolation(
            "term_mismatch",
            f"{data['term']} term needs financed_amount {bound} "
            f"{format_money(MEDIUM_TERM_MAX_AMOUNT)} {joined} tenor_years {bound} "
            f"{MEDIUM_TERM_MAX_TENOR}; got {format_money(amount)} over {tenor} years",
        )


def check_financed_share(data: Mapping[str, Any]) -> None:
    amount, contract = Decimal(data["financed_amount"]), Decimal(data["contract_value"])
    limit = contract * MAX_FINANCED_SHARE
    if amount > limit:
        shown = format_money(limit) if limit == limit.quantize(Decimal("0.01")) else str(limit)
        raise RuleViolation(
            "financed_share_exceeds_limit",
            f"financed_amount {format_money(amount)} exceeds 85% of contract_value "
            f"{format_money(contract)} ({shown})",
        )


def check_items_sum(data: Mapping[str, Any]) -> None:
    total = sum((Decimal(item["value"]) for item in data["items"]), Decimal("0.00"))
    contract = Decimal(data["contract_value"])
    if total != contract:
        raise RuleViolation(
            "items_do_not_sum_to_contract_value",
            f"items sum to {format_money(total)}, contract_value is {format_money(contract)}",
        )


def check_destination_not_embargoed(country: str, policy: PolicyVersion) -> None:
    if country in policy.embargoed:
        raise RuleViolation(
            "destination_embargoed",
            f"buyer country {country} is embargoed under policy {policy.id}",
        )


def check_controlled_items_allowed(
    country: str, eccns: Iterable[str], policy: PolicyVersion
) -> None:
    controlled = policy.controlled(eccns)
    if controlled and country in policy.restricted_for_controlled:
        raise RuleViolation(
            "controlled_items_to_restricted_destination",
            f"controlled ECCN(s) {', '.join(controlled)} may not go to {country} "
            f"under policy {policy.id}",
        )


# -- licenses ----------------------------------------------------------------------------


def check_eccns_in_deal(deal: DealState, eccns: Iterable[str]) -> None:
    _check_eccns_among(eccns, deal.eccns, "among the deal's items")


def check_license_ref_unused(deal: DealState, application_ref: str) -> None:
    if deal.license(application_ref) is not None:
        raise RuleViolation(
            "license_already_requested",
            f"a license was already requested under application_ref {application_ref}",
        )


def check_license_requested(deal: DealState, application_ref: str) -> dict[str, Any]:
    license_ = deal.license(application_ref)
    if license_ is None:
        raise RuleViolation(
            "license_not_requested", f"no license was requested under {application_ref}"
        )
    return license_


def check_license_undecided(license_: Mapping[str, Any]) -> None:
    if license_["status"] != "requested":
        raise RuleViolation(
            "license_already_decided",
            f"license {license_['application_ref']} was already {license_['status']}",
        )


def check_eccns_in_request(license_: Mapping[str, Any], eccns: Iterable[str]) -> None:
    _check_eccns_among(eccns, license_["requested_eccns"],
                       f"in request {license_['application_ref']}")


def _check_eccns_among(eccns: Iterable[str], allowed: list[str], where: str) -> None:
    missing = sorted(set(eccns) - set(allowed))
    if missing:
        raise RuleViolation(
            "eccn_not_in_deal",
            f"ECCN(s) {', '.join(missing)} not {where} ({', '.join(allowed)})",
        )


# -- BoardVoted --------------------------------------------------------------------------


def _votes(data: Mapping[str, Any]) -> tuple[int, int, int]:
    return data["votes_for"], data["votes_against"], data["abstentions"]


def check_quorum(data: Mapping[str, Any]) -> None:
    cast = sum(_votes(data))
    if cast < QUORUM:
        raise RuleViolation(
            "no_quorum", f"{cast} directors voted or abstained; the quorum is {QUORUM}"
        )


def check_vote_count(data: Mapping[str, Any]) -> None:
    cast = sum(_votes(data))
    if cast > DIRECTORS:
        raise RuleViolation(
            "too_many_votes", f"{cast} votes and abstentions from a board of {DIRECTORS}"
        )


def check_decision_matches_votes(data: Mapping[str, Any]) -> None:
    votes_for, votes_against, _ = _votes(data)
    carried = votes_for > votes_against
    if (data["decision"] == "approved") != carried:
        raise RuleViolation(
            "decision_contradicts_votes",
            f"decision {data['decision']} with {votes_for} for and {votes_against} against",
        )


def check_approved_amount(deal: DealState, data: Mapping[str, Any]) -> None:
    if data["decision"] == "approved":
        _check_at_most("approved_amount_exceeds_request", "approved_amount",
                       Decimal(data["approved_amount"]), "the requested", deal.requested)


# -- DealFinanced ------------------------------------------------------------------------


def check_board_approved(deal: DealState) -> None:
    if deal.board_status != "approved":
        raise RuleViolation(
            "board_approval_required", f"the board's latest decision is {deal.board_status}"
        )


def check_amount_within_approval(deal: DealState, data: Mapping[str, Any]) -> None:
    _check_at_most("amount_exceeds_board_approval", "amount", Decimal(data["amount"]),
                   "the board's approved", deal.approved)


def check_instrument_matches(deal: DealState, data: Mapping[str, Any]) -> None:
    if data["instrument"] != deal.instrument:
        raise RuleViolation(
            "instrument_mismatch",
            f"financing instrument {data['instrument']} differs from the deal's {deal.instrument}",
        )


def _covering(deal: DealState, eccn: str) -> list[dict[str, Any]]:
    return [lic for lic in deal.licenses if lic["status"] == "approved" and eccn in lic["eccns"]]


def check_licenses_cover(deal: DealState, policy: PolicyVersion) -> None:
    uncovered = [e for e in policy.controlled(deal.eccns) if not _covering(deal, e)]
    if uncovered:
        raise RuleViolation(
            "commerce_license_required",
            f"no approved Commerce license covers controlled ECCN(s) {', '.join(uncovered)}",
        )


def check_licenses_valid(deal: DealState, policy: PolicyVersion, on: str) -> None:
    """``on`` is the event's ``occurred_at`` UTC date, ``YYYY-MM-DD``."""
    for eccn in policy.controlled(deal.eccns):
        covering = _covering(deal, eccn)
        if covering and all(lic["valid_until"] < on for lic in covering):
            latest = max(lic["valid_until"] for lic in covering)
            raise RuleViolation(
                "commerce_license_expired",
                f"every license covering {eccn} expired before {on} (latest valid_until {latest})",
            )


# -- money after financing ---------------------------------------------------------------


def check_disbursement(deal: DealState, data: Mapping[str, Any]) -> None:
    amount = Decimal(data["amount"])
    available = deal.committed - deal.cancelled
    if deal.disbursed + amount > available:
        raise RuleViolation(
            "disbursement_exceeds_commitment",
            f"disbursing {format_money(amount)} after {format_money(deal.disbursed)} exceeds the "
            f"commitment {format_money(deal.committed)} less cancelled "
            f"{format_money(deal.cancelled)} ({format_money(available)})",
        )


def check_repayment(deal: DealState, data: Mapping[str, Any]) -> None:
    _check_at_most("repayment_exceeds_outstanding", "principal", Decimal(data["principal"]),
                   "outstanding", deal.outstanding)


def check_claims_applicable(deal: DealState) -> None:
    if deal.instrument == "direct_loan":
        raise RuleViolation(
            "claims_not_applicable", "claims are paid on insurance and guarantees, not direct loans"
        )


def check_claim(deal: DealState, data: Mapping[str, Any]) -> None:
    _check_at_most("claim_exceeds_outstanding", "claim", Decimal(data["amount"]),
                   "outstanding", deal.outstanding)


def check_cancellation(deal: DealState, data: Mapping[str, Any]) -> None:
    if not deal.financed:
        if "amount" in data:
            raise RuleViolation(
                "amount_not_allowed_before_financing",
                "a cancellation before financing closes the whole deal; omit amount",
            )
        return
    undisbursed = deal.undisbursed
    amount = Decimal(data["amount"]) if "amount" in data else undisbursed
    if undisbursed <= 0 or amount > undisbursed:
        raise RuleViolation(
            "cancellation_exceeds_undisbursed",
            f"cancelling {format_money(amount)} exceeds the undisbursed commitment "
            f"{format_money(undisbursed)}",
        )
