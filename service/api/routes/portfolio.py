"""Portfolio figures and the filterable list of deals."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.chain import format_timestamp, parse_timestamp
from projections import deals as deals_model
from projections import portfolio
from projections.portfolio_asof import portfolio_at
from projections.reading import Reading
from service.api.deal_models import DealPage
from service.api.deps import LedgerDep, Reader
from service.api.freshness import ensure_fresh, reading
from service.api.params import (
    AsOf,
    CategoryFilter,
    CountryFilter,
    Cursor,
    InstrumentFilter,
    LicenseStatusFilter,
    Limit,
    MinPosition,
    StageFilter,
    TermFilter,
)
from service.api.responses import Portfolio, problems
from service.ledger.application import Ledger

router = APIRouter(prefix="/v1/portfolio", tags=["portfolio"],
                   responses=problems(401, 403, 422, 503))


def _as_of(ledger: Ledger, r: Reading, moment: str) -> dict[str, object]:
    through = ledger.store.position_as_of(parse_timestamp(moment))
    with r.engine.connect() as conn:
        tables, _ = r.active(conn, "portfolio")
        return portfolio_at(conn, tables, ledger.store, ledger.policy_book(), through)


@router.get("", response_model=Portfolio, responses=problems(409),
            summary="Portfolio totals and breakdowns (as_of for time travel)")
async def get_portfolio(
    request: Request, ledger: LedgerDep, _: Reader, as_of: AsOf = None,
    min_position: MinPosition = None,
) -> Response:
    if as_of is not None:
        moment = format_timestamp(as_of)
        result = await run_in_threadpool(_as_of, ledger, reading(request), moment)
        return JSONResponse({**result, "as_of": moment})
    await ensure_fresh(request, ["portfolio"], min_position)
    r = reading(request)

    def read() -> dict[str, object]:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "portfolio")
            return portfolio.read(conn, tables, position)

    return JSONResponse(await run_in_threadpool(read))


@router.get("/deals", response_model=DealPage, responses=problems(409),
            summary="One row per deal, filterable, cursor-paged")
async def list_deals(
    request: Request, _: Reader,
    stage: StageFilter = None, country: CountryFilter = None,
    instrument: InstrumentFilter = None, term: TermFilter = None,
    category: CategoryFilter = None, license_status: LicenseStatusFilter = None,
    limit: Limit = 100, cursor: Cursor = None, min_position: MinPosition = None,
) -> Response:
    await ensure_fresh(request, ["deals"], min_position)
    r = reading(request)

    def read() -> str:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "deals")
            views, last = deals_model.query_deals(
                conn, tables, stage=stage, country=country, instrument=instrument, term=term,
                category=category, license_status=license_status, limit=limit,
                after=cursor or 0)
        cursor_text = json.dumps(str(last) if last is not None else None)
        return (f'{{"deals":[{",".join(views)}],"next_cursor":{cursor_text},'
                f'"position":{position}}}')

    return Response(await run_in_threadpool(read), media_type="application/json")
