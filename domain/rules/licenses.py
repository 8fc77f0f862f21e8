"""Commerce licenses: requests, decisions, revocations, and the license gate on money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.errors import RuleViolation
from domain.rules.common import Judgement
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


def check_license_not_revoked(licenses: Sequence[Mapping[str, Any]]) -> None:
    if all("revoked" in lic for lic in licenses):
        revoked = licenses[0]["revoked"]
        raise RuleViolation(
            "license_already_revoked",
            f"license {licenses[0]['license_number']} was already revoked "
            f"(effective {revoked['effective_date']})")


def check_license_gate(deal: DealState, judgement: Judgement) -> None:
    """Controlled under either version, or (v3) under the version stored on the deal's
    ``DealFinanced``: what was gated at financing stays gated, whatever a later policy
    says. Valid on the event's business date."""
    policies = list(judgement.compliance)
    if deal.financing_policy is not None:
        book = judgement.program.book
        policies.append(book.resolve(deal.financing_policy, judgement.occurred_at))
    controlled = {e for policy in policies for e in policy.controlled(deal.eccns)}
    gate = deal.license_gate(controlled, judgement.occurred_on)
    if gate is not None:
        raise RuleViolation(*gate)
