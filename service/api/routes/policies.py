"""Policy on the ledger, four eyes (SPEC v3): the versions adopted and proposed; a version
proposed by one admin, adopted by another, or withdrawn."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.program import POLICY_ADOPTED, POLICY_PROPOSED, POLICY_WITHDRAWN, PROGRAM_ID
from service.api.deps import Admin, LedgerDep, Reader, WriteContext
from service.api.framing import read_json, submit
from service.api.openapi import request_body
from service.api.program_models import Policies
from service.api.responses import Envelope, created, problems
from service.ledger.commands import Command, Rendering
from service.ledger.fields import parse
from service.ledger.payloads import POLICY_DECISION, POLICY_PROPOSAL

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
    "authority": "Board resolution 2027-004",
}
PolicyId = Annotated[str, Path(description="the proposed version's id", max_length=200)]


@router.get("", response_model=Policies,
            summary="Every adopted policy version, the one in force today, and the proposals "
                    "pending approval")
async def list_policies(ledger: LedgerDep, _: Reader) -> Response:
    return JSONResponse(await run_in_threadpool(ledger.policies))


@router.post(
    "", status_code=201, response_model=Envelope,
    summary="Propose a policy version (PolicyProposed on the program stream); another admin "
            "adopts it",
    openapi_extra=request_body(POLICY_PROPOSAL, "PolicyProposal", [POLICY_PROPOSED], examples={
        "designating": {"summary": "a version that designates beneficiary destinations",
                        "value": EXAMPLE}}),
    responses={**created(location=True), **problems(409, 413)},
)
async def propose(request: Request, _: Admin, ledger: LedgerDep, ctx: WriteContext) -> Response:
    raw = await read_json(request)

    def commands() -> list[Command]:
        return [Command(POLICY_PROPOSED, parse(POLICY_PROPOSAL, raw).data(),
                        deal_id=PROGRAM_ID)]

    return await submit(request, ledger, ctx, raw, commands,
                        Rendering(201, location="/v1/policies"))


async def _decide(request: Request, ledger: LedgerDep, ctx: WriteContext, policy_id: str,
                  type_name: str, approval: bool) -> Response:
    raw = await read_json(request)

    def commands() -> list[Command]:
        body = parse(POLICY_DECISION, raw).model_dump()
        return [Command(type_name, {"id": policy_id, **body}, deal_id=PROGRAM_ID,
                        approval=approval)]

    return await submit(request, ledger, ctx, raw, commands,
                        Rendering(201, location="/v1/policies"))


@router.post(
    "/{policy_id}/approval", status_code=201, response_model=Envelope,
    summary="Approve a pending proposal: another admin than its proposer adopts it "
            "(PolicyAdopted)",
    openapi_extra=request_body(POLICY_DECISION, "PolicyDecision", [POLICY_ADOPTED]),
    responses={**created(location=True), **problems(404, 409, 413)},
)
async def approve(request: Request, _: Admin, ledger: LedgerDep, ctx: WriteContext,
                  policy_id: PolicyId) -> Response:
    return await _decide(request, ledger, ctx, policy_id, POLICY_ADOPTED, True)


@router.post(
    "/{policy_id}/withdrawal", status_code=201, response_model=Envelope,
    summary="Withdraw a pending proposal (PolicyWithdrawn): its id and date are free again",
    openapi_extra=request_body(POLICY_DECISION, "PolicyDecision", [POLICY_WITHDRAWN]),
    responses={**created(location=True), **problems(404, 409, 413)},
)
async def withdraw(request: Request, _: Admin, ledger: LedgerDep, ctx: WriteContext,
                   policy_id: PolicyId) -> Response:
    return await _decide(request, ledger, ctx, policy_id, POLICY_WITHDRAWN, False)
