"""Values the event store's write path exchanges with its callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID


class StreamConflict(Exception):
    """Another writer appended to one of the deals first."""


class KeyAlreadyBound(Exception):
    """A concurrent request bound the same idempotency key first."""


class StoreUnavailable(Exception):
    """The database could not be reached or the write lock not obtained."""


@dataclass
class NewEvent:
    deal_id: UUID
    version: int
    topic: str
    state: dict[str, Any]
    stored: bytes | None = None  # the state's bytes as the store wrote them, once stamped


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    location: str | None = None


@dataclass
class Binding:
    """An idempotency key to bind, and how to render the response it replays."""

    scope: str
    key: str
    fingerprint: str
    render: Callable[[list[dict[str, Any]]], StoredResponse] | None = None
    response: StoredResponse | None = None


@dataclass
class Appended:
    envelopes: list[dict[str, Any]]
    response: StoredResponse | None = None
