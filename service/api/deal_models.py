"""A deal's derived state as the API shows it (SPEC "Derived deal state")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import MISSING, BaseModel, Field

from service.api.responses import Amount, Cursor, Responses


class Counterparty(BaseModel):
    name: str
    country: str


class DealItem(BaseModel):
    description: str
    category: str
    eccn: str
    quantity: int
    value: Amount


class Revocation(BaseModel):
    effective_date: date
    reason: str


class LicenseLine(BaseModel):
    eccn: str
    quantity: int
    value: Amount


class License(BaseModel):
    application_ref: str
    eccns: list[str]
    requested_eccns: list[str]
    status: Literal["requested", "approved", "denied"]
    license_number: str | MISSING = MISSING
    valid_until: date | MISSING = MISSING
    conditions: list[str] | MISSING = MISSING
    reason: str | MISSING = MISSING
    revoked: Revocation | MISSING = Field(MISSING, description="covers nothing from then on")
    consignee: Counterparty | MISSING = Field(MISSING, description="v3: the end user")
    lines: list[LicenseLine] | MISSING = Field(
        MISSING, description="v3: what it covers of each ECCN; a license approved before v3 "
                             "has none and covers its ECCNs without a limit")


class Screening(BaseModel):
    party: Literal["buyer", "end_user"]
    list: str
    list_date: date
    result: Literal["clear", "match"]
    reference: str
    version: int = Field(description="the deal version that recorded it")


class Amendment(BaseModel):
    changed: list[str]
    reason: str


ETAG: Responses = {200: {"headers": {"ETag": {
    "description": 'the deal\'s version, like "3"', "schema": {"type": "string"}}}}}


class Deal(BaseModel):
    """A deal's derived state (SPEC "Derived deal state")."""

    deal_id: UUID
    application_number: str
    version: int
    stage: str = Field(description="the first that holds of SPEC's stage table")
    license_status: Literal["not_required", "required", "requested", "approved",
                            "partially_approved", "expired", "denied", "revoked"]
    board_status: Literal["pending", "approved", "rejected", "stale"]
    exporter: Counterparty
    buyer: Counterparty
    buyer_country: str
    end_user: Counterparty = Field(description="the buyer unless the application named another")
    screenings: dict[str, list[Screening]] = Field(
        description="by party (buyer, and end_user when another): the latest screening "
                    "against each list")
    instrument: str
    term: str
    tenor_years: int
    contract_value: Amount
    us_content_pct: str | None
    eccns: list[str]
    controlled_eccns: list[str]
    categories: list[str]
    items: list[DealItem] = Field(description="the current items, as amended")
    amendments: list[Amendment]
    licenses: list[License]
    board_vote: dict[str, Any] | None = Field(description="the latest BoardVoted data")
    board_terms: dict[str, Any] | None = Field(
        description="what the latest approval covered: financed_amount, tenor_years and the "
                    "quantity of each ECCN; board_status is stale once the terms go beyond")
    meeting_dates: list[str] = Field(description="the board meetings the deal holds votes of")
    congressional_notice: dict[str, Any] | None = Field(
        description="the latest CongressionalNotified data")
    financing: dict[str, Any] | None = Field(description="the DealFinanced data")
    closed: bool
    financed: bool
    cancellation_reason: str | None
    requested: Amount
    approved: Amount
    committed: Amount
    disbursed: Amount
    principal_repaid: Amount
    interest_received: Amount
    claims_paid: Amount
    recovered: Amount
    cancelled: Amount
    outstanding: Amount
    undisbursed: Amount
    exposure: Amount
    reversed_versions: list[int] = Field(description="money events reversed: they no longer "
                                                     "count")
    policy_version: str = Field(description="the version of the deal's latest event, which "
                                            "controlled_eccns and license_status are judged by")
    latest_occurred_at: datetime = Field(description="the greatest occurred_at of its events")
    applied_occurred_at: datetime | None = Field(
        description="the DealApplied's occurred_at: the deal's business date, which the "
                    "list's occurred_from and occurred_to filter on")
    applied_at: datetime | None
    updated_at: datetime | None


class DealPage(BaseModel):
    deals: list[Deal]
    next_cursor: Cursor
    position: int
