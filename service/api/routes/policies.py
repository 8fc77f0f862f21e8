"""Policy on the ledger: the adopted versions, and adopting a new one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.program import POLICY_ADOPTED, PROGRAM_ID
from service.api.deps import Admin, LedgerDep, Reader, WriteContext
from service.api.framing import read_json, submit
from service.api.openapi import request_body
from service.api.responses import Envelope, Policies, created, problems
from service.ledger.commands import Command, Rendering
from service.ledger.fields import parse
from service.ledger.payloads import POLICY

router = APIRouter(prefix="/v1/policies", tags=["policies"],
                   responses=problems(401, 403, 422, 503))
EXAMPLE = {
    "id": "2027-01-15", "effective_from": "2027-01-15",
    "embargoed": ["BY", "CU", "IR", "KP", "RU", "SY"],
    "restricted_for_controlled": ["AF", "BY", "CD", "CF", "CN", "CU", "ER", "HK", "HT", "IQ",
                                  "IR", "KH", "KP", "LB", "LY", "MM", "MO", "NI", "RU", "SD",
                                  "SO", "SS", "SY", "VE", "ZW"],
    "controlled_eccn_patterns": ["3A090*", "4A090*", "*.Z"],
    "designated_countries": ["DE", "FR", "GB", "IN", "JP", "KR", "SG"],
    "max_backdating_days": 30,
}


@router.get("", response_model=Policies, summary="Every adopted policy version, and the one "
                                                 "in force today")
async def list_policies(ledger: LedgerDep, _: Reader) -> Response:
    return JSONResponse(await run_in_threadpool(ledger.policies))


@router.post(
    "", status_code=201, response_model=Envelope,
    summary="Adopt a policy version (PolicyAdopted on the program stream)",
    openapi_extra=request_body(POLICY, "PolicyVersion", examples={
        "designating": {"summary": "a version that designates beneficiary destinations",
                        "value": EXAMPLE}}),
    responses={**created(location=True), **problems(409, 413)},
)
async def adopt(request: Request, _: Admin, ledger: LedgerDep, ctx: WriteContext) -> Response:
    raw = await read_json(request)

    def commands() -> list[Command]:
        return [Command(POLICY_ADOPTED, parse(POLICY, raw).version().normal_form(),
                        deal_id=PROGRAM_ID)]

    render = Rendering(201, location="/v1/policies")
    return await submit(request, ledger, ctx, raw, commands, render)
