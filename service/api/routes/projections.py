"""Projection freshness, reconciliation and rebuilds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.chain import format_timestamp
from projections.registry import NAMES
from service.api.deps import Admin, LedgerDep, Reader
from service.api.freshness import reading, runner
from service.api.problems import ApiProblem
from service.api.responses import Projections, Rebuilt, problems

router = APIRouter(prefix="/v1/projections", tags=["projections"],
                   responses=problems(401, 403, 422, 503))
logger = logging.getLogger("exim_ledger.reconciliation")


def _utc(moment: datetime | None) -> str | None:
    """SQLite gives back the naive UTC time it was given, PostgreSQL an aware one; both are
    answered as RFC 3339 UTC, like every other timestamp of the API."""
    if moment is None:
        return None
    return format_timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@router.get("", response_model=Projections,
            summary="Each projection's position, lag and status; reconciliation")
async def list_projections(request: Request, ledger: LedgerDep, _: Reader) -> Response:
    r = reading(request)
    head = await run_in_threadpool(ledger.store.head)
    rows = await run_in_threadpool(r.statuses)
    recon = await run_in_threadpool(r.reconcile)
    if not recon["ok"]:
        logger.error("exposure ledger does not reconcile: %s", recon)
    out = []
    for row in rows:
        status = row["status"]
        if row["name"] == "exposure" and not recon["ok"]:
            status = "unreconciled"
        out.append({
            "name": row["name"], "position": row["position"], "head": head,
            "lag": max(head - row["position"], 0), "status": status,
            "last_error": row["last_error"], "slot": row["slot"],
            "updated_at": _utc(row["updated_at"]),
        })
    return JSONResponse({"projections": out, "reconciliation": recon})


@router.post("/{name}/rebuild", response_model=Rebuilt, responses=problems(404),
             summary="Rebuild a projection from the log and swap it in")
async def rebuild(
    name: Annotated[str, Path(json_schema_extra={"enum": list(NAMES)})], request: Request,
    _: Admin,
) -> Response:
    r = runner(request)
    if name not in r.projections:
        raise ApiProblem(404, "not_found", f"no projection named {name!r}",
                         known=sorted(r.projections))
    position = await run_in_threadpool(r.rebuild, name)
    return JSONResponse({"name": name, "position": position, "status": "rebuilt"})
