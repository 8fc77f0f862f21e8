"""Deals: apply, post events, read state (with time travel) and streams."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from service.api.deal_models import ETAG, Deal
from service.api.deps import LedgerDep, Poster, Reader, WriteContext
from service.api.desks import APPLIED, ON_A_DEAL, one_event, permit, read_post
from service.api.framing import read_json, submit
from service.api.openapi import request_body
from service.api.params import AsOf, DealId, IfMatch, LookupNumber, Version
from service.api.problems import ApiProblem
from service.api.responses import Envelope, Events, created, problems
from service.ledger.commands import Command, Rendering, deal_id_for
from service.ledger.fields import parse
from service.ledger.payloads import DEAL_APPLICATION, EVENT_REQUEST

router = APIRouter(prefix="/v1/deals", tags=["deals"], responses=problems(401, 403, 422, 503))
WRITE_PROBLEMS = problems(409, 413)
EXAMPLE_APPLICATION = {
    "application_number": "EXIM-000123",
    "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
    "buyer": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
    "instrument": "loan_guarantee", "term": "medium", "contract_value": "10000000.00",
    "financed_amount": "8500000.00", "tenor_years": 5, "us_content_pct": "85",
    "items": [{"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
               "quantity": 64, "value": "8000000.00"},
              {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
               "quantity": 8, "value": "2000000.00"}],
}


@router.post(
    "", status_code=201, response_model=Envelope, summary="Apply for financing (DealApplied)",
    openapi_extra=request_body(DEAL_APPLICATION, "DealApplication", APPLIED, examples={
        "application": {"summary": "an application", "value": EXAMPLE_APPLICATION}}),
    responses={**created(location=True), **WRITE_PROBLEMS},
)
async def apply(request: Request, ledger: LedgerDep, key: Poster, ctx: WriteContext
                ) -> Response:
    permit(key, [(None, "DealApplied")], APPLIED)  # the path names the type
    raw = await read_json(request)
    render = Rendering(201, location="/v1/deals/{deal_id}")
    return await submit(request, ledger, ctx, raw,
                        lambda: [parse(DEAL_APPLICATION, raw).command()], render)


@router.post(
    "/{deal_id}/events", status_code=201, response_model=Envelope,
    summary="Append an event to a deal",
    openapi_extra=request_body(EVENT_REQUEST, "EventRequest", ON_A_DEAL),
    responses={**created(location=True), **WRITE_PROBLEMS, **problems(404)},
)
async def append(
    request: Request, ledger: LedgerDep, key: Poster, ctx: WriteContext, deal: DealId,
    if_match: IfMatch = None,
) -> Response:
    raw = await read_post(request, key)

    def commands() -> list[Command]:
        permit(key, one_event(raw), ON_A_DEAL)
        body = parse(EVENT_REQUEST, raw)
        if if_match is not None and body.expected_version not in (None, if_match):
            raise ApiProblem(422, "validation_error", "If-Match and expected_version disagree",
                             errors=[{"field": "expected_version",
                                      "message": "differs from If-Match"}])
        version = body.expected_version if body.expected_version is not None else if_match
        return [replace(body.command(deal_id=deal), expected_version=version)]

    render = Rendering(201, location="/v1/deals/{deal_id}/events?version={version}")
    return await submit(request, ledger, ctx, raw, commands, render)


@router.get("/{deal_id}", response_model=Deal, responses={**ETAG, **problems(404)},
            summary="A deal's derived state (as_of / version time travel)")
async def get_deal(
    ledger: LedgerDep, _: Reader, deal: DealId, as_of: AsOf = None, version: Version = None,
) -> Response:
    state = await run_in_threadpool(ledger.deal_state, deal, as_of=as_of, version=version)
    return JSONResponse(state, headers={"ETag": f'"{state["version"]}"'})


@router.get("", response_model=Deal, responses={**ETAG, **problems(404)},
            summary="Look a deal up by application number")
async def lookup(ledger: LedgerDep, _: Reader, application_number: LookupNumber) -> Response:
    state = await run_in_threadpool(ledger.deal_state, deal_id_for(application_number))
    return JSONResponse(state, headers={"ETag": f'"{state["version"]}"'})


@router.get("/{deal_id}/events", response_model=Events, responses=problems(404),
            summary="A deal's event stream")
async def deal_events(ledger: LedgerDep, _: Reader, deal: DealId) -> Response:
    events = await run_in_threadpool(ledger.deal_events, deal)
    return JSONResponse({"events": events})
