"""Derived deal state (SPEC "Derived deal state"), shared by the aggregate and the projections.

``DealState`` holds only snapshot-friendly values (str, int, bool, None, Decimal, list,
dict). Its ``apply_payload`` is the single way state changes: the ``Deal`` aggregate's
events call it, and the projections call it on envelopes, so both always agree.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

ZERO = Decimal("0.00")
# every money figure of a deal's state, in the order the view lists them
FIGURES = ("requested", "approved", "committed", "disbursed", "principal_repaid",
           "interest_received", "claims_paid", "cancelled", "outstanding", "undisbursed",
           "exposure")


def format_money(value: Decimal) -> str:
    """A money amount as a string with exactly two places."""
    return f"{value:.2f}"


class DealState:
    application_number: str
    exporter: dict[str, str]
    buyer: dict[str, str]
    instrument: str
    term: str
    tenor_years: int
    contract_value: Decimal
    us_content_pct: str | None
    items: list[dict[str, Any]]
    controlled_eccns: list[str]
    licenses: list[dict[str, Any]]
    last_license_status: str | None
    board_status: str
    board_vote: dict[str, Any] | None
    closed: bool
    cancellation_reason: str | None
    financed: bool
    financing: dict[str, Any] | None
    requested: Decimal
    approved: Decimal
    committed: Decimal
    disbursed: Decimal
    principal_repaid: Decimal
    interest_received: Decimal
    claims_paid: Decimal
    cancelled: Decimal
    applied_at: str | None
    updated_at: str | None

    def apply_payload(
        self,
        type_name: str,
        data: Mapping[str, Any],
        recorded_at: str | None,
        controlled_eccns: list[str] | None = None,
    ) -> None:
        """Mutate state for one accepted event; never fails on a valid payload."""
        if type_name == "DealApplied":
            self._on_deal_applied(data, controlled_eccns or [])
            self.applied_at = recorded_at
        else:
            _HANDLERS[type_name](self, data)
        self.updated_at = recorded_at

    # -- mutations, one per event type --------------------------------------------------

    def _on_deal_applied(self, data: Mapping[str, Any], controlled_eccns: list[str]) -> None:
        self.application_number = data["application_number"]
        self.exporter = dict(data["exporter"])
        self.buyer = dict(data["buyer"])
        self.instrument = data["instrument"]
        self.term = data["term"]
        self.tenor_years = data["tenor_years"]
        self.contract_value = Decimal(data["contract_value"])
        self.us_content_pct = data.get("us_content_pct")
        self.items = copy.deepcopy(list(data["items"]))
        self.controlled_eccns = sorted(set(controlled_eccns))
        self.licenses = []
        self.last_license_status = None
        self.board_status = "pending"
        self.board_vote = None
        self.closed = False
        self.cancellation_reason = None
        self.financed = False
        self.financing = None
        self.requested = Decimal(data["financed_amount"])
        self.approved = self.committed = self.disbursed = self.principal_repaid = ZERO
        self.interest_received = self.claims_paid = self.cancelled = ZERO

    def _on_license_requested(self, data: Mapping[str, Any]) -> None:
        self.licenses.append(
            {
                "application_ref": data["application_ref"],
                "eccns": list(data["eccns"]),
                "requested_eccns": list(data["eccns"]),
                "status": "requested",
            }
        )
        self.last_license_status = "requested"

    def _on_license_approved(self, data: Mapping[str, Any]) -> None:
        license_ = self.license(data["application_ref"])
        if license_ is not None:
            license_["status"] = "approved"
            license_["license_number"] = data["license_number"]
            license_["eccns"] = list(data["eccns"])
            license_["valid_until"] = data["valid_until"]
            if "conditions" in data:
                license_["conditions"] = list(data["conditions"])
        self.last_license_status = "approved"

    def _on_license_denied(self, data: Mapping[str, Any]) -> None:
        license_ = self.license(data["application_ref"])
        if license_ is not None:
            license_["status"] = "denied"
            license_["reason"] = data["reason"]
        self.last_license_status = "denied"

    def _on_board_voted(self, data: Mapping[str, Any]) -> None:
        self.board_vote = copy.deepcopy(dict(data))
        self.board_status = data["decision"]
        approved = data["decision"] == "approved"
        self.approved = Decimal(data["approved_amount"]) if approved else ZERO

    def _on_deal_financed(self, data: Mapping[str, Any]) -> None:
        self.financed = True
        self.financing = copy.deepcopy(dict(data))
        self.committed = Decimal(data["amount"])

    def _on_funds_disbursed(self, data: Mapping[str, Any]) -> None:
        self.disbursed += Decimal(data["amount"])

    def _on_repayment_received(self, data: Mapping[str, Any]) -> None:
        self.principal_repaid += Decimal(data["principal"])
        self.interest_received += Decimal(data["interest"])

    def _on_claim_paid(self, data: Mapping[str, Any]) -> None:
        self.claims_paid += Decimal(data["amount"])

    def _on_deal_cancelled(self, data: Mapping[str, Any]) -> None:
        self.cancellation_reason = data["reason"]
        if not self.financed:
            self.closed = True
        elif "amount" in data:
            self.cancelled += Decimal(data["amount"])
        else:
            self.cancelled += self.undisbursed

    # -- derived figures ----------------------------------------------------------------

    def license(self, application_ref: str) -> dict[str, Any] | None:
        for license_ in self.licenses:
            if license_["application_ref"] == application_ref:
                return license_
        return None

    @property
    def eccns(self) -> list[str]:
        return sorted({item["eccn"] for item in self.items})

    @property
    def categories(self) -> list[str]:
        return sorted({item["category"] for item in self.items})

    @property
    def outstanding(self) -> Decimal:
        return self.disbursed - self.principal_repaid - self.claims_paid

    @property
    def undisbursed(self) -> Decimal:
        return self.committed - self.disbursed - self.cancelled

    @property
    def exposure(self) -> Decimal:
        return self.outstanding + self.undisbursed

    @property
    def license_status(self) -> str:
        if not self.controlled_eccns:
            return "not_required"
        return self.last_license_status or "required"

    @property
    def stage(self) -> str:
        if self.closed or (self.financed and not self.disbursed and not self.undisbursed):
            return "cancelled"
        if self.financed:
            if self.disbursed and not self.outstanding and not self.undisbursed:
                return "repaid"
            if self.principal_repaid + self.claims_paid > 0:
                return "repaying"
            return "disbursing" if self.disbursed else "financed"
        if self.board_status != "pending":
            return f"board_{self.board_status}"
        return _LICENSE_STAGES.get(self.license_status, "applied")

    def derived_view(self, deal_id: str, version: int) -> dict[str, Any]:
        return {
            "deal_id": deal_id,
            "application_number": self.application_number,
            "version": version,
            "stage": self.stage,
            "license_status": self.license_status,
            "board_status": self.board_status,
            "exporter": dict(self.exporter),
            "buyer": dict(self.buyer),
            "buyer_country": self.buyer["country"],
            "instrument": self.instrument,
            "term": self.term,
            "tenor_years": self.tenor_years,
            "contract_value": format_money(self.contract_value),
            "us_content_pct": self.us_content_pct,
            "eccns": self.eccns,
            "controlled_eccns": list(self.controlled_eccns),
            "categories": self.categories,
            "items": copy.deepcopy(self.items),
            "licenses": copy.deepcopy(self.licenses),
            "board_vote": copy.deepcopy(self.board_vote),
            "financing": copy.deepcopy(self.financing),
            "closed": self.closed,
            "financed": self.financed,
            "cancellation_reason": self.cancellation_reason,
            **{name: format_money(getattr(self, name)) for name in FIGURES},
            "applied_at": self.applied_at,
            "updated_at": self.updated_at,
        }


_LICENSE_STAGES = {
    "denied": "license_denied",
    "approved": "license_approved",
    "requested": "license_pending",
}

_HANDLERS = {
    "LicenseRequested": DealState._on_license_requested,
    "CommerceLicenseApproved": DealState._on_license_approved,
    "CommerceLicenseDenied": DealState._on_license_denied,
    "BoardVoted": DealState._on_board_voted,
    "DealFinanced": DealState._on_deal_financed,
    "FundsDisbursed": DealState._on_funds_disbursed,
    "RepaymentReceived": DealState._on_repayment_received,
    "ClaimPaid": DealState._on_claim_paid,
    "DealCancelled": DealState._on_deal_cancelled,
}

