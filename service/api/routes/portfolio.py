"""Portfolio figures and the filterable list of deals."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from domain.chain import format_timestamp
from projections import deals as deals_model
from projections import portfolio
from service.api.deps import LedgerDep, Reader
from service.api.framing import DIGITS
from service.api.freshness import ensure_fresh, runner
from service.api.problems import ApiProblem
from service.api.routes.deals import parse_moment
from service.ledger import Ledger

router = APIRouter(prefix="/v1/portfolio", tags=["portfolio"])


def _as_of(ledger: Ledger, moment: str) -> dict[str, object]:
    def events():  # type: ignore[no-untyped-def]
        after = 0
        while True:
            page = ledger.store.select_log(after, 1000, internal=True)
            for ev in page:
                if ev["recorded_at"] > moment:
                    return
                yield ev
            if not page:
                return
            after = page[-1]["position"]

    return portfolio.from_events(events(), ledger.policies)


@router.get("", summary="Portfolio totals and breakdowns (as_of for time travel)")
async def get_portfolio(
    request: Request, ledger: LedgerDep, _: Reader,
    as_of: str | None = Query(None), min_position: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    if as_of is not None:
        moment = format_timestamp(parse_moment(as_of, "as_of"))
        result = await run_in_threadpool(_as_of, ledger, moment)
        return JSONResponse({**result, "as_of": moment})
    await ensure_fresh(request, ["portfolio"], min_position)
    r = runner(request)

    def read() -> dict[str, object]:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "portfolio")
            return portfolio.read(conn, tables, position)

    return JSONResponse(await run_in_threadpool(read))


def _cursor(raw: str | None) -> int:
    if raw is None:
        return 0
    if not DIGITS.fullmatch(raw):
        raise ApiProblem(422, "validation_error", "cursor is not one this API returned",
                         errors=[{"field": "cursor", "message": "invalid cursor"}])
    return int(raw)


@router.get("/deals", summary="One row per deal, filterable, cursor-paged")
async def list_deals(
    request: Request, _: Reader,
    stage: str | None = None, country: str | None = None, instrument: str | None = None,
    term: str | None = None, category: str | None = None,
    limit: int = Query(100, ge=1, le=1000), cursor: str | None = None,
    min_position: int | None = Query(None, ge=0, le=2**62),
) -> Response:
    after = _cursor(cursor)
    await ensure_fresh(request, ["deals"], min_position)
    r = runner(request)

    def read() -> dict[str, object]:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "deals")
            rows, last = deals_model.query_deals(
                conn, tables, stage=stage, country=country, instrument=instrument, term=term,
                category=category, limit=limit, after=after)
        return {"deals": rows, "next_cursor": str(last) if last is not None else None,
                "position": position}

    return JSONResponse(await run_in_threadpool(read))
