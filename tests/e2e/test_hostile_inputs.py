"""Hostile inputs found by fuzzing a real server (SQLite and PostgreSQL): every one must be
a 4xx RFC 9457 problem with a `code`, and a rejected write must append nothing (SPEC §4:
"No input ever produces a 5xx"; "A request that fails appends no event")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import auth
from tests.support.factories import (
    LICENSE_REQUESTED,
    application,
    apply_deal,
    assert_problem,
    error_fields,
    whole_log,
    writer_headers,
)

LONE_SURROGATE_KEY_EVENT = b'{"type":"LicenseRequested","data":{},"\\ud800":1}'


def raw(body: bytes, **headers: str) -> dict[str, Any]:
    """Keyword arguments for posting ``body`` byte for byte (JSON escapes kept as sent)."""
    return {"content": body,
            "headers": writer_headers(**{"Content-Type": "application/json", **headers})}


async def _rejected_without_writing(client: Any, method: str, url: str, status: int,
                                    code: str, **kwargs: Any) -> dict[str, Any]:
    before = await whole_log(client)
    r = await client.request(method, url, **kwargs)
    body = assert_problem(r, status, code)
    assert await whole_log(client) == before, "a rejected request appended events"
    return body


# --- lone surrogates (\ud800 escapes are valid JSON but not encodable UTF-8) -------------


async def test_lone_surrogate_unknown_key_on_deal_event_is_422(client: Any) -> None:
    """The unknown-field problem echoed the raw key; encoding it as UTF-8 crashed (500)."""
    deal_id = (await apply_deal(client))["deal_id"]
    await _rejected_without_writing(
        client, "POST", f"/v1/deals/{deal_id}/events", 422, "validation_error",
        **raw(LONE_SURROGATE_KEY_EVENT))


async def test_lone_surrogate_unknown_key_in_batch_item_is_422(client: Any) -> None:
    deal_id = (await apply_deal(client))["deal_id"]
    body = (b'{"events":[{"type":"LicenseRequested","deal_id":"%s","\\udfff":1}]}'
            % deal_id.encode())
    problem = await _rejected_without_writing(
        client, "POST", "/v1/batches", 422, "validation_error", **raw(body))
    assert problem.get("index") == 0


@pytest.mark.parametrize("body", [
    b'{"type":"LicenseRequested","data":{"application_ref":"\\ud800","eccns":["3A090.a"]}}',
    b'{"type":"LicenseRequested","data":{"application_ref":"Z-1","eccns":["3A090.a"]},'
    b'"\\ud800":1}',
], ids=["surrogate-value", "surrogate-key"])
async def test_lone_surrogate_with_idempotency_key_is_422_and_binds_nothing(
    client: Any, body: bytes,
) -> None:
    """With an Idempotency-Key the body is fingerprinted as UTF-8 first: that crashed (500)."""
    deal_id = (await apply_deal(client))["deal_id"]
    url = f"/v1/deals/{deal_id}/events"
    await _rejected_without_writing(client, "POST", url, 422, "validation_error",
                                    **raw(body, **{"Idempotency-Key": "surrogate-1"}))
    # a schema error binds nothing: the same key with a good body now succeeds
    good = json.dumps({"type": "LicenseRequested", "data": LICENSE_REQUESTED}).encode()
    r = await client.post(url, **raw(good, **{"Idempotency-Key": "surrogate-1"}))
    assert r.status_code == 201, r.text


async def test_lone_surrogate_key_on_apply_with_idempotency_key_is_422(client: Any) -> None:
    await _rejected_without_writing(
        client, "POST", "/v1/deals", 422, "validation_error",
        **raw(b'{"\\ud800":1}', **{"Idempotency-Key": "surrogate-2"}))


async def test_lone_surrogate_in_batch_with_idempotency_key_is_422(client: Any) -> None:
    body = json.dumps({"events": [{"type": "DealApplied",
                                   "data": application(exporter={"name": "\ud800",
                                                                 "country": "US"})}]})
    await _rejected_without_writing(
        client, "POST", "/v1/batches", 422, "validation_error",
        **raw(body.encode(), **{"Idempotency-Key": "surrogate-3"}))


# --- Unicode digits that str.isdigit() accepts but int() refuses ("²" is U+00B2) --------


@pytest.mark.parametrize("url", [
    "/v1/portfolio/deals?cursor=%C2%B2",
    "/v1/audit/log?cursor=%C2%B2",
    "/v1/audit/log?cursor=%C2%B9%C2%B2",
])
async def test_superscript_digit_cursor_is_422(client: Any, url: str) -> None:
    r = await client.get(url, headers=auth("admin"))
    assert_problem(r, 422, "validation_error")


async def test_superscript_digit_last_event_id_is_422(client: Any) -> None:
    """`Last-Event-ID: ²` (byte 0xB2, latin-1 in HTTP) crashed the SSE route before it
    streamed. It is not a position this stream sent: refused like any malformed header."""
    async with client.stream("GET", "/v1/events/stream",
                             headers={**auth("reader"), "Last-Event-ID": b"\xb2"}) as r:
        assert r.status_code == 422  # before reading: a stream would never end
        await r.aread()
    assert error_fields(assert_problem(r, 422, "validation_error")) == ["header:Last-Event-ID"]


# --- U+0000 in query filters (PostgreSQL text cannot hold NUL: DataError -> 500) ---------


@pytest.mark.parametrize("param", ["stage", "country", "instrument", "term", "category"])
async def test_nul_in_portfolio_deal_filter_is_422(client: Any, param: str) -> None:
    """No stored text holds NUL (PostgreSQL text cannot): such a filter is refused, where it
    was a 500."""
    await apply_deal(client)
    r = await client.get(f"/v1/portfolio/deals?{param}=a%00b", headers=auth("reader"))
    assert error_fields(assert_problem(r, 422, "validation_error")) == [param]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
@pytest.mark.parametrize("param", ["actor", "type"])
async def test_nul_in_audit_log_filter_is_422(client: Any, param: str, fmt: str) -> None:
    """In json it was a 500; in jsonl/csv a 200 whose stream died before its first byte
    (not even the CSV header row). Refused before anything is read, in every format."""
    await apply_deal(client)
    r = await client.get(f"/v1/audit/log?format={fmt}&{param}=a%00b", headers=auth("auditor"))
    assert error_fields(assert_problem(r, 422, "validation_error")) == [param]


# --- If-Match: a malformed entity tag is not a version ------------------------------------


@pytest.mark.parametrize("if_match", ['"1', '1"'])
async def test_if_match_with_unbalanced_quote_is_422(client: Any, if_match: str) -> None:
    """`If-Match: "1` (no closing quote) is not an entity tag (RFC 9110 §8.8.3) and not
    `"N"` (SPEC §4); it was read as version 1 and the event was appended. Other malformed
    values (`abc`, `"1e3"`) are already a 422."""
    deal_id = (await apply_deal(client))["deal_id"]
    await _rejected_without_writing(
        client, "POST", f"/v1/deals/{deal_id}/events", 422, "validation_error",
        json={"type": "LicenseRequested", "data": LICENSE_REQUESTED},
        headers=writer_headers(**{"If-Match": if_match}))


# --- pinned: hostile inputs that are handled correctly today ------------------------------


@pytest.mark.parametrize("body", [
    b"",
    b"{",
    b"null",
    b"[]",
    b'{"a":1}garbage',
    b"\xff\xfe",
    b"\xed\xa0\x80",  # a UTF-8-encoded surrogate: not UTF-8
    b'{"type":"LicenseRequested","type":"LicenseRequested","data":{}}',  # duplicate keys
    b'{"type":"LicenseRequested","data":{"x":NaN}}',
    b'{"type":"LicenseRequested","data":{"x":1e400}}',
    b'{"type":"LicenseRequested","data":{},"expected_version":1' + b"0" * 5000 + b"}",
    b'{"type":"LicenseRequested","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"type":"LicenseRequested","data":{"application_ref":"a\\u0000","eccns":["3A090.a"]}}',
], ids=["empty", "truncated", "null", "array", "trailing", "bom16", "utf8-surrogate",
        "duplicate-keys", "nan", "1e400", "5000-digit-int", "deep-nesting", "nul"])
async def test_malformed_event_bodies_are_422(client: Any, body: bytes) -> None:
    deal_id = (await apply_deal(client))["deal_id"]
    await _rejected_without_writing(
        client, "POST", f"/v1/deals/{deal_id}/events", 422, "validation_error",
        **raw(body, **{"Idempotency-Key": "malformed-1"}))


@pytest.mark.parametrize("headers", [
    {"Idempotency-Key": "k" * 129},
    {"Idempotency-Key": "kéy"},
    {"X-Correlation-ID": "c" * 10_000},
], ids=["idempotency-key-129", "idempotency-key-non-ascii", "correlation-id-long"])
async def test_bad_write_headers_are_422(client: Any, headers: dict[str, str]) -> None:
    deal_id = (await apply_deal(client))["deal_id"]
    encoded = {k: v.encode("latin-1") for k, v in headers.items()}
    await _rejected_without_writing(
        client, "POST", f"/v1/deals/{deal_id}/events", 422, "validation_error",
        json={"type": "LicenseRequested", "data": LICENSE_REQUESTED},
        headers={**writer_headers(), **encoded})
