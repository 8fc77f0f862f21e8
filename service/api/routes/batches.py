"""Atomic batches of up to 1000 events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api import openapi
from service.api.deps import LedgerDep, Writer
from service.api.framing import ensure_text, expected_version, read_json, render_json, submit
from service.api.problems import ApiProblem
from service.api.routes.deals import APPLICATION_NUMBER
from service.ledger import Command

router = APIRouter(prefix="/v1/batches", tags=["batches"])
MAX_ITEMS = 1000
ITEM_KEYS = {"type", "data", "occurred_at", "expected_version", "deal_id", "application_number"}


def _invalid(index: int, field: str, message: str) -> ApiProblem:
    path = f"events[{index}].{field}".rstrip(".")
    return ApiProblem(422, "validation_error", f"{path}: {message}", index=index,
                      errors=[{"field": path, "message": message}])


def _command(index: int, item: Any) -> Command:
    if not isinstance(item, dict):
        raise _invalid(index, "", "must be an object")
    try:
        ensure_text(item)
    except UnicodeEncodeError:
        raise _invalid(index, "", "contains an unpaired surrogate escape") from None
    unknown = sorted(set(item) - ITEM_KEYS)
    if unknown:
        raise _invalid(index, unknown[0], "unknown field")
    deal_id = item.get("deal_id")
    number = item.get("application_number")
    if deal_id is not None:
        if not isinstance(deal_id, str):
            raise _invalid(index, "deal_id", "must be a UUID string")
        try:
            deal_id = UUID(deal_id)
        except ValueError:
            raise _invalid(index, "deal_id", "must be a UUID string") from None
    if number is not None and (
        not isinstance(number, str) or not APPLICATION_NUMBER.fullmatch(number)
    ):
        raise _invalid(index, "application_number", "must be 3-32 characters A-Z, 0-9 and -")
    if item.get("type") != "DealApplied" and deal_id is None and number is None:
        raise _invalid(index, "deal_id", "deal_id or application_number is required")
    return Command(
        item.get("type"), item.get("data"), deal_id=deal_id, application_number=number,
        occurred_at=item.get("occurred_at"),
        expected_version=expected_version(item.get("expected_version"),
                                          f"events[{index}].expected_version"),
        prefix=f"events[{index}].",
    )


@router.post(
    "", status_code=201, summary="Post up to 1000 events atomically",
    openapi_extra=openapi.request_body(openapi.batch_schema(MAX_ITEMS)),
    responses=openapi.write_responses(
        "the envelopes in order", "Events", location=False,
        extra={404: "an item's deal does not exist (with its index)"}),
)
async def post_batch(request: Request, ledger: LedgerDep, key: Writer) -> Response:
    body = await read_json(request, check_text=False)
    if not (isinstance(body, dict) and set(body) == {"events"}
            and isinstance(body["events"], list)):
        raise ApiProblem(422, "validation_error", 'the body must be {"events": [...]}',
                         errors=[{"field": "events", "message": "a list of events is required"}])
    items = body["events"]
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ApiProblem(422, "validation_error", f"a batch holds 1 to {MAX_ITEMS} events",
                         errors=[{"field": "events", "message": f"1 to {MAX_ITEMS} items"}])
    commands = [_command(i, item) for i, item in enumerate(items)]
    render = render_json(201, lambda envs: {"events": envs})
    return await submit(request, ledger, key, body, commands, render)
