"""``DealApplied`` and ``DealAmended``: the deal's parties and terms, and the destination
rules the buyer's and (v3) the end user's countries are checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.money import format_money
from domain.policy import PolicyVersion

MEDIUM_TERM_MAX_AMOUNT = Decimal("10000000.00")
MEDIUM_TERM_MAX_TENOR = 7
MAX_FINANCED_SHARE = Decimal("0.85")
# v3: the U.S. territories count as the United States
UNITED_STATES = frozenset({"US", "PR", "VI", "GU", "AS", "MP", "UM"})
INSTRUMENTS_BY_TERM = {
    "medium": ("insurance", "loan_guarantee"),
    "long": ("direct_loan", "loan_guarantee"),
}


def check_exporter_is_us(data: Mapping[str, Any]) -> None:
    country = data["exporter"]["country"]
    if country not in UNITED_STATES:
        raise RuleViolation(
            "exporter_not_us",
            f"exporter country is {country}, not the United States or one of its territories "
            f"({', '.join(sorted(UNITED_STATES))})")


def check_buyer_is_foreign(data: Mapping[str, Any]) -> None:
    country = data["buyer"]["country"]
    if country in UNITED_STATES:
        raise RuleViolation("buyer_not_foreign",
                            f"the buyer is in {country}, part of the United States: the program "
                            "finances foreign purchases")


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


def check_destination_not_embargoed(countries: Sequence[str],
                                    policies: Sequence[PolicyVersion]) -> None:
    """``countries``: the buyer's and (v3) the end user's."""
    for country in countries:
        for policy in policies:
            if country in policy.embargoed:
                raise RuleViolation(
                    "destination_embargoed",
                    f"destination {country} is embargoed under policy {policy.id}",
                )


def check_destination_designated(countries: Sequence[str],
                                 policies: Sequence[PolicyVersion]) -> None:
    for country in countries:
        for policy in policies:
            if not policy.designates(country):
                raise RuleViolation(
                    "destination_not_designated",
                    f"destination {country} is not among the destinations designated by "
                    f"policy {policy.id}",
                )


def check_controlled_items_allowed(
    countries: Sequence[str], eccns: Iterable[str], policies: Sequence[PolicyVersion]
) -> None:
    eccns = list(eccns)
    for country in countries:
        for policy in policies:
            controlled = policy.controlled(eccns)
            if controlled and country in policy.restricted_for_controlled:
                raise RuleViolation(
                    "controlled_items_to_restricted_destination",
                    f"controlled ECCN(s) {', '.join(controlled)} may not go to {country} "
                    f"under policy {policy.id}",
                )


def check_classification_evidence(items: Iterable[Mapping[str, Any]],
                                  policies: Sequence[PolicyVersion]) -> None:
    """v3 ``classification_evidence_required``: an accelerator whose ECCN no policy version
    controls needs the BIS classification ruling (CCATS) that says so."""
    for index, item in enumerate(items):
        if (item["category"] == "accelerator" and "classification_ref" not in item
                and not any(policy.is_controlled(item["eccn"]) for policy in policies)):
            raise RuleViolation(
                "classification_evidence_required",
                f"items[{index}] is an accelerator with ECCN {item['eccn']}, which is not "
                "controlled: its classification_ref (the BIS classification ruling) is "
                "required")


def destinations(data: Mapping[str, Any]) -> list[str]:
    """The countries the destination rules judge: the buyer's and the end user's."""
    countries = [data["buyer"]["country"]]
    if "end_user" in data:
        countries.append(data["end_user"]["country"])
    return list(dict.fromkeys(countries))


def check_terms(data: Mapping[str, Any], policies: Sequence[PolicyVersion]) -> None:
    """The application's rules after the parties: on a new deal's terms or amended ones."""
    check_buyer_is_foreign(data)
    check_instrument_offered_for_term(data)
    check_term(data)
    check_financed_share(data)
    check_us_content(data)
    check_items_sum(data)
    countries = destinations(data)
    check_destination_not_embargoed(countries, policies)
    check_destination_designated(countries, policies)
    check_controlled_items_allowed(countries, [item["eccn"] for item in data["items"]],
                                   policies)
    check_classification_evidence(data["items"], policies)
