"""Response bodies for the OpenAPI document: what each route returns, exactly as it is.

Routes answer with ``JSONResponse``s of plain dicts, so these models describe and never
filter or re-validate. Every 4xx (and 503) is an RFC 9457 ``Problem``.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import MISSING, BaseModel, ConfigDict, Field

from service.api.openapi import REF
from service.api.problems import MEDIA_TYPE

Responses = dict[int | str, dict[str, Any]]  # a route's ``responses=``
Amount = Annotated[str, Field(description="USD with exactly 2 decimal places",
                              examples=["1250000.00"])]
Hex = Annotated[str, Field(pattern="^[0-9a-f]*$")]
Cursor = Annotated[str | None, Field(description="pass as cursor for the next page; null at "
                                                 "the end")]


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; some problems carry more members (e.g. min_position)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(json_schema_extra={"format": "uri"})
    title: str
    status: int
    detail: str
    code: str = Field(description="a rule code, or validation_error, version_conflict, "
                                  "idempotency_key_reused, not_found, projection_behind, ...")
    errors: list[FieldError] | MISSING = Field(MISSING, description="validation_error: "
                                                                    "one per bad field")
    index: int | MISSING = Field(MISSING, description="batches: the item that failed")
    current_version: int | MISSING = Field(MISSING, description="version_conflict")
    event_type: str | MISSING = Field(MISSING, description="event_not_permitted: the type "
                                                           "posted")
    role: str | MISSING = Field(MISSING, description="event_not_permitted: the key's role, "
                                                     "which may not post it")


_PROBLEMS = {
    401: "no valid API key (Authorization: Bearer <key>): unauthorized",
    403: "the key's role may not do this: forbidden; event_not_permitted when it may not "
         "post the event type (SPEC Desks: with event_type and role); role_not_grantable "
         "for an admin, licensing or board key asked of POST /v1/keys",
    404: "not_found",
    409: "idempotency_key_reused, duplicate_application or version_conflict; on a read, "
         "position_not_reached (min_position beyond the log's head) or tree_size_not_reached",
    413: "payload_too_large",
    422: "validation_error, with errors naming each bad field; on a write, also the "
         "business rule violated (its code)",
    503: "database_unavailable, or projection_behind for min_position (Retry-After)",
}


def problems(*statuses: int) -> Responses:
    """``responses=`` documenting each status as a problem+json ``Problem``."""
    return {status: {"description": _PROBLEMS.get(status, HTTPStatus(status).phrase),
                     "content": {MEDIA_TYPE: {"schema": {"$ref": REF + "Problem"}}}}
            for status in statuses}


def created(*, location: bool) -> Responses:
    """``responses=`` for the 201 of a write: its headers."""
    headers = {
        "Idempotency-Replayed": {"description": "true when this replays an earlier response",
                                 "schema": {"type": "string", "enum": ["true"]}},
        "X-Ledger-Position": {"description": "the position of the last event written",
                              "schema": {"type": "integer"}},
    }
    if location:
        headers["Location"] = {"description": "the new resource", "schema": {"type": "string"}}
    return {201: {"headers": headers}}


# --- events --------------------------------------------------------------------------------


class Envelope(BaseModel):
    """SPEC §3. hash = SHA-256 of the canonical JSON of deal_id, version, type, data,
    occurred_at, recorded_at, actor, source and prev_hash."""

    event_id: UUID
    deal_id: UUID
    version: int
    position: int
    type: str
    data: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    source: str | None
    correlation_id: str | None
    idempotency_key: str | None
    policy_version: str
    prev_hash: Hex | None
    hash: Hex


class Events(BaseModel):
    events: list[Envelope]


EVENT_STREAM: Responses = {200: {
    "description": "one Server-Sent Event per ledger event: id = position, event = type, "
                   "data = the envelope",
    "content": {"text/event-stream": {"schema": {  # the schema of each event
        "type": "object", "required": ["id", "event", "data"], "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "event": {"type": "string"},
            "data": {"type": "string", "contentMediaType": "application/json",
                     "contentSchema": {"$ref": REF + "Envelope"}}}}}}}}


class LogPage(Events):
    next_after: int = Field(description="pass as after for the next page")


# --- deals ---------------------------------------------------------------------------------


# --- projections ---------------------------------------------------------------------------


class Figures(BaseModel):
    deals: int
    requested: Amount
    approved: Amount
    committed: Amount
    disbursed: Amount
    outstanding: Amount
    exposure: Amount
    claims_paid: Amount
    recovered: Amount


class CountryFigures(Figures):
    country: str


class InstrumentFigures(Figures):
    instrument: str


class TermFigures(Figures):
    term: str


class CategoryFigures(BaseModel):
    category: str
    deals: int = Field(description="deals with an item of this category")
    item_value: Amount


class LicenseStatusCount(BaseModel):
    license_status: str
    deals: int
    financed: int = Field(description="how many of them were financed (DealFinanced)")
    exposure: Amount


class StageLicenseCount(BaseModel):
    stage: str
    license_status: str
    deals: int


class LicenseStatusCounts(BaseModel):
    position: int = Field(description="the last event it reflects")
    by_license_status: list[LicenseStatusCount]
    by_stage: list[StageLicenseCount] = Field(
        description="deals by stage and license status: a financed deal whose license was "
                    "revoked or expired keeps its stage and shows here")


class Portfolio(BaseModel):
    position: int = Field(description="the last event it reflects")
    totals: Figures
    by_stage: dict[str, int] = Field(description="each stage's deal count")
    by_country: list[CountryFigures]
    by_instrument: list[InstrumentFigures]
    by_term: list[TermFigures]
    by_category: list[CategoryFigures]
    as_of: datetime | MISSING = Field(MISSING, description="with ?as_of: that moment")


class Reconciliation(BaseModel):
    position: int
    debits: Amount
    credits: Amount
    balanced: bool
    ledger_exposure: Amount
    ledger_committed: Amount
    portfolio_exposure: Amount | MISSING = MISSING
    portfolio_committed: Amount | MISSING = MISSING
    ok: bool
    detail: str | MISSING = Field(MISSING, description="why figures were not compared")


class Account(BaseModel):
    account: str
    debit: Amount
    credit: Amount
    balance: Amount


class ProgramExposure(BaseModel):
    position: int
    accounts: list[Account]
    reconciliation: Reconciliation


class Posting(BaseModel):
    position: int
    entry: int
    kind: str
    account: str
    debit: Amount
    credit: Amount
    recorded_at: datetime


class DealExposure(BaseModel):
    deal_id: UUID
    position: int
    balances: dict[str, Amount] = Field(description="account (authorised, undisbursed, "
                                                    "outstanding) -> balance")
    postings: list[Posting]


class ProjectionStatus(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    status: str
    last_error: str | None
    slot: str
    updated_at: datetime | None


class Projections(BaseModel):
    projections: list[ProjectionStatus]
    reconciliation: Reconciliation


class Rebuilt(BaseModel):
    name: str
    position: int
    status: Literal["rebuilt"]


# --- audit and integrity -------------------------------------------------------------------


class AuditEntry(BaseModel):
    position: int
    event_id: UUID
    deal_id: UUID
    version: int
    type: str
    actor: str
    source: str | None
    correlation_id: str | None
    recorded_at: datetime
    occurred_at: datetime
    summary: str
    hash: Hex


class DealTrail(BaseModel):
    deal_id: UUID
    entries: list[AuditEntry]


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: Cursor


class RefusalRecord(BaseModel):
    recorded_at: datetime
    actor: str
    role: str
    source: str | None
    request_id: str | None
    deal_id: str | None
    application_number: str | None
    event_type: str | None
    code: str
    detail: str
    policy_version: str | None
    body_sha256: Hex | None = Field(description="SHA-256 of the raw request body; null when "
                                                "the body was not read whole")


class RefusalPage(BaseModel):
    refusals: list[RefusalRecord]
    next_cursor: Cursor


DEAL_EXPORTS: Responses = {200: {"content": {
    "application/x-ndjson": {"schema": {
        "type": "string", "description": "format=jsonl: one Deal per line"}},
    "text/csv": {"schema": {
        "type": "string", "description": "format=csv: a header row, then one row per deal"}},
}}}
AUDIT_EXPORTS: Responses = {200: {"content": {
    "application/x-ndjson": {"schema": {
        "type": "string", "description": "format=jsonl: one AuditEntry per line"}},
    "text/csv": {"schema": {
        "type": "string", "description": "format=csv: a header row, then one row per entry"}},
}}}


class Failure(BaseModel):
    deal_id: str | None
    version: int | None
    position: int | None
    reason: str
    detail: str


class Verification(BaseModel):
    ok: bool
    events_checked: int
    failures: list[Failure]
    failures_total: int
    truncated: bool = Field(description="more failures than listed")


class Digest(BaseModel):
    """Ed25519 signature over the canonical JSON of the other fields."""

    tree_size: int
    root: Hex
    position: int
    signed_at: datetime
    key_id: str
    signature: str


class PublicKey(BaseModel):
    key_id: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="base64 of the raw 32-byte key")


class InclusionProof(BaseModel):
    leaf_index: int = Field(description="0-based")
    tree_size: int
    audit_path: list[Hex]
    root: Hex


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[Hex]
    first_root: Hex
    second_root: Hex


class Status(BaseModel):
    status: str
    detail: str | MISSING = MISSING
