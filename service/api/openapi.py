"""The OpenAPI document's helpers: request bodies the routes read themselves, and the
definitions FastAPI cannot see."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

from service.api.examples import add_examples

REF = "#/components/schemas/"
EVENT_TYPES_KEY, ROLES_KEY, CODES_KEY = "x-event-types", "x-roles", "x-rule-codes"


def json_schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    return adapter.json_schema(ref_template=REF + "{model}")


def request_body(adapter: TypeAdapter[Any], name: str, posts: Collection[str] = (),
                 **media: Any) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its JSON body itself (see ``read_json``):
    a reference to the component ``name``, defined among the ``$defs`` to hoist; and the
    event types it ``posts``, which ``service.api.operations`` documents from the domain's
    tables."""
    schema = json_schema(adapter)
    defs = {**schema.pop("$defs", {}), name: schema}
    content = {"application/json": {"schema": {"$ref": REF + name, "$defs": defs}, **media}}
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": content}}
    if posts:
        extra[EVENT_TYPES_KEY] = sorted(posts)
    return extra


def hoist_definitions(document: dict[str, Any], components: dict[str, Any]) -> None:
    """Add ``components``; move the ``$defs`` of theirs and of each request body into
    components/schemas, where their ``$ref``s point."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    bodies = [media["schema"] for operations in document["paths"].values()
              for operation in operations.values()
              for media in operation.get("requestBody", {}).get("content", {}).values()]
    for schema in [*bodies, *components.values()]:
        schemas.update(schema.pop("$defs", {}))


def complete_openapi(app: FastAPI) -> None:
    """FastAPI documents the routes; add what they refer to but it cannot see: the
    request bodies' definitions (routes read their bodies themselves) and ``Problem``; who
    may call each operation and what it answers; then an example for every body."""
    from service.api.operations import describe_operations  # which refer to REF, here
    from service.api.responses import Problem

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            hoist_definitions(document, {"Problem": json_schema(TypeAdapter(Problem))})
            describe_operations(app, document)
            add_examples(document)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
