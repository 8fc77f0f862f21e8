"""The exposure ledger: program balances, and one deal's postings and balances."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from projections import exposure
from projections.folding import money
from service.deps import Reader
from service.readmodels import active, ensure_fresh, reconcile, runner
from service.routes.deals import parse_deal_id

router = APIRouter(prefix="/v1/exposure", tags=["exposure ledger"])


@router.get("", summary="Program accounts, totals and the reconciliation with the portfolio")
async def program(
    request: Request, _: Reader, min_position: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    await ensure_fresh(request, ["exposure"], min_position)
    r = runner(request)

    def read() -> dict[str, Any]:
        with r.engine.connect() as conn:
            t, position = active(r, conn, "exposure")
            b = t.balances
            rows = conn.execute(
                sa.select(b.c.account, b.c.debit, b.c.credit)
                .where(b.c.account.like("program:%")).order_by(b.c.account))
            accounts = [{"account": a, "debit": money(d), "credit": money(c),
                         "balance": money(d - c)} for a, d, c in rows]
        return {"position": position, "accounts": accounts, "reconciliation": reconcile(r)}

    return JSONResponse(await run_in_threadpool(read))


@router.get("/deals/{deal_id}", summary="One deal's double-entry postings and balances")
async def deal(
    deal_id: str, request: Request, _: Reader,
    min_position: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    deal_uuid = str(parse_deal_id(deal_id))
    await ensure_fresh(request, ["exposure"], min_position)
    r = runner(request)

    def read() -> dict[str, Any]:
        with r.engine.connect() as conn:
            t, position = active(r, conn, "exposure")
            p = t.postings
            rows = conn.execute(
                sa.select(p.c.position, p.c.entry, p.c.kind, p.c.account, p.c.debit, p.c.credit,
                          p.c.recorded_at)
                .where(p.c.deal_id == deal_uuid).order_by(p.c.position, p.c.entry))
            postings = [{"position": pos, "entry": e, "kind": k, "account": a,
                         "debit": money(d), "credit": money(c), "recorded_at": at}
                        for pos, e, k, a, d, c, at in rows]
            balances = exposure.deal_balances(conn, t, deal_uuid)
        return {"deal_id": deal_uuid, "position": position, "balances": balances,
                "postings": postings}

    return JSONResponse(await run_in_threadpool(read))
