"""Reading projections: the runner, the read gateway, and read-your-writes (``min_position``)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from projections.reading import Reading, wait_for
from projections.runner import Runner
from service.api.problems import ApiProblem

FRESHNESS_TIMEOUT = 5.0


def runner(request: Request) -> Runner:
    return request.app.state.runner  # type: ignore[no-any-return]


def reading(request: Request) -> Reading:
    """What routes read projections through (never the runner that writes them)."""
    return runner(request).reading


async def ensure_fresh(request: Request, names: Sequence[str], min_position: int | None) -> None:
    """Wait for the projections to reach ``min_position``; a position the log has not
    reached names no write anyone was told of, so it is refused at once rather than
    holding a server thread for the whole timeout."""
    if min_position is None or min_position <= 0:
        return
    r = reading(request)
    if await run_in_threadpool(wait_for, r.engine, names, min_position, 0.0):
        return
    await refuse_beyond_head(request, min_position)
    if not await run_in_threadpool(wait_for, r.engine, names, min_position, FRESHNESS_TIMEOUT):
        raise ApiProblem(503, "projection_behind",
                         f"projection(s) {', '.join(names)} did not reach position "
                         f"{min_position} within {FRESHNESS_TIMEOUT:.0f} s; retry",
                         headers={"Retry-After": "1"}, min_position=min_position)


async def refuse_beyond_head(request: Request, min_position: int | None) -> None:
    """409 ``position_not_reached`` for a ``min_position`` beyond the log's head."""
    if min_position is None or min_position <= 0:
        return
    head = await run_in_threadpool(request.app.state.ledger.store.head)
    if min_position > head:
        raise ApiProblem(409, "position_not_reached",
                         f"no event has position {min_position}: the log's head is {head}",
                         min_position=min_position, head=head)
