"""A deal's derived view and stage (SPEC "Derived deal state"), judged under a policy
version: what ``DealState.view_under`` and ``stage_under`` answer."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from domain.money import FIGURES, format_money
from domain.policy import PolicyVersion

if TYPE_CHECKING:
    from domain.state import DealState

LICENSE_STAGES = {
    "revoked": "license_revoked",
    "expired": "license_expired",
    "partially_approved": "license_partial",
    "denied": "license_denied",
    "approved": "license_approved",
    "requested": "license_pending",
}


def stage(state: DealState, policy: PolicyVersion,
          at_financing: PolicyVersion | None = None, license_status: str | None = None) -> str:
    """The first stage of SPEC's table that holds (``license_status``: the deal's, when the
    caller has judged it already)."""
    if state.closed or (state.financed and not state.disbursed and not state.undisbursed):
        return "cancelled"
    if state.financed:
        if state.disbursed and not state.outstanding and not state.undisbursed:
            return "claimed" if state.claims_paid else "repaid"
        if state.principal_repaid + state.claims_paid > 0:
            return "repaying"
        return "disbursing" if state.disbursed else "financed"
    if state.board_status != "pending":
        return f"board_{state.board_status}"
    if license_status is None:
        license_status = state.license_status_under(policy, at_financing)
    return LICENSE_STAGES.get(license_status, "applied")


def view(state: DealState, policy: PolicyVersion, deal_id: str, version: int, shared: bool,
         at_financing: PolicyVersion | None) -> dict[str, Any]:
    """The API's view of a deal (``DealState.view_under``)."""
    dup = _shared if shared else _copy
    license_status = state.license_status_under(policy, at_financing)
    return {
        "deal_id": deal_id,
        "application_number": state.application_number,
        "version": version,
        "stage": stage(state, policy, at_financing, license_status),
        "license_status": license_status,
        "board_status": state.board_status,
        "exporter": dict(state.exporter),
        "buyer": dict(state.buyer),
        "buyer_country": state.buyer["country"],
        "end_user": dict(state.end_party),
        "screenings": {party: state.latest_screenings(party) for party, _ in state.parties()},
        "instrument": state.instrument,
        "term": state.term,
        "tenor_years": state.tenor_years,
        "contract_value": format_money(state.contract_value),
        "us_content_pct": state.us_content_pct,
        "eccns": state.eccns,
        "controlled_eccns": state.gated(policy, at_financing),
        "categories": state.categories,
        "items": dup(state.items),
        "amendments": dup(state.amendments),
        "licenses": dup(state.licenses),
        "board_vote": dup(state.board_vote),
        "board_terms": dup(state.board_terms),
        "meeting_dates": list(state.meeting_dates),
        "congressional_notice": dup(state.notice),
        "financing": dup(state.financing),
        "closed": state.closed,
        "financed": state.financed,
        "cancellation_reason": state.cancellation_reason,
        **{name: format_money(getattr(state, name)) for name in FIGURES},
        "reversed_versions": list(state.reversed_versions),
        "policy_version": policy.id,
        "latest_occurred_at": state.latest_occurred_at,
        "applied_occurred_at": state.applied_occurred_at,
        "applied_at": state.applied_at,
        "updated_at": state.updated_at,
    }


def _shared(value: Any) -> Any:
    return value


def _copy(value: Any) -> Any:
    return copy.deepcopy(value)
