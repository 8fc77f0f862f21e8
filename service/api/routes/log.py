"""The global log in position order."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from service.api.deps import LedgerDep, Reader
from service.api.framing import DIGITS
from service.api.problems import ApiProblem

router = APIRouter(prefix="/v1/events", tags=["log"])


@router.get("", summary="The global log, paged by position")
async def global_log(
    ledger: LedgerDep, _: Reader,
    after: int = Query(0, ge=0, le=2**62), limit: int = Query(100, ge=1, le=1000),
) -> Response:
    events, next_after = await run_in_threadpool(ledger.log, after, limit)
    return JSONResponse({"events": events, "next_after": next_after})


@router.get("/stream", summary="Server-Sent Events: one per ledger event, id = position")
async def stream(
    request: Request, ledger: LedgerDep, _: Reader,
    after: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    last_id = request.headers.get("last-event-id")
    start = after or 0
    if last_id is not None and last_id.strip():
        if not DIGITS.fullmatch(last_id.strip()):
            raise ApiProblem(422, "validation_error", "Last-Event-ID must be a position this "
                             "stream sent", errors=[{"field": "header:Last-Event-ID",
                                                     "message": "not a position"}])
        start = max(start, int(last_id.strip()))
    wake: asyncio.Event = request.app.state.feed_wake

    async def events() -> AsyncIterator[dict[str, str]]:
        position = start
        while True:
            page = await run_in_threadpool(ledger.store.select_log, position, 500)
            for ev in page:
                position = ev["position"]
                yield {"id": str(position), "event": ev["type"],
                       "data": json.dumps(ev, ensure_ascii=False)}
            if len(page) == 500:
                continue
            if await request.is_disconnected():
                return
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=0.5)

    return EventSourceResponse(events(), ping=15)
