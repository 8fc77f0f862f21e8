"""What /docs shows of refusals is what the server answers: each problem example is reproduced
against a running ledger (same status, code and members; the same detail but for ids and
numbers), each documented problem status shows examples of that status only, and each
operation's ``x-roles`` are the roles the server admits."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from jsonschema import Draft202012Validator
from starlette.requests import Request

from domain.desks import postable_by
from service.api import examples, freshness
from service.api.operations import BY_PARAMETER, GENERAL
from service.api.problems import MEDIA_TYPE
from service.bootstrap import DB_ERRORS
from service.keys import ROLES
from service.settings import Settings
from tests.conftest import auth
from tests.support.factories import application, apply_deal, event, headers_for

REF = "#/components/schemas/"
Scenario = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
DEAL = "/v1/deals/{deal_id}/events"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from service.api.app import create_app

    path: Path = tmp_path_factory.mktemp("openapi") / "unused.db"
    return create_app(Settings(database_url=f"sqlite:///{path}")).openapi()


def problem_responses(document: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", int(status), response["content"][MEDIA_TYPE])
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            for status, response in operation["responses"].items()
            if MEDIA_TYPE in response.get("content", {})]


def test_each_problem_status_shows_examples_of_that_status(document: dict[str, Any]):
    check = Draft202012Validator({"$ref": REF + "Problem", "components": document["components"]})
    for name, status, media in problem_responses(document):
        shown = media.get("examples", {})
        assert shown, f"{name} {status}: no example"
        for code, example in shown.items():
            value = example["value"]
            assert (value["status"], value["code"]) == (status, code), f"{name} {status}"
            assert list(check.iter_errors(value)) == [], f"{name} {status} {code}"


def test_a_rule_example_is_shown_only_where_the_operation_answers_it(document: dict[str, Any]):
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                shown = response.get("content", {}).get(MEDIA_TYPE, {}).get("examples", {})
                rules = set(shown) - {*GENERAL, *BY_PARAMETER, "forbidden"}
                assert rules <= set(operation.get("x-rule-codes", ())), f"{path} {status}"


# -- each example, reproduced ---------------------------------------------------------------


async def _deal(client: httpx.AsyncClient) -> str:
    return str((await apply_deal(client))["deal_id"])


async def _forbidden(c: httpx.AsyncClient) -> httpx.Response:
    return await c.get("/v1/keys", headers=auth("reader"))


async def _event_not_permitted(c: httpx.AsyncClient) -> httpx.Response:
    return await c.post(DEAL.format(deal_id=await _deal(c)), headers=auth("writer"),
                        json=event("CommerceLicenseDenied", application_ref="Z-1001",
                                   reason="end use"))


async def _version_conflict(c: httpx.AsyncClient) -> httpx.Response:
    return await c.post(DEAL.format(deal_id=await _deal(c)), headers=headers_for("DealAmended"),
                        json={**event("DealAmended", tenor_years=6, reason="longer"),
                              "expected_version": 7})


async def _idempotency_key_reused(c: httpx.AsyncClient) -> httpx.Response:
    once = headers_for("DealApplied", **{"Idempotency-Key": "apply-EXIM-000123"})
    assert (await c.post("/v1/deals", json=application(), headers=once)).status_code == 201
    return await c.post("/v1/deals", json=application(), headers=once)


async def _duplicate_application(c: httpx.AsyncClient) -> httpx.Response:
    body = application(application_number="EXIM-000123")
    await apply_deal(c, body)
    return await c.post("/v1/deals", json=body, headers=headers_for("DealApplied"))


async def _not_financed(c: httpx.AsyncClient) -> httpx.Response:
    return await c.post(DEAL.format(deal_id=await _deal(c)),
                        headers=headers_for("FundsDisbursed"),
                        json=event("FundsDisbursed", amount="1000000.00", reference="W-1"))


async def _projection_behind(c: httpx.AsyncClient) -> httpx.Response:
    c.app.state.runner.stop()  # type: ignore[attr-defined]
    head = (await apply_deal(c))["position"]
    timeout, freshness.FRESHNESS_TIMEOUT = freshness.FRESHNESS_TIMEOUT, 0.0
    try:
        return await c.get("/v1/portfolio", params={"min_position": head},
                           headers=auth("reader"))
    finally:
        freshness.FRESHNESS_TIMEOUT = timeout


async def _database_unavailable(c: httpx.AsyncClient) -> httpx.Response:
    handler = c.app.exception_handlers[DB_ERRORS[0]]  # type: ignore[attr-defined]
    answer = await handler(Request({"type": "http", "headers": []}), DB_ERRORS[0]("", {}, None))
    return httpx.Response(answer.status_code, content=answer.body)


SCENARIOS: dict[str, Scenario] = {
    "unauthorized": lambda c: c.get("/v1/portfolio"),
    "forbidden": _forbidden,
    "event_not_permitted": _event_not_permitted,
    "not_found": lambda c: c.get(f"/v1/deals/{uuid4()}", headers=auth("reader")),
    "version_conflict": _version_conflict,
    "idempotency_key_reused": _idempotency_key_reused,
    "duplicate_application": _duplicate_application,
    "position_not_reached": lambda c: c.get("/v1/portfolio", params={"min_position": 10**6},
                                            headers=auth("reader")),
    "key_name_taken": lambda c: c.post("/v1/keys", json={"role": "reader",
                                                         "name": "reader-key"},
                                       headers=auth("admin")),
    "key_already_revoked": lambda c: c.post("/v1/keys/revoked/revoke", headers=auth("admin")),
    "payload_too_large": lambda c: c.post("/v1/deals", content=b" " * (16 * 1024 * 1024 + 1),
                                          headers=headers_for("DealApplied")),
    "validation_error": lambda c: c.post(
        DEAL.format(deal_id=uuid4()), headers=headers_for("FundsDisbursed"),
        json=event("FundsDisbursed", amount=1.5, reference="W-1")),
    "exporter_not_us": lambda c: c.post(
        "/v1/deals", json=application(exporter={"name": "Rheinland", "country": "DE"}),
        headers=headers_for("DealApplied")),
    "not_financed": _not_financed,
    "projection_behind": _projection_behind,
    "database_unavailable": _database_unavailable,
}
VOLATILE = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+")


def test_every_example_has_a_scenario():
    assert {body["code"] for body in examples.load()["problems"]} == set(SCENARIOS)


@pytest.mark.parametrize("code", sorted(SCENARIOS))
async def test_the_example_is_what_the_server_answers(client: httpx.AsyncClient, code: str):
    if code == "key_already_revoked":
        made = await client.post("/v1/keys", json={"role": "reader", "name": "revoked"},
                                 headers=auth("admin"))
        assert made.status_code == 201, made.text
        await client.post("/v1/keys/revoked/revoke", headers=auth("admin"))
    example = next(b for b in examples.load()["problems"] if b["code"] == code)
    answer = (await SCENARIOS[code](client)).json()
    assert {k: v for k, v in answer.items() if k != "detail"} == {
        k: (answer[k] if k in ("current_version", "min_position", "head") else v)
        for k, v in example.items() if k != "detail"}
    assert VOLATILE.sub("#", answer["detail"]) == VOLATILE.sub("#", example["detail"])


# -- x-roles: the roles the server admits -------------------------------------------------


def _probe(path: str, method: str, operation: dict[str, Any], role: str) -> dict[str, Any]:
    """A request of ``operation`` by ``role`` that no rule but the role check would accept
    as it is (no write lands): refused for its body, its target or its role."""
    url = re.sub(r"\{[^}]+\}", lambda m: str(uuid4()) if "id" in m.group() else "nobody",
                 path)
    types = list(operation.get("x-event-types", ()))
    if method == "get":
        return {"method": "GET", "url": url}
    mine = [t for t in types if t in postable_by(role)] or types or ["none"]
    item = event(mine[0])  # empty data: a validation error for who may post it
    body = {"events": [item]} if path == "/v1/batches" else item
    return {"method": "POST", "url": url, "json": {} if path.startswith(
        ("/v1/keys", "/v1/policies", "/v1/program", "/v1/projections")) else body}


async def test_each_operation_admits_exactly_its_x_roles(client: httpx.AsyncClient,
                                                          document: dict[str, Any]):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method != "get" and "stream" in path:
                continue
            roles = operation.get("x-roles")
            if roles is None:
                r = await client.request(method.upper(), path)
                assert r.status_code not in (401, 403), f"{method} {path}: {r.text}"
                continue
            for role in ROLES:
                if path.endswith("/stream"):
                    continue  # an endless response: its gate is Reader, as every read's
                r = await client.request(**_probe(path, method, operation, role),
                                         headers=auth(role))
                admitted = r.status_code not in (401, 403) or r.json()["code"] not in (
                    "forbidden", "event_not_permitted")
                assert admitted == (role in roles), f"{method} {path} {role}: {r.text}"


async def test_each_event_type_admits_exactly_its_desk(client: httpx.AsyncClient,
                                                        document: dict[str, Any]):
    for path in ("/v1/deals", DEAL, "/v1/batches"):
        types = document["paths"][path]["post"]["x-event-types"]
        for type_name, desk in types.items():
            for role in ROLES:
                item = event(type_name)
                body = {"events": [item]} if path == "/v1/batches" else item
                if path == "/v1/deals":
                    body = {}
                r = await client.post(path.format(deal_id=uuid4()), json=body,
                                      headers=auth(role))
                assert (r.status_code != 403) == (role in desk["roles"]), \
                    f"{path} {type_name} {role}: {r.text}"
