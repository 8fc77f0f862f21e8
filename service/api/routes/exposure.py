"""The exposure ledger: program balances, and one deal's postings and balances."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from projections import exposure
from service.api.deps import Reader
from service.api.freshness import ensure_fresh, reading
from service.api.params import DealId, MinPosition
from service.api.responses import DealExposure, ProgramExposure, problems

router = APIRouter(prefix="/v1/exposure", tags=["exposure ledger"],
                   responses=problems(401, 403, 422, 503))


@router.get("", response_model=ProgramExposure, responses=problems(409),
            summary="Program accounts, the deals' accounts summed by kind (deal:*:outstanding), "
                    "and the reconciliation with the portfolio",
            description="Every posting is in one listed account: the listed debits and "
                        "credits add up to the reconciliation's, and the balances of "
                        "deal:*:undisbursed and deal:*:outstanding to its ledger_exposure.")
async def program(request: Request, _: Reader, min_position: MinPosition = None) -> Response:
    await ensure_fresh(request, ["exposure"], min_position)
    r = reading(request)

    def read() -> dict[str, Any]:
        with r.engine.connect() as conn:
            t, position = r.active(conn, "exposure")
            accounts = exposure.program_accounts(conn, t)
        return {"position": position, "accounts": accounts,
                "reconciliation": r.reconcile()}

    return JSONResponse(await run_in_threadpool(read))


@router.get("/deals/{deal_id}", response_model=DealExposure, responses=problems(404, 409),
            summary="One deal's double-entry postings and balances")
async def deal(
    request: Request, _: Reader, deal: DealId, min_position: MinPosition = None,
) -> Response:
    deal_uuid = str(deal)
    await ensure_fresh(request, ["exposure"], min_position)
    r = reading(request)

    def read() -> dict[str, Any]:
        with r.engine.connect() as conn:
            t, position = r.active(conn, "exposure")
            return {"deal_id": deal_uuid, "position": position,
                    "balances": exposure.deal_balances(conn, t, deal_uuid),
                    "postings": exposure.deal_postings(conn, t, deal_uuid)}

    return JSONResponse(await run_in_threadpool(read))
