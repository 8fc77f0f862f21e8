"""Who may call each operation, and what it can answer, written into the OpenAPI document
from what the server enforces: the roles from the route's dependencies (``deps.Gate``), and
for a post of events, each type's desk and refusals from ``domain.desks`` and
``domain.events``. Nothing here is typed twice: a change to those tables is a change here.

Each operation gets ``x-roles`` (absent when no key is needed) and ``x-rule-codes`` (the
codes its business rules answer, in the order checked), and a post of events
``x-event-types``: per type, the roles that may post it and its codes. The description
says the same in words."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from domain.desks import posters
from domain.events import EVENT_TYPES
from service.api.deps import Gate, Permit, any_key
from service.api.examples import load
from service.api.openapi import CODES_KEY, EVENT_TYPES_KEY, ROLES_KEY
from service.api.problems import MEDIA_TYPE
from service.keys import ROLES

GENERAL = frozenset({"unauthorized", "not_found", "validation_error", "payload_too_large",
                     "database_unavailable"})  # any operation that documents their status
BY_PARAMETER = {"idempotency_key_reused": "Idempotency-Key",
                "position_not_reached": "min_position", "projection_behind": "min_position"}


def describe_operations(app: FastAPI, document: dict[str, Any]) -> None:
    catalog = load()["problems"]
    # routes as FastAPI documents them: an included router's, with its prefix
    for route in iter_route_contexts(app.routes):
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is not None:
                describe(route.dependant, operation, catalog)


def describe(dependant: Dependant, operation: dict[str, Any],
             catalog: list[dict[str, Any]]) -> None:
    calls = list(_calls(dependant))
    gates = [call.roles for call in calls if isinstance(call, Gate)]
    keyed = bool(gates) or any_key in calls
    types = [t for t in EVENT_TYPES if t in operation.get(EVENT_TYPES_KEY, ())]
    desks = {t: _admitted(t, gates) for t in types}
    # without a gate, a post judges the key by the types its body posts (service.api.desks)
    roles = frozenset.intersection(*gates) if gates else frozenset().union(*desks.values())
    codes = _ordered([*operation.get(CODES_KEY, ()),
                      *(code for t in types for code in EVENT_TYPES[t].codes)])
    lines = [operation.get("description", "")]
    if keyed:
        operation[ROLES_KEY] = _in_order(roles)
        lines.append(f"**Roles** (`{ROLES_KEY}`): a key of role "
                     f"{' or '.join(operation[ROLES_KEY])}; any other is refused (403).")
    else:
        lines.append("**No key needed.**")
    if types:
        operation[EVENT_TYPES_KEY] = {
            t: {"roles": _in_order(desks[t]), "codes": list(EVENT_TYPES[t].codes)}
            for t in types}
        lines.append(_desk_table(operation[EVENT_TYPES_KEY]))
        if any(posters(t) for t in types):  # a desk's type: its check comes first
            codes = _ordered(["event_not_permitted", *codes])
    if codes:
        operation[CODES_KEY] = codes
        lines.append(f"**Rule codes** (`{CODES_KEY}`), in the order checked: "
                     f"{', '.join(f'`{c}`' for c in codes)}.")
    operation["description"] = "\n\n".join(filter(None, lines))
    forbidden = keyed and not all(isinstance(call, Permit) for call in calls
                                  if isinstance(call, Gate))
    show_problems(operation, answered(operation, forbidden), catalog)


def answered(operation: dict[str, Any], forbidden: bool) -> frozenset[str]:
    """The codes of the problem examples that ``operation`` can answer: the general ones,
    its rule codes, those its parameters bring, and ``forbidden`` unless only a desk's
    check (``event_not_permitted``) refuses a role."""
    parameters = {p["name"] for p in operation.get("parameters", ())}
    return GENERAL.union(operation.get(CODES_KEY, ()), ["forbidden"] * forbidden,
                         (code for code, name in BY_PARAMETER.items() if name in parameters))


def show_problems(operation: dict[str, Any], codes: frozenset[str],
                  catalog: list[dict[str, Any]]) -> None:
    """Each problem status documented: an example of each of its codes ``codes`` hold,
    taken from real answers (``examples.json``; a test reproduces each)."""
    for status, response in operation["responses"].items():
        media = response.get("content", {}).get(MEDIA_TYPE)
        if media is not None:
            media["examples"] = {body["code"]: {"summary": body["code"], "value": body}
                                 for body in catalog
                                 if str(body["status"]) == status and body["code"] in codes}


def _admitted(event_type: str, gates: list[frozenset[str]]) -> frozenset[str]:
    """The roles that may post ``event_type`` here: its desk (a program-stream type the
    desks' table does not name is posted by whoever the route's gate admits)."""
    desk = posters(event_type) or frozenset(ROLES)
    return desk.intersection(*gates)


def _desk_table(types: dict[str, dict[str, list[str]]]) -> str:
    rows = [f"| `{t}` | {', '.join(v['roles'])} | {', '.join(f'`{c}`' for c in v['codes'])} |"
            for t, v in types.items()]
    return "\n".join([f"| event type (`{EVENT_TYPES_KEY}`) | posted by | answers, in the "
                      "order checked |", "|---|---|---|", *rows])


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _in_order(roles: Iterable[str]) -> list[str]:
    chosen = set(roles)
    return [role for role in ROLES if role in chosen]


def _ordered(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(codes))
