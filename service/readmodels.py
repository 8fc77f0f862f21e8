"""Reading projections: active slot, freshness (min_position) and reconciliation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from projections import exposure, portfolio
from projections.base import Tables
from projections.runner import Runner, wait_for
from service.problems import ApiProblem

FRESHNESS_TIMEOUT = 5.0


def runner(request: Request) -> Runner:
    return request.app.state.runner  # type: ignore[no-any-return]


async def ensure_fresh(request: Request, names: Sequence[str], min_position: int | None) -> None:
    if min_position is None or min_position <= 0:
        return
    r = runner(request)
    if not await run_in_threadpool(wait_for, r.engine, names, min_position, FRESHNESS_TIMEOUT):
        raise ApiProblem(503, "projection_behind",
                         f"projection(s) {', '.join(names)} did not reach position "
                         f"{min_position} within {FRESHNESS_TIMEOUT:.0f} s; retry",
                         headers={"Retry-After": "1"}, min_position=min_position)


def active(r: Runner, conn: sa.Connection, name: str) -> tuple[Tables, int]:
    slot, position = r.state(conn, name)
    return r.projections[name].schema[slot], position


def reconcile(r: Runner) -> dict[str, Any]:
    """Debits equal credits, and the ledger's exposure equals the portfolio's."""
    with r.engine.connect() as conn:
        e_tables, e_pos = active(r, conn, "exposure")
        p_tables, p_pos = active(r, conn, "portfolio")
        sums = exposure.totals(conn, e_tables)
        figures = portfolio.read(conn, p_tables, p_pos)["totals"]
    result: dict[str, Any] = {
        "position": e_pos,
        "debits": portfolio.money(sums["debits"]),
        "credits": portfolio.money(sums["credits"]),
        "balanced": sums["debits"] == sums["credits"],
        "ledger_exposure": portfolio.money(sums["exposure"]),
        "ledger_committed": portfolio.money(sums["committed"]),
    }
    if e_pos == p_pos:
        result["portfolio_exposure"] = figures["exposure"]
        result["portfolio_committed"] = figures["committed"]
        result["ok"] = (result["balanced"] and figures["exposure"] == result["ledger_exposure"]
                        and figures["committed"] == result["ledger_committed"])
    else:
        result["ok"] = result["balanced"]
        result["detail"] = (f"portfolio at {p_pos}, exposure at {e_pos}: "
                            "figures compared once both reach the same position")
    return result
