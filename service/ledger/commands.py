"""What a request asks of the ledger: its commands, who asks, its idempotency key, and how
its answer is rendered; the errors a request itself can be refused with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.errors import LedgerError
from service.eventstore.types import StoredResponse

DEAL_NAMESPACE = UUID("6f1c1a52-5b8e-4d0f-9a57-0e4b7c6d2a11")
SYSTEM = "system"
Clock = Callable[[], datetime]
Envelopes = list[dict[str, Any]]
Render = Callable[[Envelopes], StoredResponse]
RenderError = Callable[[LedgerError], StoredResponse]


def utc_now() -> datetime:
    return datetime.now(UTC)


def deal_id_for(application_number: str) -> UUID:
    """Application numbers are unique through a deterministic deal id (uuid5)."""
    return uuid.uuid5(DEAL_NAMESPACE, application_number)


class InvalidRequest(LedgerError):
    """A request that is not well formed: ``errors`` names each bad field."""

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None, **extra: object):
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        super().__init__(
            "validation_error",
            detail or f"{first['field'] or 'request'}: {first['message']}",
            status=422,
            errors=errors,
            **extra,
        )


class IdempotencyKeyReused(LedgerError):
    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
            status=409,
        )


@dataclass(frozen=True)
class Context:
    actor: str
    source: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Command:
    """One event to decide: ``data`` is its canonical, schema-checked payload."""

    type: str
    data: dict[str, Any]
    deal_id: UUID | None = None
    application_number: str | None = None
    occurred_at: datetime | None = None  # None: the moment it is decided
    expected_version: int | None = None
    prefix: str = ""  # where this command sits in the request body, for error paths
    retroactive: bool = False  # a PolicyAdopted bootstrapped onto a ledger without deals
    approval: bool = False  # a PolicyAdopted that approves a pending proposal (data: its id)

    def target(self) -> UUID | None:
        """The deal the command is about, when it names one."""
        if self.deal_id is None and self.application_number is not None:
            return deal_id_for(self.application_number)
        return self.deal_id


@dataclass
class Idempotency:
    scope: str
    key: str
    fingerprint: str


@dataclass
class Outcome:
    response: StoredResponse
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False


def binds_rejection(error: LedgerError) -> bool:
    """Business-rule rejections (422 with a rule code) are bound to the key; nothing else."""
    return error.status == 422 and error.code != "validation_error"


@dataclass(frozen=True)
class Rendering:
    """How a write's committed envelopes become its answer: a plain value, not a closure,
    so that whoever renders it (the store binds the answer to an idempotency key in the
    commit's transaction) runs no request code. ``body`` is ``"first"`` (the envelope)
    or ``"events"`` (``{"events": [...]}``); ``location`` a format of the first envelope."""

    status: int
    body: str = "first"
    location: str | None = None

    def __call__(self, envelopes: Envelopes) -> StoredResponse:
        shown: Any = envelopes[0] if self.body == "first" else {"events": envelopes}
        where = self.location.format(**envelopes[0]) if self.location else None
        return StoredResponse(self.status, json.dumps(shown, ensure_ascii=False), where)
