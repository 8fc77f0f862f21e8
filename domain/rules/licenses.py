"""Commerce licenses: requests, decisions, revocations, and the license gate on money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.errors import RuleViolation
from domain.licensing import license_key, revocation
from domain.rules.common import Judgement, check_within_years
from domain.state import DealState


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


def check_license_not_revoked(licenses: Sequence[Mapping[str, Any]],
                               data: Mapping[str, Any], occurred_on: str) -> None:
    """v3: ``license_already_revoked`` only when the license is already revoked from the
    new revocation's ``effective_date`` or earlier; an earlier date replaces a later one."""
    # not data.get(...): the rule-order test reads a call's string argument as a code
    effective = data["effective_date"] if "effective_date" in data else occurred_on  # noqa: SIM401
    if not any(revocation(lic, effective) for lic in licenses):
        revoked = licenses[0]["revoked"]
        raise RuleViolation(
            "license_already_revoked",
            f"license {licenses[0]['license_number']} is already revoked from "
            f"{revoked['effective_date']}, not later than {effective}")


def check_license_number_free(deal: DealState, deal_id: str, number: str,
                              judgement: Judgement) -> None:
    """v3 ``license_number_taken``: one license, one deal; a number approved before, on any
    deal (this one included), is taken."""
    key = license_key(number)
    holders = set(judgement.across.license_holders(key))
    if key in deal.license_numbers:
        holders.add(deal_id)
    if holders:
        raise RuleViolation(
            "license_number_taken",
            f"license number {key} was already approved on deal {', '.join(sorted(holders))}: "
            "one license, one deal", status=409)


def check_license_validity(data: Mapping[str, Any], judgement: Judgement) -> None:
    """v3 ``license_validity_invalid``: ``valid_until`` after the event's date and no more
    than the policy's ``max_license_years`` after it (the stricter of the two versions)."""
    years = min(policy.max_license_years for policy in judgement.compliance)
    check_within_years("license_validity_invalid", "valid_until", data["valid_until"],
                       judgement.occurred_on, years, f"{years} years")


def check_consignee(deal: DealState, data: Mapping[str, Any]) -> None:
    """v3 ``license_consignee_mismatch``: the ultimate consignee is the end user."""
    consignee, end_user = data["consignee"]["country"], deal.end_party["country"]
    if consignee != end_user:
        raise RuleViolation(
            "license_consignee_mismatch",
            f"the license's consignee is in {consignee}; the deal's end user is in {end_user}")


def check_license_gate(deal: DealState, judgement: Judgement) -> None:
    """Controlled under either version, or (v3) under the version stored on the deal's
    ``DealFinanced``: what was gated at financing stays gated, whatever a later policy
    says. Valid on the event's business date and (v3) on the day it is recorded; then
    (v3) the valid licenses' lines cover the deal's quantities and values."""
    policies = list(judgement.compliance)
    if deal.financing_policy is not None:
        book = judgement.program.book
        policies.append(book.resolve(deal.financing_policy, judgement.occurred_at))
    gate = deal.license_gate(deal.gated(*policies), judgement.occurred_on,
                             judgement.today.isoformat())
    if gate is not None:
        raise RuleViolation(*gate)
