"""The payloads the ledger accepts, one ``TypedDict`` per event type (SPEC §2), as a new
post must give them: a type checker refuses an unknown event type, a missing or unknown
field, or a ``float`` amount. They mirror the API's request schemas on purpose (the client
imports nothing of the service); ``tests/unit/test_event_table.py`` checks each against the
OpenAPI document's ``<Type>Data`` schema.

Money and percentages are ``str`` or ``Decimal``: a ``Decimal`` is sent as a string, money
with exactly two places (``Decimal("8500000")`` -> ``"8500000.00"``; a fraction of a cent
is refused, never rounded), a percentage (a key ending in ``_pct``) as a plain decimal
(``Decimal("92.50")`` -> ``"92.5"``). Dates are ``YYYY-MM-DD`` strings.
"""

# No ``from __future__ import annotations``: a TypedDict reads ``NotRequired`` from its
# evaluated annotations (Python 3.11).
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict

Money = str | Decimal
Percent = str | Decimal
Instrument = Literal["insurance", "loan_guarantee", "direct_loan"]
Term = Literal["medium", "long"]
Category = Literal["accelerator", "server", "networking", "storage", "software", "model",
                   "cloud_service", "data_center", "services"]


class Party(TypedDict):
    name: str
    country: str


class Item(TypedDict):
    description: str
    category: Category
    eccn: str
    quantity: int
    value: Money
    classification_ref: NotRequired[str]  # an uncontrolled accelerator's BIS ruling


class LicenseLine(TypedDict):
    eccn: str
    quantity: int
    value: Money


class DealAppliedData(TypedDict):
    application_number: str
    exporter: Party
    buyer: Party
    instrument: Instrument
    term: Term
    contract_value: Money
    financed_amount: Money
    tenor_years: int
    items: list[Item]
    us_content_pct: Percent
    end_user: NotRequired[Party]  # default: the buyer


class DealAmendedData(TypedDict):
    contract_value: NotRequired[Money]
    financed_amount: NotRequired[Money]
    tenor_years: NotRequired[int]
    items: NotRequired[list[Item]]
    us_content_pct: NotRequired[Percent]
    reason: str


class LicenseRequestedData(TypedDict):
    application_ref: str
    eccns: list[str]


class CommerceLicenseApprovedData(TypedDict):
    application_ref: str
    license_number: str
    eccns: list[str]
    valid_until: str
    consignee: Party
    lines: list[LicenseLine]
    conditions: NotRequired[list[str]]


class CommerceLicenseDeniedData(TypedDict):
    application_ref: str
    reason: str


class CommerceLicenseRevokedData(TypedDict):
    license_number: str
    reason: str
    effective_date: NotRequired[str]


class BoardVotedData(TypedDict):
    meeting_date: str
    votes_for: int
    votes_against: int
    abstentions: int
    decision: Literal["approved", "rejected"]
    approved_amount: NotRequired[Money]
    conditions: NotRequired[list[str]]


class CongressionalNotifiedData(TypedDict):
    notified_on: str
    amount: Money
    reference: str


class PartyScreenedData(TypedDict):
    party: Literal["buyer", "end_user"]
    list: str
    list_date: str
    result: Literal["clear", "match"]
    reference: str


class DealFinancedData(TypedDict):
    instrument: Instrument
    amount: Money
    exposure_fee_pct: Percent
    interest_rate_pct: NotRequired[Percent]
    final_maturity_date: str


class FundsDisbursedData(TypedDict):
    amount: Money
    reference: str


class RepaymentReceivedData(TypedDict):
    principal: Money
    interest: Money
    reference: str


class ClaimPaidData(TypedDict):
    amount: Money
    reference: str


class RecoveryReceivedData(TypedDict):
    amount: Money
    reference: str


class EventReversedData(TypedDict):
    version: int
    reason: str
    return_reference: NotRequired[str]


class DealCancelledData(TypedDict):
    reason: str
    amount: NotRequired[Money]


class PolicyVersionData(TypedDict):
    """A policy version as proposed (``propose_policy`` adds its ``authority``)."""

    id: str
    effective_from: str
    embargoed: list[str]
    restricted_for_controlled: list[str]
    controlled_eccn_patterns: list[str]
    designated_countries: NotRequired[list[str] | None]
    max_backdating_days: NotRequired[int]
    congressional_notice_threshold: NotRequired[Money]
    notice_days: NotRequired[int]
    max_license_years: NotRequired[int]
    screening_max_age_days: NotRequired[int]


class ProgramAuthorizedData(TypedDict):
    meeting_date: str
    votes_for: int
    votes_against: int
    abstentions: int
    effective_from: str
    expires_on: NotRequired[str]
    total_limit: Money
    country_limits: NotRequired[dict[str, Money]]


class ProgramSuspendedData(TypedDict):
    reason: str
    effective_from: str


EventPayload = (DealAmendedData | LicenseRequestedData | CommerceLicenseApprovedData
                | CommerceLicenseDeniedData | CommerceLicenseRevokedData | BoardVotedData
                | CongressionalNotifiedData | PartyScreenedData | DealFinancedData
                | FundsDisbursedData | RepaymentReceivedData | ClaimPaidData
                | RecoveryReceivedData | EventReversedData | DealCancelledData)
EventType = Literal[
    "DealAmended", "LicenseRequested", "CommerceLicenseApproved", "CommerceLicenseDenied",
    "CommerceLicenseRevoked", "BoardVoted", "CongressionalNotified", "PartyScreened",
    "DealFinanced", "FundsDisbursed", "RepaymentReceived", "ClaimPaid", "RecoveryReceived",
    "EventReversed", "DealCancelled"]
# each event type's payload, DealApplied's included (posted by ``apply``)
PAYLOADS: dict[str, type] = {
    "DealApplied": DealAppliedData, "DealAmended": DealAmendedData,
    "LicenseRequested": LicenseRequestedData,
    "CommerceLicenseApproved": CommerceLicenseApprovedData,
    "CommerceLicenseDenied": CommerceLicenseDeniedData,
    "CommerceLicenseRevoked": CommerceLicenseRevokedData, "BoardVoted": BoardVotedData,
    "CongressionalNotified": CongressionalNotifiedData, "PartyScreened": PartyScreenedData,
    "DealFinanced": DealFinancedData, "FundsDisbursed": FundsDisbursedData,
    "RepaymentReceived": RepaymentReceivedData, "ClaimPaid": ClaimPaidData,
    "RecoveryReceived": RecoveryReceivedData, "EventReversed": EventReversedData,
    "DealCancelled": DealCancelledData,
}

CENT = Decimal("0.01")


def encode(value: Any, key: str = "") -> Any:
    """``value`` as JSON may hold it: each ``Decimal`` (at any depth) a string, money with
    two places, a percentage (under a key ending in ``_pct``) plain. A ``float`` is refused:
    money is never binary floating point."""
    if isinstance(value, Decimal):
        return percent(value) if key.endswith("_pct") else money(value)
    if isinstance(value, float):
        raise TypeError(f"{key or 'a value'} is a float: give money and percentages as "
                        "str or Decimal")
    if isinstance(value, Mapping):
        return {k: encode(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v, key) for v in value]
    return value


def money(amount: Decimal) -> str:
    """``Decimal("1E+3")`` -> ``"1000.00"``; a fraction of a cent is a ``ValueError``."""
    if not amount.is_finite():
        raise ValueError(f"{amount} is no amount")
    cents = amount.quantize(CENT)
    if cents != amount:
        raise ValueError(f"{amount} has a fraction of a cent")
    return f"{cents:f}"


def percent(pct: Decimal) -> str:
    """``Decimal("92.50")`` -> ``"92.5"``, ``Decimal("1E+2")`` -> ``"100"``."""
    if not pct.is_finite():
        raise ValueError(f"{pct} is no percentage")
    return f"{pct.normalize():f}"
