"""/openapi.json is a valid OpenAPI 3 document that lists every SPEC §4 route and describes
the POST bodies exactly as the server validates them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from service.ledger.commands import InvalidRequest
from service.ledger.fields import parse
from service.ledger.payloads import DEAL_APPLICATION
from service.settings import Settings
from tests.support.factories import (
    BOARD_APPROVED,
    FINANCED,
    application,
    event,
    lifecycle_to_financed,
    writer_headers,
)

SPEC_ROUTES = [
    ("post", "/v1/deals"), ("get", "/v1/deals"),
    ("post", "/v1/deals/{deal_id}/events"), ("get", "/v1/deals/{deal_id}/events"),
    ("get", "/v1/deals/{deal_id}"), ("post", "/v1/batches"),
    ("get", "/v1/events"), ("get", "/v1/events/stream"),
    ("get", "/v1/portfolio"), ("get", "/v1/portfolio/deals"),
    ("get", "/v1/licenses/{license_number}"),  # SPEC v3
    ("get", "/v1/audit/deals/{deal_id}"), ("get", "/v1/audit/log"),
    ("get", "/v1/audit/verify"), ("get", "/v1/audit/digest"), ("get", "/v1/audit/public-key"),
    ("get", "/v1/audit/proof"), ("get", "/v1/audit/consistency"),
    ("get", "/v1/projections"), ("post", "/v1/projections/{name}/rebuild"),
    ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"),
]
WRITES = ["/v1/deals", "/v1/deals/{deal_id}/events", "/v1/batches",
          # the program stream's (SPEC v3): each takes an Idempotency-Key like any write
          "/v1/policies", "/v1/policies/{policy_id}/approval",
          "/v1/policies/{policy_id}/withdrawal", "/v1/program/authorizations",
          "/v1/program/suspensions"]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fetched once over HTTP; serving the document needs no database."""
    from service.api.app import create_app

    path: Path = tmp_path_factory.mktemp("openapi") / "unused.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}"))

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as c:
            return await c.get("/openapi.json")

    r = asyncio.run(fetch())
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def body_validator(document: dict[str, Any], path: str) -> Draft202012Validator:
    """A JSON Schema validator for the request body of POST ``path``, refs resolved."""
    content = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    schema = {**content["schema"], "components": document["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_document_is_valid_openapi_3(document: dict[str, Any]):
    assert document["openapi"].startswith("3.")
    validate_openapi(document)


@pytest.mark.parametrize(("method", "path"), SPEC_ROUTES)
def test_every_spec_route_is_documented(document: dict[str, Any], method: str, path: str):
    assert method in document["paths"].get(path, {}), f"{method.upper()} {path} is missing"


def test_the_application_schema_accepts_a_factory_application(document: dict[str, Any]):
    schema = body_validator(document, "/v1/deals")
    schema.validate(application())
    schema.validate(application(us_content_pct="62.5", occurred_at="2026-05-14T09:30:00Z"))


def test_the_application_schema_refuses_an_unknown_field(document: dict[str, Any]):
    assert not body_validator(document, "/v1/deals").is_valid(application(colour="blue"))


@pytest.mark.parametrize("change", [
    {"contract_value": 10000000},
    {"contract_value": "1e7"},
    {"financed_amount": "-5.00"},
    {"tenor_years": 19},
    {"tenor_years": "5"},
    {"instrument": "grant"},
    {"buyer": {"name": "Rheinland Rechenzentrum GmbH", "country": "de"}},
    {"buyer": {"name": "", "country": "DE"}},
    {"application_number": "exim-1"},
    {"items": []},
    {"us_content_pct": "100.12345"},
])
def test_what_validation_refuses_the_schema_refuses_too(document: dict[str, Any],
                                                        change: dict[str, Any]):
    body = application(**change)
    with pytest.raises(InvalidRequest):
        parse(DEAL_APPLICATION, body)
    assert not body_validator(document, "/v1/deals").is_valid(body)


async def test_the_documented_example_is_accepted_by_the_server(
    document: dict[str, Any], client: httpx.AsyncClient
):
    media = document["paths"]["/v1/deals"]["post"]["requestBody"]["content"]["application/json"]
    example = media["examples"]["application"]["value"]
    body_validator(document, "/v1/deals").validate(example)
    r = await client.post("/v1/deals", json=example, headers=writer_headers())
    assert r.status_code == 201, r.text


def test_each_deal_event_is_described_by_its_type(document: dict[str, Any]):
    schema = body_validator(document, "/v1/deals/{deal_id}/events")
    for body in lifecycle_to_financed():
        schema.validate({**body, "expected_version": 1})
    assert not schema.is_valid(event("DealFinanced", **BOARD_APPROVED))
    assert not schema.is_valid(event("DealApplied", **application()))
    assert not schema.is_valid({**event("DealFinanced", **FINANCED), "deal_id": "x"})


def test_a_batch_refers_to_deals_by_id_or_application_number(document: dict[str, Any]):
    schema = body_validator(document, "/v1/batches")
    number = application()["application_number"]
    items = [event("DealApplied", **application(application_number=number))]
    items += [{**e, "application_number": number} for e in lifecycle_to_financed()]
    schema.validate({"events": items})
    assert not schema.is_valid({"events": [event("DealFinanced", **FINANCED)]})
    assert not schema.is_valid({"events": []})
    assert not schema.is_valid({"events": items[:1] * 1001})


@pytest.mark.parametrize("path", WRITES)
def test_writes_document_their_headers_and_problem_responses(document: dict[str, Any],
                                                             path: str):
    operation = document["paths"][path]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"Idempotency-Key", "X-Source-System", "X-Correlation-ID"} <= headers
    assert ("If-Match" in headers) == (path == "/v1/deals/{deal_id}/events")
    responses = operation["responses"]
    assert "201" in responses
    for status in ("401", "403", "409", "422", "503"):
        [(media_type, media)] = responses[status]["content"].items()
        assert media_type == "application/problem+json"
        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert media["examples"], status  # their truth: test_openapi_problems.py
    assert "code" in document["components"]["schemas"]["Problem"]["required"]


# --- the whole document: security, read bodies, problems ----------------------------------


def operations(document: dict[str, Any], prefix: str = "/v1/") -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", operation)
            for path, item in document["paths"].items() if path.startswith(prefix)
            for method, operation in item.items()]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return resolve(document, document["components"]["schemas"][ref.rsplit("/", 1)[1]]) \
        if ref else schema


def test_every_v1_operation_requires_the_bearer_scheme(document: dict[str, Any]):
    schemes = document["components"]["securitySchemes"]
    [name] = [n for n, s in schemes.items() if (s["type"], s["scheme"]) == ("http", "bearer")]
    for operation_name, operation in operations(document):
        assert operation["security"] == [{name: []}], operation_name


def test_every_v1_read_documents_its_200_body(document: dict[str, Any]):
    reads = [(n, o) for n, o in operations(document) if n.startswith("GET ")]
    assert len(reads) >= 15
    for name, operation in reads:
        content = operation["responses"]["200"]["content"]
        assert content, name
        for media in content.values():
            assert resolve(document, media["schema"]), name


def test_every_documented_4xx_is_a_problem(document: dict[str, Any]):
    problem = {"$ref": "#/components/schemas/Problem"}
    for name, operation in operations(document, prefix="/"):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/problem+json"], name
                media = response["content"]["application/problem+json"]
                assert media["schema"] == problem, f"{name} {status}"
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in operation["responses"], name
    assert "HTTPValidationError" not in document["components"]["schemas"]
