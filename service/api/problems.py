"""RFC 9457 problem details: every error leaves through here."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from domain.errors import LedgerError
from service.eventstore.types import StoreUnavailable
from service.ledger.fields import field_error

PROBLEM_TYPE = "https://exim-ledger.example/problems/"
MEDIA_TYPE = "application/problem+json"


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    title = code.replace("_", " ").capitalize()
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def problem_json(status: int, code: str, detail: str, **extra: Any) -> str:
    # ASCII-escaped: a problem may echo client input, which must never break the response
    return json.dumps(problem_body(status, code, detail, **extra))


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return Response(
        problem_json(status, code, detail, **extra),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def from_error(error: LedgerError) -> Response:
    return Response(error_json(error), status_code=error.status, media_type=MEDIA_TYPE)


def error_json(error: LedgerError) -> str:
    return problem_json(error.status, error.code, error.detail, **error.extra)


def _parameter(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Where a parameter error sits: ("query", "limit") is "limit"; a header is marked as
    one ("header:If-Match")."""
    if loc[:1] == ("header",) and len(loc) > 1:
        return (f"header:{loc[1]}", *loc[2:])
    return loc[1:]


class ApiProblem(Exception):
    """A problem raised by the HTTP layer itself (auth, headers, body framing)."""

    def __init__(
        self, status: int, code: str, detail: str,
        headers: dict[str, str] | None = None, **extra: Any,
    ):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers, self.extra = headers, extra


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, exc: LedgerError) -> Response:
        return from_error(exc)

    @app.exception_handler(ApiProblem)
    async def _api(_: Request, exc: ApiProblem) -> Response:
        return problem(exc.status, exc.code, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> Response:
        return problem(503, "database_unavailable", str(exc) or "database unavailable",
                       headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = [field_error(e, _parameter(e["loc"])) for e in exc.errors()]
        detail = f"{errors[0]['field']}: {errors[0]['message']}" if errors else "invalid"
        return problem(422, "validation_error", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        phrase = HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request)
        return problem(exc.status_code, code, str(exc.detail or phrase), headers=headers)


def _allowed(request: Request) -> str:
    """Every method some route takes at this path: Starlette names only the first route's
    (GET /v1/deals and POST /v1/deals are two routes)."""
    routes = request.app.router.routes
    return ", ".join(method for method in _METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
