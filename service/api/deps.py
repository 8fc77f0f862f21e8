"""Request-scoped dependencies: the ledger, the key store, the authenticated key and the
context a write records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from domain.desks import check_may_post, posters
from service.api.params import CorrelationId, IdempotencyKey, SourceSystem
from service.api.problems import ApiProblem
from service.keys import PERMISSIONS, ApiKey, KeyStore
from service.ledger.application import Ledger
from service.ledger.commands import Context

# Documents the scheme (the Authorize button of /docs); the check below answers problems.
bearer = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer <key>")


async def clean_query(request: Request) -> None:
    """No stored text can hold NUL: a query value with one can match nothing and is refused.
    A parameter a JSON API read does not declare is refused too, not ignored: a misspelt
    filter must not answer as if there were none."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise ApiProblem(422, "validation_error", f"query parameter {name!r} contains NUL",
                             errors=[{"field": name.replace("\x00", "\\0"),
                                      "message": "contains NUL"}])
    route = request.scope.get("route")
    if not (request.query_params and isinstance(route, APIRoute)):
        return
    declared = request.app.state.declared_queries.of(route)
    unknown = [] if declared is None else [n for n in request.query_params if n not in declared]
    if unknown:
        raise ApiProblem(422, "validation_error", f"{unknown[0]}: {UNKNOWN}",
                         errors=[{"field": name, "message": UNKNOWN} for name in unknown])


UNKNOWN = "unknown parameter"


class DeclaredQueries:
    """The query parameters each JSON API route declares (its own and its dependencies'),
    by their names on the wire: found once per route, from FastAPI's analysis of it."""

    def __init__(self) -> None:
        self._names: dict[str, frozenset[str] | None] = {}

    def of(self, route: APIRoute) -> frozenset[str] | None:
        """None for a route whose query is not held to its declaration: a page outside
        /v1. ``min_position`` passes everywhere: a client asks for read-your-writes on
        every read, and a read from the log itself is always current."""
        if route.unique_id not in self._names:
            names = frozenset({*_query_names(route.dependant), "min_position"})
            self._names[route.unique_id] = names if route.path.startswith("/v1/") else None
        return self._names[route.unique_id]


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (field.alias for field in dependant.query_params)
    for dependency in dependant.dependencies:
        yield from _query_names(dependency)


# async, so FastAPI calls them on the event loop instead of a worker thread
async def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


async def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys  # type: ignore[no-any-return]


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


async def authenticate(request: Request,
                       credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    secret = credentials.credentials.strip() if credentials else ""
    if not secret:
        raise ApiProblem(401, "unauthorized", "an API key is required: Authorization: Bearer <key>",
                         headers={"WWW-Authenticate": "Bearer"})
    keys: KeyStore = request.app.state.keys
    found, key = keys.cached(secret)
    if not found:
        key = await run_in_threadpool(keys.authenticate, secret)
    if key is None:
        raise ApiProblem(401, "unauthorized", "the API key is unknown or revoked",
                         headers={"WWW-Authenticate": "Bearer"})
    request.state.api_key = key
    return key


class Gate:
    """A dependency that admits only some roles; ``roles`` says which, for the OpenAPI
    document (``service.api.operations``) as well as for the check."""

    roles: frozenset[str]


class Require(Gate):
    """Admits a key with ``permission``: authentication and the role check in one step
    (every level of dependencies costs FastAPI work per request)."""

    def __init__(self, permission: str) -> None:
        self.permission, self.roles = permission, PERMISSIONS[permission]

    async def __call__(
        self, request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        key = await authenticate(request, credentials)
        if not key.may(self.permission):
            raise ApiProblem(403, "forbidden",
                             f"role {key.role!r} may not {self.permission}; ask an admin for "
                             "a key")
        return key


def require(permission: str) -> Require:
    return Require(permission)


async def any_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """Any valid key: a post's route judges the key's role by what the body posts
    (``service.api.desks``)."""
    return await authenticate(request, credentials)


Poster = Annotated[ApiKey, Depends(any_key)]
Reader = Annotated[ApiKey, Depends(require("read"))]
Auditor = Annotated[ApiKey, Depends(require("audit"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]


async def write_context(
    key: Poster, idempotency_key: IdempotencyKey = None, source: SourceSystem = None,
    correlation_id: CorrelationId = None,
) -> Context:
    return Context(key.name, source, correlation_id, idempotency_key)


WriteContext = Annotated[Context, Depends(write_context)]


class Permit(Gate):
    """Admits a key that may post ``event_type`` (``domain.desks``): else 403
    ``event_not_permitted``, naming the type and the role. Its value is the write's
    context."""

    def __init__(self, event_type: str) -> None:
        self.event_type, self.roles = event_type, posters(event_type)

    async def __call__(self, key: Poster, ctx: WriteContext) -> Context:
        check_may_post(key.role, self.event_type)
        return ctx


def permit(event_type: str) -> Any:
    return Depends(Permit(event_type))
