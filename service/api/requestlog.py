"""``X-Request-ID`` on every response, and one access-log line a request: a plain ASGI
middleware that does no logging work when the access logger is filtered out."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import REQUEST_ID

access = logging.getLogger("exim_ledger.access")
# a client's id is kept if it is short printable ASCII; anything else is replaced
ACCEPTED_ID = re.compile(rb"[\x21-\x7e]{1,200}")
# new ids: a random per-process prefix and a counter, unique without a random draw per
# request (an id names a request; it is not a secret)
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, b"x-request-id")
        request_id = (sent.decode("ascii") if sent and ACCEPTED_ID.fullmatch(sent)
                      else new_request_id())
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        state = scope.setdefault("state", {})
        state["request_id"] = request_id  # for the answer to an unexpected error

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            if not access.isEnabledFor(logging.INFO):
                await self.app(scope, receive, send_with_id)
                return
            fields: dict[str, Any] = {}
            state["log"] = fields  # request.state.log: a route's fields
            start = time.perf_counter()
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._log(scope, request_id, status, start, fields)
        finally:
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(scope: Scope, request_id: str, status: int, start: float,
             fields: dict[str, Any]) -> None:
        correlation = _header(scope, b"x-correlation-id")
        key = scope.get("state", {}).get("api_key")
        method, path = scope["method"], scope["path"]
        access.info("%s %s %s", method, path, status, extra={
            "request_id": request_id,
            "correlation_id": correlation.decode("latin-1") if correlation else None,
            "actor": getattr(key, "name", None), "method": method, "path": path,
            "status": status, "duration_ms": round((time.perf_counter() - start) * 1000, 3),
            **fields,
        })
