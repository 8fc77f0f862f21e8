"""The audit trail: per deal, and across deals with filters and streamed exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from domain.chain import format_timestamp
from projections import audit
from service.api.deps import Auditor, LedgerDep
from service.api.framing import DIGITS
from service.api.freshness import ensure_fresh, runner
from service.api.problems import ApiProblem
from service.api.routes.deals import parse_deal_id, parse_moment

router = APIRouter(prefix="/v1/audit", tags=["audit"])
PAGE = 1000


@router.get("/deals/{deal_id}", summary="Every event of one deal: who, when, what, hash")
async def deal_trail(
    deal_id: str, request: Request, ledger: LedgerDep, _: Auditor,
    min_position: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    deal = parse_deal_id(deal_id)
    await ensure_fresh(request, ["audit"], min_position)
    r = runner(request)

    def read() -> list[dict[str, Any]]:
        with r.engine.connect() as conn:
            tables, _ = r.active(conn, "audit")
            return audit.query(conn, tables, deal_id=str(deal))

    entries = await run_in_threadpool(read)
    if not entries and not await run_in_threadpool(ledger.store.select_events, deal, limit=1):
        raise ApiProblem(404, "not_found", f"deal {deal} not found")
    return JSONResponse({"deal_id": str(deal), "entries": entries})


@router.get("/log", summary="The audit trail across deals (json paged; jsonl/csv streamed)")
async def audit_log(
    request: Request, _: Auditor,
    from_: str | None = Query(None, alias="from"), to: str | None = None,
    actor: str | None = None, type: str | None = None, deal_id: str | None = None,
    format: str = Query("json", pattern="^(json|jsonl|csv)$"),
    limit: int = Query(100, ge=1, le=1000), cursor: str | None = None,
    min_position: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    if cursor is not None and not DIGITS.fullmatch(cursor):
        raise ApiProblem(422, "validation_error", "cursor is not one this API returned",
                         errors=[{"field": "cursor", "message": "invalid cursor"}])
    filters: dict[str, Any] = {
        "actor": actor, "type_name": type,
        "deal_id": str(parse_deal_id(deal_id)) if deal_id else None,
        "recorded_from": format_timestamp(parse_moment(from_, "from")) if from_ else None,
        "recorded_to": format_timestamp(parse_moment(to, "to")) if to else None,
    }
    await ensure_fresh(request, ["audit"], min_position)
    r = runner(request)

    def page(after: int, size: int) -> list[dict[str, Any]]:
        with r.engine.connect() as conn:
            tables, _ = r.active(conn, "audit")
            return audit.query(conn, tables, after=after, limit=size, **filters)

    if format == "json":
        entries = await run_in_threadpool(page, int(cursor or 0), limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        next_cursor = str(entries[-1]["position"]) if more else None
        return JSONResponse({"entries": entries, "next_cursor": next_cursor})

    def rows() -> Iterator[dict[str, Any]]:
        after = int(cursor or 0)
        while True:
            chunk = page(after, PAGE)
            yield from chunk
            if len(chunk) < PAGE:
                return
            after = chunk[-1]["position"]

    if format == "jsonl":
        lines = (json.dumps(e, ensure_ascii=False) + "\n" for e in rows())
        return StreamingResponse(
            lines, media_type="application/x-ndjson",
            headers={"Content-Disposition": "attachment; filename=audit.jsonl"},
        )
    return StreamingResponse(_csv(rows()), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": "attachment; filename=audit.csv"})


def _csv(entries: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(audit.ENTRY_FIELDS))
    writer.writeheader()
    for i, entry in enumerate(entries, 1):
        writer.writerow(entry)
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
