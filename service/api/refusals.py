"""Which answers are refusals on record, and what each record holds: a plain ASGI
middleware around the routes, inside the exception handlers' answers.

A write (POST, PUT, PATCH, DELETE under /v1) answered 403, 409 or 422 with a problem
``code`` to an authenticated key is offered to the app's ``RefusalLog`` once, unless it
replays an idempotent answer (``Idempotency-Replayed: true``). The body is hashed, never
kept: a route that refused before reading it has the rest read (up to the body limit)
before its answer leaves, so the hash covers the whole body. The record is queued before
the answer's last byte is sent, so a client that has the answer finds it by the read's
flush. Every problem's code goes on the request's access-log line. Nothing here may change
an answer: any failure is counted as a dropped refusal and logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.events import EVENT_TYPES
from service.refusals import Refusal, RefusalLog

logger = logging.getLogger("exim_ledger.refusals")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({403, 409, 422})
PROBLEM = b"application/problem+json"
MAX_PROBLEM = 1 << 20  # a problem longer than this is not read for its code
MAX_PARSED = 1 << 20  # a body longer than this is hashed, not read for its deal and type


class RefusalCapture:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        write = scope["method"] in WRITES and scope["path"].startswith("/v1/")
        chunks: list[bytes] = []
        complete = not write

        async def receive_body() -> Message:
            nonlocal complete
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            return message

        status = 0
        problem: list[bytes] | None = None
        recordable = False

        async def send_capturing(message: Message) -> None:
            nonlocal status, problem, recordable
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                if status >= 400 and _header(headers, b"content-type").startswith(PROBLEM):
                    problem = []
                recordable = (write and status in REFUSED and problem is not None
                              and _key(scope) is not None
                              and _header(headers, b"idempotency-replayed") != b"true")
                if recordable and not complete:
                    await drain()
            elif message["type"] == "http.response.body" and problem is not None:
                problem.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._finished(scope, b"".join(problem), chunks if recordable else None,
                                   complete)
                    problem = None
            await send(message)

        async def drain() -> None:
            size = sum(map(len, chunks))
            limit = _max_body(scope)
            while not complete and size <= limit:
                message = await receive_body()
                if message["type"] != "http.request":
                    return
                size += len(message.get("body", b""))

        await self.app(scope, receive_body if write else receive, send_capturing)

    def _finished(self, scope: Scope, answer: bytes, body: list[bytes] | None,
                  whole: bool) -> None:
        """The answer was a problem: its code to the access log; a refusal on record."""
        app_state = scope["app"].state
        try:
            found = json.loads(answer) if len(answer) <= MAX_PROBLEM else {}
            code = found.get("code") if isinstance(found, dict) else None
            if not isinstance(code, str):
                return
            log = scope.get("state", {}).get("log")
            if log is not None:
                log["code"] = code
            if body is None:
                return
            refusal = _refusal(scope, found, code, body, whole)
            app_state.metrics.refusals.labels(code).inc()
            recorder: RefusalLog | None = getattr(app_state, "refusals", None)
            if recorder is None:
                app_state.metrics.drop_refusals("error")
                return
            recorder.offer(refusal)
        except Exception:
            logger.warning("a refusal could not be recorded", exc_info=True)
            app_state.metrics.drop_refusals("error")


def _refusal(scope: Scope, problem: dict[str, Any], code: str, chunks: list[bytes],
             whole: bool) -> Refusal:
    key = _key(scope)
    state = scope.get("state", {})
    raw = b"".join(chunks)
    found = _posted(scope, raw, problem) if whole and len(raw) <= MAX_PARSED else {}
    source = _header(scope["headers"], b"x-source-system")
    detail = problem.get("detail")
    return Refusal(
        recorded_at=datetime.now(UTC),
        actor=key.name, role=key.role,
        source=source.decode("latin-1") if source else None,
        request_id=state.get("request_id"),
        deal_id=found.get("deal_id"), application_number=found.get("application_number"),
        event_type=found.get("event_type"),
        code=code, detail=detail if isinstance(detail, str) else "",
        policy_version=_policy_version(scope),
        body_sha256=hashlib.sha256(raw).hexdigest() if whole else None,
    )


def _posted(scope: Scope, raw: bytes, problem: dict[str, Any]) -> dict[str, str]:
    """The deal, application number and event type a refused write named, as far as its
    path and body tell (a batch: the item the problem's ``index`` names)."""
    found: dict[str, str] = {}
    deal_id = scope.get("path_params", {}).get("deal_id")
    if isinstance(deal_id, str) and _uuid(deal_id):
        found["deal_id"] = _uuid(deal_id)
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return found
    route = getattr(scope.get("route"), "path", None)
    if route == "/v1/deals" and isinstance(body, dict):
        body = {"type": "DealApplied", "data": body}
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        index = problem.get("index")
        events = body["events"]
        body = events[index] if isinstance(index, int) and 0 <= index < len(events) else None
    if not isinstance(body, dict):
        return found
    data = body.get("data")
    data = data if isinstance(data, dict) else {}
    for name, value in (("event_type", body.get("type")), ("deal_id", body.get("deal_id")),
                        ("application_number", body.get("application_number")),
                        ("application_number", data.get("application_number")),
                        # what the problem names (event_not_permitted, duplicate_application)
                        ("event_type", problem.get("event_type")),
                        ("deal_id", problem.get("deal_id"))):
        if not isinstance(value, str) or not value or name in found:
            continue
        if name == "deal_id":
            value = _uuid(value)
        if value and (name != "event_type" or value in EVENT_TYPES):
            found[name] = value
    return found


def _uuid(text: str) -> str:
    """``text`` as a deal id, or "" when it is none."""
    try:
        return str(UUID(text))
    except ValueError:
        return ""


def _policy_version(scope: Scope) -> str | None:
    ledger = getattr(scope["app"].state, "ledger", None)
    if ledger is None or not ledger.program_is_current():
        return None  # known without reading the store, or not at all
    version: str = ledger.policy_book().at(ledger.clock()).id
    return version


def _key(scope: Scope) -> Any:
    return scope.get("state", {}).get("api_key")


def _max_body(scope: Scope) -> int:
    settings = getattr(scope["app"].state, "settings", None)
    return int(getattr(settings, "max_body_bytes", 0))


def _header(headers: Any, name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return bytes(value)
    return b""
