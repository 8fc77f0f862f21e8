"""Deals: apply, post events, read state (with time travel) and streams."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.chain import format_timestamp, parse_timestamp
from service.api import openapi
from service.api.deps import LedgerDep, Reader, Writer
from service.api.framing import expected_version, if_match_version, read_json, render_json, submit
from service.api.problems import ApiProblem
from service.ledger import RFC3339, Command, deal_id_for

router = APIRouter(prefix="/v1/deals", tags=["deals"])
MAX_INT = 2**62
APPLICATION_NUMBER = re.compile(r"[A-Z0-9-]{3,32}", re.ASCII)


def parse_deal_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ApiProblem(404, "not_found", f"no deal with id {raw!r}") from None


def parse_moment(raw: str, field: str) -> Any:
    if not RFC3339.fullmatch(raw):
        raise ApiProblem(422, "validation_error", f"{field} must be an RFC 3339 timestamp",
                         errors=[{"field": field, "message": "RFC 3339 timestamp with offset"}])
    try:
        moment = parse_timestamp(raw)
        format_timestamp(moment)  # representable in UTC
        return moment
    except (ValueError, OverflowError):
        raise ApiProblem(422, "validation_error", f"{field} is not a valid timestamp",
                         errors=[{"field": field, "message": "invalid date or time"}]) from None


@router.post(
    "", status_code=201, summary="Apply for financing (DealApplied)",
    openapi_extra=openapi.request_body(openapi.ref("DealApplication"),
                                       example=openapi.EXAMPLE_APPLICATION),
    responses=openapi.write_responses("the DealApplied event's envelope", "Envelope",
                                      location=True),
)
async def apply(request: Request, ledger: LedgerDep, key: Writer) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiProblem(422, "validation_error", "the body must be a JSON object",
                         errors=[{"field": "body", "message": "must be an object"}])
    data = dict(body)
    occurred_at = data.pop("occurred_at", None)
    command = Command("DealApplied", data, occurred_at=occurred_at, data_path="")
    render = render_json(
        201, lambda envs: envs[0], lambda envs: f"/v1/deals/{envs[0]['deal_id']}"
    )
    return await submit(request, ledger, key, body, [command], render)


EVENT_BODY_KEYS = {"type", "data", "occurred_at", "expected_version"}


@router.post(
    "/{deal_id}/events", status_code=201, summary="Append an event to a deal",
    openapi_extra=openapi.request_body(openapi.ref("EventRequest"), if_match=True),
    responses=openapi.write_responses("the event's envelope", "Envelope", location=True,
                                      extra={404: "no deal with that id"}),
)
async def append(deal_id: str, request: Request, ledger: LedgerDep, key: Writer) -> Response:
    deal = parse_deal_id(deal_id)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiProblem(422, "validation_error", "the body must be a JSON object",
                         errors=[{"field": "body", "message": "must be an object"}])
    unknown = sorted(set(body) - EVENT_BODY_KEYS)
    if unknown:
        raise ApiProblem(422, "validation_error", f"unknown field {unknown[0]!r}",
                         errors=[{"field": k, "message": "unknown field"} for k in unknown])
    version = expected_version(body.get("expected_version"), "expected_version")
    header_version = if_match_version(request)
    if version is not None and header_version is not None and version != header_version:
        raise ApiProblem(422, "validation_error", "If-Match and expected_version disagree",
                         errors=[{"field": "expected_version", "message": "differs from If-Match"}])
    if body.get("type") == "DealApplied":
        raise ApiProblem(422, "validation_error", "DealApplied is posted to /v1/deals",
                         errors=[{"field": "type", "message": "use POST /v1/deals"}])
    command = Command(
        body.get("type"), body.get("data"), deal_id=deal,
        occurred_at=body.get("occurred_at"),
        expected_version=version if version is not None else header_version,
    )
    render = render_json(
        201, lambda envs: envs[0],
        lambda envs: f"/v1/deals/{envs[0]['deal_id']}/events?version={envs[0]['version']}",
    )
    return await submit(request, ledger, key, body, [command], render)


@router.get("/{deal_id}", summary="A deal's derived state (as_of / version time travel)")
async def get_deal(
    deal_id: str, ledger: LedgerDep, _: Reader,
    as_of: str | None = Query(None, description="RFC 3339 timestamp"),
    version: int | None = Query(None, ge=1, le=MAX_INT),
) -> Response:
    deal = parse_deal_id(deal_id)
    moment = parse_moment(as_of, "as_of") if as_of is not None else None
    state = await run_in_threadpool(ledger.deal_state, deal, as_of=moment, version=version)
    return JSONResponse(state, headers={"ETag": f'"{state["version"]}"'})


@router.get("", summary="Look a deal up by application number")
async def lookup(
    ledger: LedgerDep, _: Reader, application_number: str | None = Query(None)
) -> Response:
    if not application_number or not APPLICATION_NUMBER.fullmatch(application_number):
        raise ApiProblem(422, "validation_error", "application_number is required: 3-32 "
                         "characters A-Z, 0-9 and -",
                         errors=[{"field": "application_number", "message": "invalid"}])
    state = await run_in_threadpool(ledger.deal_state, deal_id_for(application_number))
    return JSONResponse(state, headers={"ETag": f'"{state["version"]}"'})


@router.get("/{deal_id}/events", summary="A deal's event stream")
async def deal_events(deal_id: str, ledger: LedgerDep, _: Reader) -> Response:
    deal = parse_deal_id(deal_id)
    events = await run_in_threadpool(ledger.deal_events, deal)
    return JSONResponse({"events": events})
