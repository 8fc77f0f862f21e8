"""Who may post what (SPEC v3, Desks), judged as soon as a body's event types are known and
before its data is validated; in a batch, every item's type before any item's data. A
request whose idempotency key is bound replays its answer first, as every post does (so a
retry of what a key posted before v3 keeps its answer); a refusal binds nothing. The table
is ``domain.desks``'; this module only finds the types a body posts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any

from fastapi import Request

from domain.desks import check_may_post, postable_by
from service.api.framing import read_json
from service.api.problems import ApiProblem
from service.keys import ApiKey
from service.ledger.payloads import EVENT_DATA

APPLIED = frozenset({"DealApplied"})  # POST /v1/deals
ON_A_DEAL = frozenset(EVENT_DATA) - APPLIED  # POST /v1/deals/{id}/events
IN_A_BATCH = frozenset(EVENT_DATA)  # POST /v1/batches
Posted = Iterator[tuple[int | None, object]]  # (index in a batch or None, the type given)


def one_event(raw: Any) -> Posted:
    """The type of a body ``{type, data, ...}``."""
    if isinstance(raw, dict) and "type" in raw:
        yield None, raw["type"]


def batch_events(raw: Any) -> Posted:
    """The type of each item of a batch ``{"events": [...]}``, in order."""
    items = raw.get("events") if isinstance(raw, dict) else None
    for index, item in enumerate(items if isinstance(items, list) else ()):
        if isinstance(item, dict) and "type" in item:
            yield index, item["type"]


def permit(key: ApiKey, posted: Iterable[tuple[int | None, object]],
           accepted: Collection[str]) -> None:
    """403 ``event_not_permitted`` for the first type ``accepted`` here that ``key`` may not
    post; a type not accepted here keeps the answer the schema gives it. A key whose role
    posts nothing is refused as ``forbidden`` when no such type told more."""
    for index, type_name in posted:
        if isinstance(type_name, str) and type_name in accepted:
            extra = {} if index is None else {"index": index}
            check_may_post(key.role, type_name, **extra)
    if not postable_by(key.role):
        raise forbidden(key)


def forbidden(key: ApiKey) -> ApiProblem:
    return ApiProblem(403, "forbidden", f"role {key.role!r} may not post events; ask an admin "
                                        "for a key")


async def read_post(request: Request, key: ApiKey, *, check_text: bool = True) -> Any:
    """The JSON body of a post of events: a key that posts nothing is ``forbidden`` when
    the body cannot be read (no type in it can say more)."""
    try:
        return await read_json(request, check_text=check_text)
    except ApiProblem:
        if not postable_by(key.role):
            raise forbidden(key) from None
        raise
