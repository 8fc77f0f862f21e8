"""Licenses as the API shows them (SPEC v3, ``GET /v1/licenses/{number}``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field

from service.api.deal_models import Counterparty
from service.api.responses import Amount, Cursor

Validity = Literal["valid", "expired", "revoked"]
ValidityFilter = Annotated[Validity | None, Query(
    description="only licenses with this status today (UTC)")]


class LicenseLine(BaseModel):
    eccn: str
    quantity: int
    value: Amount


class ApprovedLicense(BaseModel):
    """An approved Commerce license, its status judged today (UTC)."""

    license_number: str = Field(description="upper case")
    deal_id: UUID
    application_ref: str
    eccns: list[str]
    consignee: Counterparty | None = Field(description="null for a license approved before v3")
    lines: list[LicenseLine] | None = Field(
        description="null for a license approved before v3: it covers its ECCNs without a "
                    "quantity or value limit")
    valid_until: date
    status: Validity = Field(description="revoked from revoked_from on; else expired after "
                                         "valid_until; else valid")
    revoked_from: date | None = Field(description="the revocation's effective date, if any")


class LicensePage(BaseModel):
    licenses: list[ApprovedLicense] = Field(description="in the order they were approved")
    next_cursor: Cursor
    position: int = Field(description="the last event the listing reflects")
