"""The global log in position order."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from service.api.deps import LedgerDep, Reader
from service.api.params import After, LastEventId, Limit
from service.api.responses import EVENT_STREAM, LogPage, problems

router = APIRouter(prefix="/v1/events", tags=["log"], responses=problems(401, 403, 422, 503))


@router.get("", response_model=LogPage, summary="The global log, paged by position")
async def global_log(ledger: LedgerDep, _: Reader, after: After = 0, limit: Limit = 100
                     ) -> Response:
    events, next_after = await run_in_threadpool(ledger.log, after, limit)
    return JSONResponse({"events": events, "next_after": next_after})


@router.get("/stream", response_class=EventSourceResponse, responses=EVENT_STREAM,
            summary="Server-Sent Events: one per ledger event, id = position")
async def stream(
    request: Request, ledger: LedgerDep, _: Reader, after: After = 0,
    last_event_id: LastEventId = None,
) -> Response:
    start = max(after, last_event_id or 0)
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
