"""OpenAPI for clients (SPEC §4 writes).

The POST routes read raw bodies so that they word every error themselves, which leaves
FastAPI nothing to describe. The request bodies, headers and responses are described here
instead, and the event payloads are generated from the field specs that validate them
(``service.api.schemas.SCHEMAS``), so the documentation cannot drift from validation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from service.api.framing import HEADER_MAX, HEADER_TEXT, IDEMPOTENCY_KEY_MAX, IF_MATCH
from service.api.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from service.api.schemas import EVENT_TYPES, SCHEMAS, JsonSchema, anchored, object_schema

REF = "#/components/schemas/"
DEAL_EVENT_TYPES = tuple(t for t in EVENT_TYPES if t != "DealApplied")

EXAMPLE_APPLICATION: dict[str, Any] = {
    "application_number": "EXIM-000123",
    "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
    "buyer": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
    "instrument": "loan_guarantee",
    "term": "medium",
    "contract_value": "10000000.00",
    "financed_amount": "8500000.00",
    "tenor_years": 5,
    "items": [
        {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
         "quantity": 64, "value": "8000000.00"},
        {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
         "quantity": 8, "value": "2000000.00"},
    ],
    "us_content_pct": "85",
    "occurred_at": "2026-05-14T09:30:00Z",
}


def ref(name: str) -> JsonSchema:
    return {"$ref": REF + name}


# ---- schemas ------------------------------------------------------------------------------


def payload_schemas() -> dict[str, JsonSchema]:
    """One JSON Schema per event type's ``data``, from the same specs that validate it."""
    out: dict[str, JsonSchema] = {}
    for name, spec in SCHEMAS.items():
        schema = copy.deepcopy(object_schema(spec.fields))
        schema["title"] = name
        if spec.rule is not None and spec.rule.__doc__:
            schema["description"] = spec.rule.__doc__.strip()
        out[name] = schema
    return out


OCCURRED_AT: JsonSchema = {
    "type": ["string", "null"], "format": "date-time",
    "description": "business time, RFC 3339 with a zone offset; default: recorded_at; at "
                   "most 5 minutes in the future",
}
EXPECTED_VERSION: JsonSchema = {
    "type": ["integer", "null"], "minimum": 0,
    "description": "refuse with 409 version_conflict unless the deal is at this version; "
                   "the same as If-Match",
}


def _variant(type_name: str, extra: dict[str, JsonSchema]) -> JsonSchema:
    return {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": [type_name]},
                       "data": ref(type_name), "occurred_at": OCCURRED_AT,
                       "expected_version": EXPECTED_VERSION, **extra},
        "required": ["type", "data"],
        "additionalProperties": False,
    }


def _tagged_union(variants: dict[str, str]) -> JsonSchema:
    """``oneOf`` the variants, discriminated by the body's ``type`` (type -> component)."""
    return {"oneOf": [ref(name) for name in variants.values()],
            "discriminator": {"propertyName": "type",
                              "mapping": {t: REF + name for t, name in variants.items()}}}


def _field_schema(type_name: str, field: str) -> JsonSchema:
    return next(f.validate.json_schema for f in SCHEMAS[type_name].fields if f.name == field)


def _batch_item(type_name: str) -> JsonSchema:
    number = _field_schema("DealApplied", "application_number")
    target = {
        "deal_id": {"type": ["string", "null"], "format": "uuid"},
        "application_number": {"type": ["string", "null"], "pattern": number["pattern"],
                               "description": "the deal, possibly applied for earlier in "
                                              "this batch"},
    }
    item = _variant(type_name, target)
    if type_name != "DealApplied":
        item["anyOf"] = [{"required": ["deal_id"]}, {"required": ["application_number"]}]
    return item


def _envelope() -> JsonSchema:
    uuid = {"type": "string", "format": "uuid"}
    hex64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    text_or_null = {"type": ["string", "null"]}
    properties: dict[str, JsonSchema] = {
        "event_id": uuid, "deal_id": uuid,
        "version": {"type": "integer", "minimum": 1},
        "position": {"type": "integer", "minimum": 1},
        "type": {"type": "string", "enum": list(EVENT_TYPES)},
        "data": {"type": "object"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "recorded_at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "source": text_or_null, "correlation_id": text_or_null,
        "idempotency_key": text_or_null,
        "policy_version": {"type": "string"},
        "prev_hash": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "hash": hex64,
    }
    return {"type": "object", "properties": properties, "required": list(properties),
            "description": "SPEC §3: hash = SHA-256 of the canonical JSON of deal_id, version, "
                           "type, data, occurred_at, recorded_at, actor, source, prev_hash"}


def _problem() -> JsonSchema:
    field_error = {"type": "object", "properties": {"field": {"type": "string"},
                                                    "message": {"type": "string"}},
                   "required": ["field", "message"]}
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "a rule code, or validation_error, "
                     "version_conflict, idempotency_key_reused, not_found, ..."},
            "errors": {"type": "array", "items": field_error,
                       "description": "validation_error: one entry per bad field"},
            "index": {"type": "integer", "description": "batches: the failing item"},
            "current_version": {"type": "integer", "description": "version_conflict"},
        },
        "required": ["type", "title", "status", "detail", "code"],
    }


def component_schemas() -> dict[str, JsonSchema]:
    schemas = payload_schemas()
    application = copy.deepcopy(schemas["DealApplied"])
    application["title"] = "DealApplication"
    application["properties"]["occurred_at"] = OCCURRED_AT
    schemas["DealApplication"] = application
    for t in DEAL_EVENT_TYPES:
        schemas[f"{t}Event"] = _variant(t, {})
    schemas["EventRequest"] = _tagged_union({t: f"{t}Event" for t in DEAL_EVENT_TYPES})
    for t in EVENT_TYPES:
        schemas[f"{t}BatchItem"] = _batch_item(t)
    schemas["BatchItem"] = _tagged_union({t: f"{t}BatchItem" for t in EVENT_TYPES})
    schemas["Envelope"] = _envelope()
    schemas["Events"] = {"type": "object", "properties": {
        "events": {"type": "array", "items": ref("Envelope")}}, "required": ["events"]}
    schemas["Problem"] = _problem()
    return copy.deepcopy(schemas)


def batch_schema(max_items: int) -> JsonSchema:
    return {"type": "object",
            "properties": {"events": {"type": "array", "items": ref("BatchItem"),
                                      "minItems": 1, "maxItems": max_items}},
            "required": ["events"], "additionalProperties": False}


# ---- operations ---------------------------------------------------------------------------


def _header(name: str, max_len: int, description: str) -> JsonSchema:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": max_len,
                       "pattern": anchored(HEADER_TEXT)}}


def _write_headers(if_match: bool) -> list[JsonSchema]:
    headers = [
        _header("Idempotency-Key", IDEMPOTENCY_KEY_MAX,
                "the same key with the same body returns the original response with "
                "Idempotency-Replayed: true; with another body, 409 idempotency_key_reused"),
        _header("X-Source-System", HEADER_MAX, "stored as the events' source"),
        _header("X-Correlation-ID", HEADER_MAX, "stored as the events' correlation_id"),
    ]
    if if_match:
        headers.append({"name": "If-Match", "in": "header", "required": False,
                        "description": 'the deal version expected, like "3"; the same as '
                                       "expected_version",
                        "schema": {"type": "string", "pattern": anchored(IF_MATCH)}})
    return headers


def _problem_response(description: str) -> JsonSchema:
    return {"description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("Problem")}}}


def write_responses(created: str, body: str, *, location: bool,
                    extra: dict[int, str] | None = None) -> dict[int | str, Any]:
    """``responses=`` for a POST route: 201 with ``body``, and each problem it may answer."""
    headers: dict[str, JsonSchema] = {
        "Idempotency-Replayed": {"description": "true when this is a replayed response",
                                 "schema": {"type": "string", "enum": ["true"]}},
        "X-Ledger-Position": {"description": "the position of the last event written",
                              "schema": {"type": "integer"}},
    }
    if location:
        headers["Location"] = {"description": "the new resource", "schema": {"type": "string"}}
    problems = {
        401: "missing, unknown or revoked API key",
        403: "the key's role may not write",
        409: "idempotency_key_reused, duplicate_application or version_conflict",
        413: "payload_too_large",
        422: "validation_error (with errors), or the business rule violated (its code)",
        503: "database_unavailable (Retry-After)",
        **(extra or {}),
    }
    responses: dict[int | str, Any] = {
        201: {"description": created, "headers": headers,
              "content": {"application/json": {"schema": ref(body)}}},
    }
    responses.update({status: _problem_response(text) for status, text in sorted(problems.items())})
    return responses


def request_body(schema: JsonSchema, *, example: dict[str, Any] | None = None,
                 if_match: bool = False) -> dict[str, Any]:
    """``openapi_extra=`` for a POST route: its JSON body and the write headers."""
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["examples"] = {"application": {"summary": "an application",
                                             "value": copy.deepcopy(example)}}
    return {"requestBody": {"required": True, "content": {"application/json": media}},
            "parameters": _write_headers(if_match)}


def install(app: FastAPI) -> None:
    """Add the component schemas the POST routes refer to, once, when the document is built."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                component_schemas())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
