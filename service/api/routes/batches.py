"""Atomic batches of up to 1000 events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api.deps import LedgerDep, Poster, WriteContext
from service.api.desks import IN_A_BATCH, batch_events, permit, read_post
from service.api.framing import submit
from service.api.openapi import request_body
from service.api.responses import Events, created, problems
from service.ledger.commands import Command, Rendering
from service.ledger.fields import parse
from service.ledger.payloads import BATCH

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.post(
    "", status_code=201, response_model=Events, summary="Post up to 1000 events atomically",
    openapi_extra=request_body(BATCH, "Batch", IN_A_BATCH),
    responses={**created(location=False), **problems(401, 403, 404, 409, 413, 422, 503)},
)
async def post_batch(request: Request, ledger: LedgerDep, key: Poster, ctx: WriteContext
                     ) -> Response:
    # lone surrogates are refused by the schema, which names the item they are in
    raw = await read_post(request, key, check_text=False)

    def commands() -> list[Command]:
        permit(key, batch_events(raw), IN_A_BATCH)  # every item's type before any data
        batch = parse(BATCH, raw, items="events")
        return [item.command(f"events[{i}].") for i, item in enumerate(batch.events)]

    render = Rendering(201, body="events")
    return await submit(request, ledger, ctx, raw, commands, render)
