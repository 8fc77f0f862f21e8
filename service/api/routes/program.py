"""The program itself (SPEC v3): the board's authorization and suspension, and the
committed totals against the limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.program import PROGRAM_AUTHORIZED, PROGRAM_ID, PROGRAM_SUSPENDED
from service.api.deps import LedgerDep, Reader, permit
from service.api.framing import read_json, submit
from service.api.openapi import request_body
from service.api.program_models import ProgramStatus
from service.api.responses import Envelope, created, problems
from service.ledger.commands import Command, Context, Rendering
from service.ledger.fields import parse
from service.ledger.payloads import PROGRAM_AUTHORIZATION, PROGRAM_SUSPENSION

router = APIRouter(prefix="/v1/program", tags=["program"],
                   responses=problems(401, 403, 422, 503))
Authorizing = Annotated[Context, permit(PROGRAM_AUTHORIZED)]
Suspending = Annotated[Context, permit(PROGRAM_SUSPENDED)]
AUTHORIZATION = {"meeting_date": "2026-12-01", "votes_for": 4, "votes_against": 1,
                 "abstentions": 0, "effective_from": "2026-12-01", "expires_on": "2031-11-30",
                 "total_limit": "5000000000.00",
                 "country_limits": {"IN": "1000000000.00", "AE": "750000000.00"}}


@router.get("", response_model=ProgramStatus,
            summary="The authorization in force, and the committed totals against its limits")
async def status(ledger: LedgerDep, _: Reader) -> Response:
    return JSONResponse(await run_in_threadpool(ledger.program_status))


async def _post(request: Request, ledger: LedgerDep, ctx: Context, type_name: str,
                adapter: object) -> Response:
    raw = await read_json(request)

    def commands() -> list[Command]:
        return [Command(type_name, parse(adapter, raw).model_dump(),  # type: ignore[arg-type]
                        deal_id=PROGRAM_ID)]

    return await submit(request, ledger, ctx, raw, commands,
                        Rendering(201, location="/v1/program"))


@router.post(
    "/authorizations", status_code=201, response_model=Envelope,
    summary="The board authorizes the program (ProgramAuthorized), with its limits",
    openapi_extra=request_body(
        PROGRAM_AUTHORIZATION, "ProgramAuthorization", [PROGRAM_AUTHORIZED], examples={
            "five billion": {"summary": "five years, with two country limits",
                             "value": AUTHORIZATION}}),
    responses={**created(location=True), **problems(409, 413)},
)
async def authorize(request: Request, ledger: LedgerDep, ctx: Authorizing) -> Response:
    return await _post(request, ledger, ctx, PROGRAM_AUTHORIZED, PROGRAM_AUTHORIZATION)


@router.post(
    "/suspensions", status_code=201, response_model=Envelope,
    summary="The board suspends the program from a date (ProgramSuspended)",
    openapi_extra=request_body(PROGRAM_SUSPENSION, "ProgramSuspension", [PROGRAM_SUSPENDED]),
    responses={**created(location=True), **problems(409, 413)},
)
async def suspend(request: Request, ledger: LedgerDep, ctx: Suspending) -> Response:
    return await _post(request, ledger, ctx, PROGRAM_SUSPENDED, PROGRAM_SUSPENSION)
