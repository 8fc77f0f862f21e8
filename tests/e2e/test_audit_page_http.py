"""The auditor's page over HTTP, and cross-origin reads of the audit endpoints
(LEDGER_AUDIT_CORS_ORIGINS): the origins the operator lists may read them, preflight
included; any other origin gets no CORS header, and its preflight a 403 problem."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from service.api.routes.dashboard import audit_csp
from service.settings import Settings
from tests.conftest import BOOTSTRAP, auth
from tests.support.factories import assert_problem

LISTED = "https://audit.example.org"
KEPT = Path(__file__).resolve().parents[2] / "tools" / "audit.html"
AUDITOR = auth("auditor")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP,
                    audit_cors_origins=f" {LISTED}/ , null")


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"}


@pytest.mark.parametrize("path", ["/v1/audit/digest", "/v1/audit/log", "/v1/events"])
async def test_a_listed_origin_reads_the_audit_endpoints(client: httpx.AsyncClient, path: str):
    r = await client.get(path, headers={**AUDITOR, "Origin": LISTED})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == LISTED
    assert "Origin" in r.headers["vary"]


async def test_a_page_opened_from_a_file_is_the_null_origin_listed_explicitly(
        client: httpx.AsyncClient):
    r = await client.get("/v1/audit/public-key", headers={**AUDITOR, "Origin": "null"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "null"


async def test_a_listed_origin_passes_the_preflight_with_its_authorization_header(
        client: httpx.AsyncClient):
    r = await client.options("/v1/audit/proof", headers=preflight(LISTED))
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == LISTED
    assert "GET" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert r.content == b""


async def test_another_origin_gets_no_cors_headers(client: httpx.AsyncClient):
    r = await client.get("/v1/audit/digest",
                         headers={**AUDITOR, "Origin": "https://evil.example"})
    assert r.status_code == 200  # the browser, not the server, withholds the answer
    assert "access-control-allow-origin" not in r.headers


async def test_another_origins_preflight_is_refused_with_a_problem(client: httpx.AsyncClient):
    r = await client.options("/v1/audit/digest", headers=preflight("https://evil.example"))
    assert_problem(r, 403, "cross_origin_refused")
    assert "access-control-allow-origin" not in r.headers


async def test_endpoints_outside_the_audit_get_no_cors_headers_even_for_a_listed_origin(
        client: httpx.AsyncClient):
    r = await client.get("/v1/portfolio", headers={**auth("reader"), "Origin": LISTED})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


async def test_without_the_setting_no_origin_is_allowed(database_url: str):
    from service.api.app import create_app

    app = create_app(Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://ledger") as c:
        r = await c.options("/v1/audit/digest", headers=preflight("null"))
        assert_problem(r, 403, "cross_origin_refused")
        r = await c.get("/v1/audit/digest", headers={**AUDITOR, "Origin": "null"})
        assert "access-control-allow-origin" not in r.headers


async def test_the_service_serves_the_auditors_file_with_a_csp_of_its_inline_hashes(
        client: httpx.AsyncClient):
    r = await client.get("/dashboard/audit")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == KEPT.read_text(encoding="utf-8")
    assert r.headers["content-security-policy"] == audit_csp(r.text)
    assert "connect-src 'self'" in r.headers["content-security-policy"]
