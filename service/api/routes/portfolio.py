"""Portfolio figures and the filterable list of deals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from domain.chain import format_timestamp, parse_timestamp
from domain.money import FIGURES
from projections import deals as deals_model
from projections import portfolio
from projections.portfolio_asof import portfolio_at
from projections.reading import Reading
from service.api.deal_models import DealPage
from service.api.deps import LedgerDep, Reader
from service.api.exports import EXPORT_PAGE, csv_lines
from service.api.freshness import ensure_fresh, reading
from service.api.params import (
    AsOf,
    CategoryFilter,
    CountryFilter,
    Cursor,
    ExportFormat,
    InstrumentFilter,
    LicenseStatusFilter,
    Limit,
    MinPosition,
    OccurredFrom,
    OccurredTo,
    SearchText,
    StageFilter,
    TermFilter,
)
from service.api.responses import DEAL_EXPORTS, LicenseStatusCounts, Portfolio, problems
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


# a deal's columns in a CSV export: its view's scalars, each party's name and country
CSV_FIELDS = (
    "deal_id", "application_number", "stage", "license_status", "board_status",
    "buyer_name", "buyer_country", "end_user_name", "end_user_country", "exporter_name",
    "instrument", "term", "tenor_years", "contract_value", *FIGURES, "financed", "closed",
    "policy_version", "applied_occurred_at", "latest_occurred_at", "applied_at", "updated_at",
)


def deal_filters(
    stage: StageFilter = None, country: CountryFilter = None,
    instrument: InstrumentFilter = None, term: TermFilter = None,
    category: CategoryFilter = None, license_status: LicenseStatusFilter = None,
    occurred_from: OccurredFrom = None, occurred_to: OccurredTo = None, q: SearchText = None,
) -> deals_model.DealFilters:
    return deals_model.DealFilters(
        stage=stage, country=country, instrument=instrument, term=term, category=category,
        license_status=license_status, text=q,
        occurred_from=format_timestamp(occurred_from) if occurred_from else None,
        occurred_to=format_timestamp(occurred_to) if occurred_to else None)


Filters = Annotated[deals_model.DealFilters, Depends(deal_filters)]


@router.get("/deals", response_model=DealPage, responses={**DEAL_EXPORTS, **problems(409)},
            summary="One row per deal, filterable, cursor-paged (jsonl/csv streamed)")
async def list_deals(
    request: Request, _: Reader, filters: Filters, format: ExportFormat = "json",
    limit: Limit = 100, cursor: Cursor = None, min_position: MinPosition = None,
) -> Response:
    await ensure_fresh(request, ["deals"], min_position)
    r = reading(request)

    def page(after: int, size: int) -> tuple[list[str], int | None, int]:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "deals")
            views, last = deals_model.query_deals(conn, tables, filters, limit=size,
                                                  after=after)
        return views, last, position

    if format == "json":
        shown, last, position = await run_in_threadpool(page, cursor or 0, limit)
        cursor_text = json.dumps(str(last) if last is not None else None)
        return Response(f'{{"deals":[{",".join(shown)}],"next_cursor":{cursor_text},'
                        f'"position":{position}}}', media_type="application/json")

    def views() -> Iterator[str]:
        after: int | None = cursor or 0
        while after is not None:
            chunk, after, _ = page(after, EXPORT_PAGE)
            yield from chunk

    if format == "jsonl":
        return StreamingResponse(
            (view + "\n" for view in views()),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": "attachment; filename=deals.jsonl"})
    rows = (_csv_row(json.loads(view)) for view in views())
    return StreamingResponse(
        csv_lines(rows, CSV_FIELDS),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=deals.csv"})


def _csv_row(view: dict[str, Any]) -> dict[str, Any]:
    parties = {f"{party}_{field}": (view.get(party) or {}).get(field, "")
               for party in ("buyer", "end_user") for field in ("name", "country")}
    return {**{name: view.get(name) for name in CSV_FIELDS if name in view}, **parties,
            "exporter_name": view["exporter"].get("name", "")}


@router.get("/license-status", response_model=LicenseStatusCounts, responses=problems(409),
            summary="Deals by license status across the portfolio (revoked or expired "
                    "licenses on financed deals included)")
async def license_status(
    request: Request, _: Reader, filters: Filters, min_position: MinPosition = None,
) -> Response:
    await ensure_fresh(request, ["deals"], min_position)
    r = reading(request)

    def read() -> dict[str, Any]:
        with r.engine.connect() as conn:
            tables, position = r.active(conn, "deals")
            return {"position": position,
                    **deals_model.license_status_counts(conn, tables, filters)}

    return JSONResponse(await run_in_threadpool(read))
