"""Approved Commerce licenses across the ledger (SPEC v3), read from the ``deals``
projection, each license's status judged today (UTC, by the ledger's clock)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from projections import licenses
from service.api.deps import LedgerDep, Reader
from service.api.freshness import ensure_fresh, reading
from service.api.license_models import ApprovedLicense, LicensePage, ValidityFilter
from service.api.params import NO_NUL, Cursor, DealIdFilter, Limit, MinPosition
from service.api.problems import ApiProblem
from service.api.responses import problems
from service.ledger.application import Ledger
from service.ledger.fields import anchored

router = APIRouter(prefix="/v1/licenses", tags=["licenses"],
                   responses=problems(401, 403, 422, 503))
LicenseNumber = Annotated[str, Path(
    max_length=200, pattern=anchored(NO_NUL), description="the license number, in any case")]


def _today(ledger: Ledger) -> str:
    return ledger.clock().astimezone(UTC).date().isoformat()


@router.get("/{license_number}", response_model=ApprovedLicense,
            responses=problems(404, 409),
            summary="One license: its deal, consignee, lines, validity and status today")
async def get_license(
    request: Request, ledger: LedgerDep, _: Reader, license_number: LicenseNumber,
    min_position: MinPosition = None,
) -> Response:
    """The number is matched without regard to case. A number two deals hold (approved
    before v3, when numbers were not yet unique) answers with the license approved first;
    ``GET /v1/licenses?deal_id=`` reads the other."""
    await ensure_fresh(request, ["deals"], min_position)
    r, today = reading(request), _today(ledger)

    def read() -> dict[str, Any] | None:
        with r.engine.connect() as conn:
            tables, _ = r.active(conn, "deals")
            return licenses.find(conn, tables, license_number, today)

    found = await run_in_threadpool(read)
    if found is None:
        raise ApiProblem(404, "not_found", f"no approved license numbered {license_number!r}")
    return JSONResponse(found)


@router.get("", response_model=LicensePage, responses=problems(409),
            summary="Approved licenses in the order approved, filterable, cursor-paged")
async def list_licenses(
    request: Request, ledger: LedgerDep, _: Reader, status: ValidityFilter = None,
    deal_id: DealIdFilter = None, limit: Limit = 100, cursor: Cursor = None,
    min_position: MinPosition = None,
) -> Response:
    await ensure_fresh(request, ["deals"], min_position)
    r, today = reading(request), _today(ledger)

    def read() -> dict[str, Any]:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "deals")
            found, last = licenses.query(
                conn, tables, today, status=status,
                deal_id=str(deal_id) if deal_id is not None else None,
                limit=limit, after=cursor or 0)
        return {"licenses": found, "next_cursor": str(last) if last is not None else None,
                "position": position}

    return JSONResponse(await run_in_threadpool(read))
