"""The audit trail: per deal, and across deals with filters and streamed exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from domain.chain import format_timestamp
from projections import audit
from service.api.deps import Auditor, LedgerDep
from service.api.exports import EXPORT_PAGE, csv_lines
from service.api.freshness import ensure_fresh, reading
from service.api.params import (
    Cursor,
    DealId,
    DealIdFilter,
    EventTypeFilter,
    ExportFormat,
    Filter,
    From,
    Limit,
    MinPosition,
    To,
)
from service.api.problems import ApiProblem
from service.api.responses import AUDIT_EXPORTS, AuditPage, DealTrail, problems

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problems(401, 403, 422, 503))


@router.get("/deals/{deal_id}", response_model=DealTrail, responses=problems(404, 409),
            summary="Every event of one deal: who, when, what, hash")
async def deal_trail(
    request: Request, ledger: LedgerDep, _: Auditor, deal: DealId,
    min_position: MinPosition = None,
) -> Response:
    await ensure_fresh(request, ["audit"], min_position)
    r = reading(request)

    def read() -> list[dict[str, Any]]:
        with r.engine.connect() as conn:
            tables, _ = r.active(conn, "audit")
            return audit.query(conn, tables, deal_id=str(deal))

    entries = await run_in_threadpool(read)
    if not entries and not await run_in_threadpool(ledger.store.select_events, deal, limit=1):
        raise ApiProblem(404, "not_found", f"deal {deal} not found")
    return JSONResponse({"deal_id": str(deal), "entries": entries})


@router.get("/log", response_model=AuditPage, responses={**AUDIT_EXPORTS, **problems(409)},
            summary="The audit trail across deals (json paged; jsonl/csv streamed)")
async def audit_log(
    request: Request, _: Auditor, from_: From = None, to: To = None,
    actor: Filter = None, type: EventTypeFilter = None, deal_id: DealIdFilter = None,
    format: ExportFormat = "json", limit: Limit = 100, cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    filters: dict[str, Any] = {
        "actor": actor, "type_name": type, "deal_id": str(deal_id) if deal_id else None,
        "recorded_from": format_timestamp(from_) if from_ else None,
        "recorded_to": format_timestamp(to) if to else None,
    }
    await ensure_fresh(request, ["audit"], min_position)
    r = reading(request)

    def page(after: int, size: int) -> list[dict[str, Any]]:
        with r.engine.connect() as conn:
            tables, _ = r.active(conn, "audit")
            return audit.query(conn, tables, after=after, limit=size, **filters)

    if format == "json":
        entries = await run_in_threadpool(page, cursor or 0, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        next_cursor = str(entries[-1]["position"]) if more else None
        return JSONResponse({"entries": entries, "next_cursor": next_cursor})

    def rows() -> Iterator[dict[str, Any]]:
        after = cursor or 0
        while True:
            chunk = page(after, EXPORT_PAGE)
            yield from chunk
            if len(chunk) < EXPORT_PAGE:
                return
            after = chunk[-1]["position"]

    if format == "jsonl":
        lines = (json.dumps(e, ensure_ascii=False) + "\n" for e in rows())
        return StreamingResponse(
            lines, media_type="application/x-ndjson",
            headers={"Content-Disposition": "attachment; filename=audit.jsonl"},
        )
    return StreamingResponse(csv_lines(rows(), audit.ENTRY_FIELDS),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": "attachment; filename=audit.csv"})

