"""The global log in position order."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from service.deps import LedgerDep, Reader

router = APIRouter(prefix="/v1/events", tags=["log"])


@router.get("", summary="The global log, paged by position")
async def global_log(
    ledger: LedgerDep, _: Reader,
    after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
) -> Response:
    events, next_after = await run_in_threadpool(ledger.log, after, limit)
    return JSONResponse({"events": events, "next_after": next_after})
