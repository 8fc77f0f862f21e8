"""The query of a read is checked like a body: a parameter its endpoint does not declare,
or a value outside a filter's enum, is a 422 validation_error naming the parameter, never
an answer that silently ignores it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.factories import (
    apply_deal,
    assert_problem,
    direct_loan_application,
    error_fields,
)


@pytest.fixture
async def deal_id(client: httpx.AsyncClient) -> str:
    return str((await apply_deal(client))["deal_id"])


async def refused(client: httpx.AsyncClient, path: str, params: Any,
                  role: str = "reader") -> list[str]:
    """GET ``path`` must be a 422 validation_error; the fields its errors name."""
    r = await client.get(path, params=params, headers=auth(role))
    return error_fields(assert_problem(r, 422, "validation_error"))


@pytest.mark.parametrize(
    ("path", "role"),
    [("/v1/portfolio/deals", "reader"), ("/v1/portfolio", "reader"), ("/v1/events", "reader"),
     ("/v1/events/stream", "reader"), ("/v1/audit/log", "auditor"),
     ("/v1/audit/deals/{deal_id}", "auditor"), ("/v1/audit/verify", "auditor"),
     ("/v1/deals/{deal_id}", "reader"), ("/v1/deals", "reader"),
     ("/v1/exposure", "reader"), ("/v1/keys/trail", "admin")],
)
async def test_a_parameter_the_endpoint_does_not_declare_is_a_validation_error_naming_it(
    client: httpx.AsyncClient, deal_id: str, path: str, role: str,
) -> None:
    assert await refused(client, path.format(deal_id=deal_id), {"stages": "applied"},
                         role) == ["stages"]


async def test_every_undeclared_parameter_is_named_once_beside_declared_ones(
    client: httpx.AsyncClient,
) -> None:
    query = [("limit", "10"), ("colour", "red"), ("stage", "applied"), ("colour", "blue"),
             ("sort", "asc")]
    assert await refused(client, "/v1/portfolio/deals", query) == ["colour", "sort"]


async def test_a_parameter_of_another_endpoint_is_not_declared_here(
    client: httpx.AsyncClient, deal_id: str,
) -> None:
    assert await refused(client, f"/v1/deals/{deal_id}", {"cursor": "1"}) == ["cursor"]
    assert await refused(client, "/v1/events", {"cursor": "1"}) == ["cursor"]
    assert await refused(client, "/v1/projections", {"stage": "applied"}) == ["stage"]


async def test_read_your_writes_may_be_asked_of_every_read(
    client: httpx.AsyncClient, deal_id: str,
) -> None:
    """A read from the log is always current: min_position passes there too."""
    for path in (f"/v1/deals/{deal_id}", f"/v1/deals/{deal_id}/events", "/v1/projections"):
        r = await client.get(path, params={"min_position": 0}, headers=auth("reader"))
        assert r.status_code == 200, (path, r.text)


async def test_a_repeated_declared_parameter_is_not_an_unknown_one(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/v1/events", params=[("limit", "5"), ("limit", "6")],
                         headers=auth("reader"))
    assert r.status_code == 200, r.text


async def test_the_declared_parameters_still_pass_by_their_spelling_on_the_wire(
    client: httpx.AsyncClient, deal_id: str,
) -> None:
    moment = "2020-01-01T00:00:00Z"
    r = await client.get("/v1/audit/log", params={"from": moment, "to": "2999-01-01T00:00:00Z",
                                                   "format": "json", "min_position": 0},
                         headers=auth("auditor"))
    assert r.status_code == 200, r.text
    assert await refused(client, "/v1/audit/log", {"from_": moment}, "auditor") == ["from_"]


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json", "/docs",
                                  "/dashboard", "/"])
async def test_pages_outside_the_json_api_keep_ignoring_query_parameters(
    client: httpx.AsyncClient, path: str,
) -> None:
    r = await client.get(path, params={"utm_source": "mail"})
    assert r.status_code in (200, 307), r.text  # / redirects to the dashboard


@pytest.mark.parametrize(
    ("name", "value"),
    [("stage", "nope"), ("stage", "APPLIED"), ("instrument", "x"), ("term", "x"),
     ("category", "x"), ("country", "ZZ"), ("country", "de"), ("license_status", "x")],
)
async def test_a_deal_list_filter_outside_its_enum_is_a_validation_error_naming_it(
    client: httpx.AsyncClient, name: str, value: str,
) -> None:
    assert await refused(client, "/v1/portfolio/deals", {name: value}) == [name]


@pytest.mark.parametrize(("name", "value"), [("type", "DealExploded"), ("type", "dealapplied"),
                                             ("format", "xml")])
async def test_an_audit_log_filter_outside_its_enum_is_a_validation_error_naming_it(
    client: httpx.AsyncClient, name: str, value: str,
) -> None:
    assert await refused(client, "/v1/audit/log", {name: value}, "auditor") == [name]


async def test_an_enum_error_says_which_values_are_allowed(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/portfolio/deals", params={"stage": "nope"}, headers=auth("reader"))
    message = r.json()["errors"][0]["message"]
    assert message.startswith('must be one of "applied", "license_pending"'), message
    r = await client.get("/v1/portfolio/deals", params={"term": "short"},
                         headers=auth("reader"))
    assert r.json()["errors"][0]["message"] == 'must be one of "medium", "long"'


async def test_the_deal_list_filters_take_every_value_of_their_enums(
    client: httpx.AsyncClient,
) -> None:
    applied = await apply_deal(client, direct_loan_application(
        buyer={"name": "Nippon Compute KK", "country": "JP"}))
    query = {"stage": "applied", "instrument": "direct_loan", "term": "long",
             "category": "accelerator", "country": "JP", "license_status": "required",
             "min_position": applied["position"]}
    r = await client.get("/v1/portfolio/deals", params=query, headers=auth("reader"))
    assert r.status_code == 200, r.text
    assert [d["deal_id"] for d in r.json()["deals"]] == [applied["deal_id"]]
    for status in ("not_required", "required", "requested", "approved", "partially_approved",
                   "expired", "denied", "revoked"):
        r = await client.get("/v1/portfolio/deals", params={"license_status": status},
                             headers=auth("reader"))
        assert r.status_code == 200, (status, r.text)


async def test_the_audit_log_filters_by_a_known_event_type(client: httpx.AsyncClient) -> None:
    applied = await apply_deal(client)
    r = await client.get("/v1/audit/log", params={
        "type": "DealApplied", "deal_id": applied["deal_id"], "min_position": applied["position"]},
        headers=auth("auditor"))
    assert r.status_code == 200, r.text
    assert [e["event_id"] for e in r.json()["entries"]] == [applied["event_id"]]
    r = await client.get("/v1/audit/log", params={"type": "ProgramAuthorized"},
                         headers=auth("auditor"))
    assert r.status_code == 200, r.text


async def test_the_openapi_document_lists_the_filters_values(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    def enum(path: str, name: str) -> list[str]:
        parameters = document["paths"][path]["get"]["parameters"]
        schema = next(p["schema"] for p in parameters if p["name"] == name)
        options = [s for s in schema.get("anyOf", [schema]) if "enum" in s]
        assert len(options) == 1, schema
        values: list[str] = options[0]["enum"]
        return values

    assert enum("/v1/portfolio/deals", "term") == ["medium", "long"]
    assert enum("/v1/portfolio/deals", "instrument") == ["insurance", "loan_guarantee",
                                                         "direct_loan"]
    assert "board_stale" in enum("/v1/portfolio/deals", "stage")
    assert "accelerator" in enum("/v1/portfolio/deals", "category")
    assert "JP" in enum("/v1/portfolio/deals", "country")
    assert "partially_approved" in enum("/v1/portfolio/deals", "license_status")
    assert "ProgramSuspended" in enum("/v1/audit/log", "type")
    assert enum("/v1/audit/log", "format") == ["json", "jsonl", "csv"]
