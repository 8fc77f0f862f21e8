"""Refusals on record (issue 19): the writes refused to authenticated keys, for auditors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.chain import format_timestamp
from service import refusals
from service.api.deps import Auditor
from service.api.params import Cursor, EventTypeFilter, Filter, From, Limit, To
from service.api.responses import RefusalPage, problems

router = APIRouter(prefix="/v1/refusals", tags=["audit"],
                   responses=problems(401, 403, 422, 503))
FLUSH_SECONDS = 5.0  # read-your-writes: how long a read waits for the queue before it


@router.get("", response_model=RefusalPage,
            summary="Writes refused to authenticated keys (403/409/422), oldest first")
async def list_refusals(
    request: Request, _: Auditor, code: Filter = None, actor: Filter = None,
    event_type: EventTypeFilter = None, from_: From = None, to: To = None,
    limit: Limit = 100, cursor: Cursor = None,
) -> Response:
    log: refusals.RefusalLog = request.app.state.refusals
    await run_in_threadpool(log.flush, FLUSH_SECONDS)
    filters: dict[str, Any] = {
        "code": code, "actor": actor, "event_type": event_type,
        "recorded_from": format_timestamp(from_) if from_ else None,
        "recorded_to": format_timestamp(to) if to else None,
    }

    def page() -> list[dict[str, Any]]:
        with log.engine.connect() as conn:
            return refusals.query(conn, after=cursor or 0, limit=limit + 1, **filters)

    rows = await run_in_threadpool(page)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1]["id"]) if more else None
    return JSONResponse({"refusals": [{name: row[name] for name in refusals.FIELDS}
                                      for row in rows], "next_cursor": next_cursor})
