"""Request-scoped dependencies: the ledger, the key store, the authenticated key and the
context a write records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from domain.desks import check_may_post
from service.api.params import CorrelationId, IdempotencyKey, SourceSystem
from service.api.problems import ApiProblem
from service.keys import ApiKey, KeyStore
from service.ledger.application import Ledger
from service.ledger.commands import Context

# Documents the scheme (the Authorize button of /docs); the check below answers problems.
bearer = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer <key>")


async def clean_query(request: Request) -> None:
    """No stored text can hold NUL: a query value with one can match nothing and is refused."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise ApiProblem(422, "validation_error", f"query parameter {name!r} contains NUL",
                             errors=[{"field": name.replace("\x00", "\\0"),
                                      "message": "contains NUL"}])


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


def require(permission: str) -> Callable[..., Any]:
    """The dependency that admits a key with ``permission``: authentication and the
    role check in one step (every level of dependencies costs FastAPI work per request)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        key = await authenticate(request, credentials)
        if not key.may(permission):
            raise ApiProblem(403, "forbidden",
                             f"role {key.role!r} may not {permission}; ask an admin for a key")
        return key

    return dependency


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


def permit(event_type: str) -> Any:
    """The dependency that admits a key that may post ``event_type`` (``domain.desks``):
    else 403 ``event_not_permitted``, naming the type and the role. Its value is the
    write's context."""

    async def dependency(key: Poster, ctx: WriteContext) -> Context:
        check_may_post(key.role, event_type)
        return ctx

    return Depends(dependency)
