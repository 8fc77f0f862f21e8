"""The framing shared by every POST: body limits, JSON, idempotency, the response."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from domain.errors import LedgerError
from service.api.params import DIGITS
from service.api.problems import ApiProblem, error_json
from service.eventstore.types import KeyAlreadyBound, StoredResponse, StreamConflict
from service.ledger.application import Ledger
from service.ledger.commands import Command, Context, Idempotency, Outcome, Render

# the most commands decided on the event loop: a batch's decision takes milliseconds,
# which the loop's other requests would wait for
LOOP_COMMANDS = 8


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)  # one C call per object; which key came twice is sought only then
    if len(obj) != len(pairs):
        raise ValueError(f"duplicate key {_first_repeat(pairs)!r}")
    return obj


def _first_repeat(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            return k
        seen.add(k)
    return ""


def _ensure_text(value: Any) -> None:
    """Raise UnicodeEncodeError if ``value`` holds a lone surrogate (from a \\ud800 escape)."""
    json.dumps(value, ensure_ascii=False).encode("utf-8")


async def read_json(request: Request, *, check_text: bool = True) -> Any:
    start = time.perf_counter()
    try:
        return await _read_json(request, check_text)
    finally:
        request.app.state.metrics.write_phase.labels("read_body").observe(
            time.perf_counter() - start)


async def _read_json(request: Request, check_text: bool) -> Any:
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
        # \ud800-style escapes decode to lone surrogates, which are not storable text;
        # UTF-8 itself cannot carry a surrogate, so a body without "\u" holds none
        if check_text and b"\\u" in body:
            _ensure_text(parsed)
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


def fingerprint(request: Request, body: Any) -> str:
    material = {
        "method": request.method,
        "path": request.url.path,
        "if_match": request.headers.get("if-match"),
        "body": body,
    }
    # the canonical JSON of the request; a lone surrogate (a body the schema will refuse)
    # is passed through rather than failing before the schema can name where it is
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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


def render_error(error: LedgerError) -> StoredResponse:
    return StoredResponse(error.status, error_json(error))


async def submit(
    request: Request, ledger: Ledger, ctx: Context, body: Any,
    commands: Callable[[], list[Command]], render: Render,
) -> Response:
    """Decide and record the ``commands`` of ``body`` as one write. A request whose key
    is bound replays its answer (or is refused as a reuse) before its body is judged."""
    idem = None
    if ctx.idempotency_key is not None:
        idem = Idempotency(ctx.actor, ctx.idempotency_key, fingerprint(request, body))
    start = time.perf_counter()
    outcome = await record(ledger, commands, ctx, render, idem)
    request.app.state.metrics.write_phase.labels("record").observe(time.perf_counter() - start)
    return _answer(request, outcome)


async def record(ledger: Ledger, commands: Callable[[], list[Command]], ctx: Context,
                 render: Render, idem: Idempotency | None) -> Outcome:
    """Decide and commit: on the event loop when the write is small, carries no key to
    look up and its facts are in memory (no thread waits for the group commit); else,
    or when that attempt was refused or met a concurrent writer, by ``Ledger.submit`` on
    a worker thread, which loads the facts again and decides afresh."""
    todo: Callable[[], list[Command]] | list[Command] = commands
    if idem is None:
        todo = commands()
        pending = ledger.begin(todo, ctx, render) if len(todo) <= LOOP_COMMANDS else None
        if pending is not None:
            try:
                return pending.finish(await asyncio.wrap_future(pending.future))
            except (StreamConflict, KeyAlreadyBound):
                pending.lost()
    return await run_in_threadpool(ledger.submit, todo, ctx, render, render_error, idem)


def _answer(request: Request, outcome: Outcome) -> Response:
    """The response, and what the write recorded for the request's log line and metrics."""
    if outcome.envelopes:
        deals = sorted({str(e["deal_id"]) for e in outcome.envelopes})
        position = max(e["position"] for e in outcome.envelopes)
        log = request.scope.get("state", {}).get("log")
        if log is not None:
            log.update(deal_id=deals[0] if len(deals) == 1 else deals, position=position)
        if not outcome.replayed:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            request.app.state.metrics.written.labels(route).observe(len(outcome.envelopes))
    return to_response(outcome)
