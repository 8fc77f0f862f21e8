"""The query, path and header parameters routes share: one spelling and one check each."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, Header, Path, Query
from pydantic import BeforeValidator, WithJsonSchema

from domain.events import EVENT_TYPES
from domain.stages import LICENSE_STATUSES, STAGES
from service.api.problems import ApiProblem
from service.ledger.fields import (
    ApplicationNumber,
    Category,
    Country,
    Instrument,
    Term,
    Timestamp,
    anchored,
    refuse,
)

MAX_POSITION = 2**62  # positions, versions and cursors stay far inside 64-bit columns
DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
HEADER_TEXT = re.compile(r"[\x21-\x7e][\x20-\x7e]*", re.ASCII)
NO_NUL = re.compile(r"[^\x00]*")
IF_MATCH = re.compile(r'"([0-9]{1,18})"|([0-9]{1,18})', re.ASCII)


async def _deal_id(deal_id: Annotated[str, Path(description="the deal's id, a UUID",
                                           json_schema_extra={"format": "uuid"})]) -> UUID:
    try:
        return UUID(deal_id)
    except ValueError:
        raise ApiProblem(404, "not_found", f"no deal with id {deal_id!r}") from None


def _cursor(value: str) -> int:
    if not DIGITS.fullmatch(value):
        refuse("is not a cursor this API returned")
    return int(value)


def _one_of(values: tuple[str, ...]) -> tuple[BeforeValidator, WithJsonSchema]:
    """A string that is one of ``values`` (names the domain keeps in a tuple, which a
    ``Literal`` cannot be spelled from), worded as pydantic words a ``Literal``'s error."""
    allowed = frozenset(values)
    listed = ", ".join(f'"{value}"' for value in values)

    def check(value: object) -> object:
        if not (isinstance(value, str) and value in allowed):
            refuse(f"must be one of {listed}")
        return value

    return BeforeValidator(check), WithJsonSchema({"type": "string", "enum": list(values)})


def _header_text(max_len: int) -> tuple[BeforeValidator, WithJsonSchema]:
    def check(value: str) -> str:
        if not (1 <= len(value) <= max_len and HEADER_TEXT.fullmatch(value)):
            refuse(f"must be 1-{max_len} printable ASCII characters")
        return value

    return BeforeValidator(check), WithJsonSchema({
        "type": "string", "minLength": 1, "maxLength": max_len, "pattern": anchored(HEADER_TEXT)})


def _last_event_id(value: str) -> int | None:
    if not value.strip():
        return None  # nothing to resume from
    if not DIGITS.fullmatch(value.strip()):
        refuse("is not a position this stream sent")
    return int(value)


def _if_match(value: str) -> int:
    match = IF_MATCH.fullmatch(value.strip())
    if not match:
        refuse('must be a deal version like "3"')
    return int(match.group(1) or match.group(2))


# A malformed deal id in a path names no deal: 404, like an unknown one.
DealId = Annotated[UUID, Depends(_deal_id)]
DealIdFilter = Annotated[UUID | None, Query(description="only this deal")]
MinPosition = Annotated[int | None, Query(
    ge=0, le=MAX_POSITION, description="read-your-writes: wait up to 5 s for the projection "
    "to reach this position, else 503 projection_behind; a position beyond the log's head is "
    "409 position_not_reached at once")]
AsOf = Annotated[Timestamp | None, Query(
    description="RFC 3339: the answer as the ledger knew it at this moment")]
From = Annotated[Timestamp | None, Query(alias="from", description="recorded at or after")]
To = Annotated[Timestamp | None, Query(description="recorded at or before")]
After = Annotated[int, Query(ge=0, le=MAX_POSITION, description="the last position seen")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[int | None, BeforeValidator(_cursor), WithJsonSchema({
    "type": "string", "pattern": anchored(DIGITS)}), Query(
    description="next_cursor of the previous page")]
Version = Annotated[int | None, Query(ge=1, le=MAX_POSITION,
                                     description="the deal as of this version")]
LookupNumber = Annotated[ApplicationNumber, Query()]
# Free text that matches stored text: no stored text holds NUL (see ``clean_query``).
Filter = Annotated[str | None, Query(pattern=anchored(NO_NUL))]
EventId = Annotated[UUID, Query(description="the event's id")]
# Filters on a closed set of values: any other value is refused, never an empty answer.
Stage = Annotated[str, *_one_of(STAGES)]
LicenseStatus = Annotated[str, *_one_of(LICENSE_STATUSES)]
EventType = Annotated[str, *_one_of(tuple(EVENT_TYPES))]
StageFilter = Annotated[Stage | None, Query(description="only deals at this stage")]
CountryFilter = Annotated[Country | None, Query(description="only deals with a buyer there")]
InstrumentFilter = Annotated[Instrument | None, Query(description="only deals of this instrument")]
TermFilter = Annotated[Term | None, Query(description="only deals of this term")]
CategoryFilter = Annotated[Category | None, Query(
    description="only deals with an item of this category")]
LicenseStatusFilter = Annotated[LicenseStatus | None, Query(
    description="only deals whose license_status is this")]
EventTypeFilter = Annotated[EventType | None, Query(description="only events of this type")]
# json pages; jsonl and csv stream every row the filters select
ExportFormat = Literal["json", "jsonl", "csv"]
SearchText = Annotated[str | None, Query(
    min_length=1, max_length=100, pattern=anchored(re.compile(r"[^\x00-\x1f]+")),
    description="only deals whose application number, buyer's name or end user's name "
                "holds this text, without regard to case")]
OccurredFrom = Annotated[Timestamp | None, Query(
    description="only deals applied for (business time: DealApplied's occurred_at) at or "
                "after this moment")]
OccurredTo = Annotated[Timestamp | None, Query(
    description="only deals applied for (business time) before this moment")]

IdempotencyKey = Annotated[str | None, *_header_text(128), Header(
    alias="Idempotency-Key", description="the same key with the same body returns the "
    "original response (Idempotency-Replayed: true); with another body, 409 "
    "idempotency_key_reused")]
SourceSystem = Annotated[str | None, *_header_text(200), Header(
    alias="X-Source-System", description="stored as the events' source")]
CorrelationId = Annotated[str | None, *_header_text(200), Header(
    alias="X-Correlation-ID", description="stored as the events' correlation_id")]
IfMatch = Annotated[int | None, BeforeValidator(_if_match), WithJsonSchema({
    "type": "string", "pattern": anchored(IF_MATCH)}), Header(
    alias="If-Match", description='the deal version expected, like "3": the same as '
    "expected_version, which must agree with it when both are given")]
LastEventId = Annotated[int | None, BeforeValidator(_last_event_id), WithJsonSchema({
    "type": "string", "pattern": anchored(DIGITS)}), Header(
    alias="Last-Event-ID", description="resume after this position (SSE reconnection)")]
