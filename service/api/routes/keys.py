"""API keys (admin): list them, create one (its secret answered once), revoke one, and read
the trail of who did which, when and from where. No answer holds a secret's digest.

Key administration binds no ``Idempotency-Key``: a replay would have to store the secret.
A retried creation is refused as ``key_name_taken``, and the key can be revoked."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter, WithJsonSchema
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from service.api.deps import Admin, get_keys
from service.api.framing import read_json
from service.api.openapi import CODES_KEY, request_body
from service.api.params import After, Limit
from service.api.responses import problems
from service.keys import Action, Actor, KeyStore, Origin, Role
from service.ledger.fields import anchored, parse, refuse
from service.ledger.payloads import Strict

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=problems(401, 403, 422, 503))
Keys = Annotated[KeyStore, Depends(get_keys)]
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}", re.ASCII)
NO_STORE = {"Cache-Control": "no-store"}


def _key_name(value: object) -> object:
    if not isinstance(value, str) or not KEY_NAME.fullmatch(value):
        refuse("must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '@' and '-', starting "
               "with a letter or digit")
    return value


class NewKeyRequest(Strict):
    role: Annotated[Role, Field(description="admin, licensing and board keys are made only "
                                            "by the operator (exim-ledger keys create, "
                                            "LEDGER_BOOTSTRAP_KEYS): 403 role_not_grantable")]
    name: Annotated[str, BeforeValidator(_key_name), WithJsonSchema({
        "type": "string", "pattern": anchored(KEY_NAME),
        "description": "recorded as the actor of the events the key writes"})]


NEW_KEY = TypeAdapter(NewKeyRequest)


class Key(BaseModel):
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = Field(description="refused everywhere within a second of it")


class KeyList(BaseModel):
    keys: list[Key] = Field(description="by name")


class NewKey(Key):
    secret: str = Field(description="shown this once: only its SHA-256 digest is stored")


class TrailEntry(BaseModel):
    id: int
    name: str
    action: Action
    actor: str = Field(description="the admin key's name (api), else the operating-system "
                                   "user (cli, bootstrap)")
    origin: Origin
    at: datetime
    detail: str | None


class Trail(BaseModel):
    entries: list[TrailEntry] = Field(description="in the order they were written")
    next_after: int = Field(description="pass as after for the next page")


@router.get("", response_model=KeyList, summary="Every key: name, role, created and revoked "
                                                 "times (never a secret or its digest)")
async def list_keys(keys: Keys, _: Admin) -> Response:
    return JSONResponse({"keys": await run_in_threadpool(keys.list)})


@router.post(
    "", status_code=201, response_model=NewKey, summary="Create a key; its secret is "
                                                        "answered once",
    openapi_extra={**request_body(NEW_KEY, "NewKeyRequest", examples={"dashboard": {
        "summary": "a key for a dashboard", "value": {"role": "reader", "name": "dashboard"}}}),
        CODES_KEY: ["role_not_grantable", "key_name_taken"]},  # service.keys.KeyStore.create
    responses=problems(409, 413),
)
async def create_key(request: Request, keys: Keys, admin: Admin) -> Response:
    body = parse(NEW_KEY, await read_json(request))
    created = await run_in_threadpool(keys.create, body.role, body.name,
                                       Actor(admin.name, "api"))
    return JSONResponse(created, status_code=201, headers=NO_STORE)


@router.post("/{name:path}/revoke", response_model=Key, responses=problems(404, 409),
             summary="Revoke a key: refused everywhere within a second, for good",
             openapi_extra={CODES_KEY: ["key_already_revoked"]})  # KeyStore.revoke
async def revoke_key(name: Annotated[str, Path(description="the key's name", json_schema_extra={
        "minLength": 1, "maxLength": 200, "pattern": "^[^:,]+$"})], keys: Keys,
                     admin: Admin) -> Response:
    return JSONResponse(await run_in_threadpool(keys.revoke, name, Actor(admin.name, "api")))


@router.get("/trail", response_model=Trail, summary="Who created, revoked or tried to "
                                                     "bootstrap which key, when, from where")
async def trail(keys: Keys, _: Admin, name: Annotated[str | None, Query(
        max_length=200, description="one key's entries only")] = None,
        after: After = 0, limit: Limit = 100) -> Response:
    entries = await run_in_threadpool(keys.trail, name, after, limit)
    return JSONResponse({"entries": entries,
                         "next_after": entries[-1]["id"] if entries else after})
