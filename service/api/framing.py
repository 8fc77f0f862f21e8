"""The framing shared by every POST: body limits, JSON, headers, idempotency."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from domain.chain import canonical_json
from domain.errors import LedgerError
from service.api.problems import ApiProblem, error_json
from service.eventstore.types import StoredResponse
from service.keys import ApiKey
from service.ledger import Command, Context, Idempotency, Ledger, Outcome, Render

HEADER_TEXT = re.compile(r"[\x21-\x7e][\x20-\x7e]*", re.ASCII)
DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
IF_MATCH = re.compile(r'"([0-9]{1,18})"|([0-9]{1,18})', re.ASCII)
HEADER_MAX = 200  # X-Source-System, X-Correlation-ID
IDEMPOTENCY_KEY_MAX = 128


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def ensure_text(value: Any) -> None:
    """Raise UnicodeEncodeError if ``value`` holds a lone surrogate (from a \\ud800 escape)."""
    json.dumps(value, ensure_ascii=False).encode("utf-8")


async def read_json(request: Request, *, check_text: bool = True) -> Any:
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and DIGITS.fullmatch(declared) and int(declared) > limit:
        raise ApiProblem(413, "payload_too_large", f"the body exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiProblem(413, "payload_too_large", f"the body exceeds {limit} bytes")
    if not body:
        raise ApiProblem(422, "validation_error", "the request body is empty",
                         errors=[{"field": "body", "message": "a JSON object is required"}])
    try:
        parsed = json.loads(bytes(body).decode("utf-8"), parse_constant=_no_constants,
                            object_pairs_hook=_unique_keys)
        if check_text:  # \ud800-style escapes decode to lone surrogates: not storable text
            ensure_text(parsed)
        return parsed
    except UnicodeEncodeError:
        raise ApiProblem(422, "validation_error", "the body contains an unpaired surrogate "
                         "escape (\\ud800-\\udfff), which is not text",
                         errors=[{"field": "body", "message": "unpaired surrogate"}]) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiProblem(422, "validation_error", f"the body is not valid UTF-8 JSON: {e}",
                         errors=[{"field": "body", "message": "malformed JSON"}]) from None
    except RecursionError:
        raise ApiProblem(422, "validation_error", "the body is nested too deeply",
                         errors=[{"field": "body", "message": "nested too deeply"}]) from None


def _header(request: Request, name: str, max_len: int) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not (1 <= len(value) <= max_len) or not HEADER_TEXT.fullmatch(value):
        raise ApiProblem(422, "validation_error", f"header {name} must be 1-{max_len} printable "
                         "ASCII characters", errors=[{"field": f"header:{name}",
                                                      "message": "invalid"}])
    return value


def if_match_version(request: Request) -> int | None:
    value = request.headers.get("if-match")
    if value is None:
        return None
    m = IF_MATCH.fullmatch(value.strip())
    if not m:
        raise ApiProblem(422, "validation_error", 'If-Match must be a version like "3"',
                         errors=[{"field": "header:If-Match", "message": "invalid"}])
    return int(m.group(1) or m.group(2))


def context(request: Request, key: ApiKey) -> Context:
    return Context(
        actor=key.name,
        source=_header(request, "x-source-system", HEADER_MAX),
        correlation_id=_header(request, "x-correlation-id", HEADER_MAX),
        idempotency_key=_header(request, "idempotency-key", IDEMPOTENCY_KEY_MAX),
    )


def fingerprint(request: Request, body: Any) -> str:
    material = {
        "method": request.method,
        "path": request.url.path,
        "if_match": request.headers.get("if-match"),
        "body": body,
    }
    return hashlib.sha256(canonical_json(material)).hexdigest()


def to_response(outcome: Outcome) -> Response:
    r = outcome.response
    headers = {}
    if r.location:
        headers["Location"] = r.location
    if outcome.replayed:
        headers["Idempotency-Replayed"] = "true"
    if outcome.envelopes:
        headers["X-Ledger-Position"] = str(max(e["position"] for e in outcome.envelopes))
    media = "application/json" if r.status < 400 else "application/problem+json"
    return Response(r.body, status_code=r.status, media_type=media, headers=headers)


def render_json(status: int, build: Callable[[list[dict[str, Any]]], Any],
                location: Callable[[list[dict[str, Any]]], str | None] | None = None) -> Render:
    def render(envelopes: list[dict[str, Any]]) -> StoredResponse:
        body = json.dumps(build(envelopes), ensure_ascii=False)
        return StoredResponse(status, body, location(envelopes) if location else None)

    return render


def render_error(error: LedgerError) -> StoredResponse:
    return StoredResponse(error.status, error_json(error))


def expected_version(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiProblem(422, "validation_error", f"{field} must be a non-negative integer",
                         errors=[{"field": field, "message": "must be a non-negative integer"}])
    return value


async def submit(
    request: Request, ledger: Ledger, key: ApiKey, body: Any,
    commands: list[Command], render: Render,
) -> Response:
    ctx = context(request, key)
    idem = None
    if ctx.idempotency_key is not None:
        idem = Idempotency(key.name, ctx.idempotency_key, fingerprint(request, body))
    outcome = await run_in_threadpool(ledger.submit, commands, ctx, render, render_error, idem)
    return to_response(outcome)
