"""Cross-origin reads of the audit endpoints, for the auditor's page kept on disk or hosted
elsewhere (tools/audit.html): only from the origins the operator lists in
``LEDGER_AUDIT_CORS_ORIGINS``. Every other path, and every other origin, gets no CORS
header; a preflight from an origin not listed is refused with a problem."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem

# the audit and integrity routes, and the global log the page reads an event from
PREFIXES = ("/v1/audit/",)
PATHS = frozenset({"/v1/events"})
ALLOWED_HEADERS = "Authorization, Accept, X-Request-ID"
MAX_AGE = "600"


def in_scope(path: str) -> bool:
    return path in PATHS or path.startswith(PREFIXES)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class AuditCors:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not in_scope(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        preflight = (scope["method"] == "OPTIONS" and origin is not None
                     and _header(scope, b"access-control-request-method") is not None)
        allowed = origin is not None and origin in self.origins
        if preflight:
            await self._preflight(origin or "", allowed, scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *self._headers(origin or "")]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _headers(origin: str) -> list[tuple[bytes, bytes]]:
        return [(b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", b"X-Request-ID"),
                (b"vary", b"Origin")]

    async def _preflight(self, origin: str, allowed: bool, scope: Scope, receive: Receive,
                         send: Send) -> None:
        response: Response
        if not allowed:
            response = problem(403, "cross_origin_refused",
                               f"origin {origin[:100]!r} may not read the audit endpoints; "
                               "the operator lists allowed origins in "
                               "LEDGER_AUDIT_CORS_ORIGINS")
        else:
            response = Response(status_code=204, headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
                "Vary": "Origin",
            })
        await response(scope, receive, send)
