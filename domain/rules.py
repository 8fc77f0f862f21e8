"""Business rules: ``check_*`` guards that raise ``RuleViolation`` with the SPEC's codes.

Each guard checks one rule; the ``Deal`` command methods call them in SPEC order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.chain import parse_timestamp
from domain.errors import RuleViolation
from domain.policy import PolicyVersion
from domain.state import MONEY_EFFECTS, ZERO, DealState, format_money

MEDIUM_TERM_MAX_AMOUNT = Decimal("10000000.00")
MEDIUM_TERM_MAX_TENOR = 7
MAX_FINANCED_SHARE = Decimal("0.85")
INSTRUMENTS_BY_TERM = {
    "medium": ("insurance", "loan_guarantee"),
    "long": ("direct_loan", "loan_guarantee"),
}
QUORUM = 3
DIRECTORS = 5
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Judgement:
    """When and under which policy an event is judged. ``occurred_at`` is the business
    time the poster gave, or the server's clock; ``policy`` is the version in force then
    (stored on the event), ``policy_now`` the one in force at ``now``."""

    occurred_at: datetime
    now: datetime
    policy: PolicyVersion
    policy_now: PolicyVersion

    @property
    def occurred_on(self) -> str:
        return self.occurred_at.astimezone(UTC).date().isoformat()

    @property
    def compliance(self) -> tuple[PolicyVersion, ...]:
        """The compliance rules hold under both versions: a backdate never escapes a newer
        restriction."""
        if self.policy_now.id == self.policy.id:
            return (self.policy,)
        return (self.policy, self.policy_now)


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


# -- business time -----------------------------------------------------------------------


def check_not_before_previous_event(deal: DealState, judgement: Judgement) -> None:
    latest = parse_timestamp(deal.latest_occurred_at)
    if judgement.occurred_at < latest - CLOCK_SKEW:
        raise RuleViolation(
            "occurred_before_previous_event",
            f"occurred_at {judgement.occurred_at.isoformat()} is more than 5 minutes before "
            f"the deal's latest event ({deal.latest_occurred_at}): a deal's history never "
            "runs backwards")


def check_backdating(judgement: Judgement) -> None:
    days = judgement.policy_now.max_backdating_days
    if judgement.occurred_at < judgement.now - timedelta(days=days):
        raise RuleViolation(
            "backdated_beyond_window",
            f"occurred_at {judgement.occurred_at.isoformat()} is more than {days} days before "
            f"now ({judgement.now.isoformat()}; policy {judgement.policy_now.id})")


# -- DealApplied -------------------------------------------------------------------------


def check_exporter_is_us(data: Mapping[str, Any]) -> None:
    country = data["exporter"]["country"]
    if country != "US":
        raise RuleViolation("exporter_not_us", f"exporter country is {country}, not US")


def check_buyer_is_foreign(data: Mapping[str, Any]) -> None:
    if data["buyer"]["country"] == "US":
        raise RuleViolation("buyer_not_foreign",
                            "the buyer is in the US: the program finances foreign purchases")


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


def check_us_content(data: Mapping[str, Any]) -> None:
    """EXIM supports the lesser of 85% of the contract and 100% of the U.S. content."""
    if "us_content_pct" not in data:
        return
    amount, contract = Decimal(data["financed_amount"]), Decimal(data["contract_value"])
    pct = Decimal(data["us_content_pct"])
    if amount * 100 > pct * contract:
        raise RuleViolation(
            "financed_exceeds_us_content",
            f"financed_amount {format_money(amount)} exceeds the U.S. content, {pct}% of "
            f"contract_value {format_money(contract)} ({pct * contract / 100:.4f})")


def check_items_sum(data: Mapping[str, Any]) -> None:
    total = sum((Decimal(item["value"]) for item in data["items"]), Decimal("0.00"))
    contract = Decimal(data["contract_value"])
    if total != contract:
        raise RuleViolation(
            "items_do_not_sum_to_contract_value",
            f"items sum to {format_money(total)}, contract_value is {format_money(contract)}",
        )


def check_destination_not_embargoed(country: str, policies: Sequence[PolicyVersion]) -> None:
    for policy in policies:
        if country in policy.embargoed:
            raise RuleViolation(
                "destination_embargoed",
                f"buyer country {country} is embargoed under policy {policy.id}",
            )


def check_destination_designated(country: str, policies: Sequence[PolicyVersion]) -> None:
    for policy in policies:
        if not policy.designates(country):
            raise RuleViolation(
                "destination_not_designated",
                f"buyer country {country} is not among the destinations designated by "
                f"policy {policy.id}",
            )


def check_controlled_items_allowed(
    country: str, eccns: Iterable[str], policies: Sequence[PolicyVersion]
) -> None:
    eccns = list(eccns)
    for policy in policies:
        controlled = policy.controlled(eccns)
        if controlled and country in policy.restricted_for_controlled:
            raise RuleViolation(
                "controlled_items_to_restricted_destination",
                f"controlled ECCN(s) {', '.join(controlled)} may not go to {country} "
                f"under policy {policy.id}",
            )


def check_terms(data: Mapping[str, Any], policies: Sequence[PolicyVersion]) -> None:
    """The application's rules after the parties: on a new deal's terms or amended ones."""
    check_buyer_is_foreign(data)
    check_instrument_offered_for_term(data)
    check_term(data)
    check_financed_share(data)
    check_us_content(data)
    check_items_sum(data)
    country = data["buyer"]["country"]
    check_destination_not_embargoed(country, policies)
    check_destination_designated(country, policies)
    check_controlled_items_allowed(country, [item["eccn"] for item in data["items"]], policies)


# -- licenses ----------------------------------------------------------------------------


def check_eccns_in_deal(deal: DealState, eccns: Iterable[str]) -> None:
    _check_eccns_among((e.upper() for e in eccns), deal.eccns, "among the deal's items")


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
    _check_eccns_among((e.upper() for e in eccns), license_["requested_eccns"],
                       f"in request {license_['application_ref']}")


def _check_eccns_among(eccns: Iterable[str], allowed: list[str], where: str) -> None:
    missing = sorted(set(eccns) - set(allowed))
    if missing:
        raise RuleViolation(
            "eccn_not_in_deal",
            f"ECCN(s) {', '.join(missing)} not {where} ({', '.join(allowed)})",
        )


def check_license_found(deal: DealState, license_number: str) -> list[dict[str, Any]]:
    found = deal.licenses_numbered(license_number)
    if not found:
        raise RuleViolation("license_not_found",
                            f"no approved license numbered {license_number} on this deal")
    return found


def check_license_not_revoked(licenses: Sequence[Mapping[str, Any]]) -> None:
    if all("revoked" in lic for lic in licenses):
        revoked = licenses[0]["revoked"]
        raise RuleViolation(
            "license_already_revoked",
            f"license {licenses[0]['license_number']} was already revoked "
            f"(effective {revoked['effective_date']})")


def check_license_gate(deal: DealState, judgement: Judgement) -> None:
    """Controlled under either version; valid on the event's business date."""
    controlled = {e for policy in judgement.compliance for e in policy.controlled(deal.eccns)}
    gate = deal.license_gate(controlled, judgement.occurred_on)
    if gate is not None:
        raise RuleViolation(*gate)


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
    amount = Decimal(data["amount"])
    _check_at_most("amount_exceeds_board_approval", "amount", amount,
                   "the board's approved", deal.approved)
    _check_at_most("amount_exceeds_board_approval", "amount", amount,
                   "the financed_amount applied for", deal.requested)


def check_instrument_matches(deal: DealState, data: Mapping[str, Any]) -> None:
    if data["instrument"] != deal.instrument:
        raise RuleViolation(
            "instrument_mismatch",
            f"financing instrument {data['instrument']} differs from the deal's {deal.instrument}",
        )


def check_maturity(deal: DealState, data: Mapping[str, Any], occurred_on: str) -> None:
    """After the financing date, and no later than that date plus the tenor plus a year."""
    start = date.fromisoformat(occurred_on)
    latest = _add_years(start, deal.tenor_years + 1)
    maturity = date.fromisoformat(data["final_maturity_date"])
    if not start < maturity <= latest:
        raise RuleViolation(
            "maturity_outside_tenor",
            f"final_maturity_date {maturity} must be after {start} and no later than {latest} "
            f"(the tenor of {deal.tenor_years} years plus one)")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


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


def check_recovery(deal: DealState, data: Mapping[str, Any]) -> None:
    if deal.claims_paid <= 0:
        raise RuleViolation("no_claim_to_recover", "no claim was paid on this deal")
    _check_at_most("recovery_exceeds_claims", "recoveries", deal.recovered
                   + Decimal(data["amount"]), "the claims paid", deal.claims_paid)


def check_reversal_target(deal: DealState, version: int) -> dict[str, str]:
    target = deal.money_events.get(str(version))
    if target is None:
        raise RuleViolation(
            "reversal_target_invalid",
            f"version {version} of this deal is not a money event "
            f"({', '.join(MONEY_EFFECTS)}) that could be reversed")
    if version in deal.reversed_versions:
        raise RuleViolation("already_reversed", f"version {version} was already reversed")
    return target


def check_reversal_keeps_balances(deal: DealState, version: int,
                                  target: Mapping[str, str]) -> None:
    changed = deal.reversal_effects(target)
    f = {name: changed.get(name, getattr(deal, name))
         for name in ("disbursed", "principal_repaid", "claims_paid", "recovered")}
    broken = [name for name, value in changed.items() if value < ZERO]
    if f["disbursed"] - f["principal_repaid"] - f["claims_paid"] < ZERO:
        broken.append("outstanding")
    if f["recovered"] > f["claims_paid"]:
        broken.append("recovered above claims_paid")
    if broken:
        raise RuleViolation(
            "reversal_breaks_balances",
            f"reversing version {version} ({target['type']}) would leave "
            f"{', '.join(broken)} out of balance: reverse the later events first")


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
