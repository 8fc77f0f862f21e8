"""The dashboard's page and assets over HTTP: served without a key, locked to this origin by
its Content-Security-Policy, and naming no other host."""

from __future__ import annotations

import re

import httpx

from service.api.routes.dashboard import STATIC

OWN_FILES = ["dashboard/index.html", "dashboard/dashboard.js", "dashboard/dashboard.css"]


async def test_the_root_redirects_to_the_dashboard(client: httpx.AsyncClient):
    r = await client.get("/")
    assert r.status_code == 307
    assert r.headers["location"] == "/dashboard"


async def test_the_page_loads_without_a_key_and_allows_only_its_own_origin(
        client: httpx.AsyncClient):
    r = await client.get("/dashboard")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<script>" not in r.text, "an inline script would need 'unsafe-inline'"


async def test_every_asset_the_page_names_is_served(client: httpx.AsyncClient):
    page = (await client.get("/dashboard")).text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert len(assets) >= 4
    for path in assets:
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.content


def test_the_page_and_its_script_name_no_other_host():
    for name in OWN_FILES:
        text = (STATIC / name).read_text()
        assert re.findall(r"(?:https?:)?//[\w.-]+\.\w+", text) == [], name


async def test_a_missing_asset_is_a_problem_not_a_server_error(client: httpx.AsyncClient):
    r = await client.get("/static/dashboard/nothing-here.js")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_every_vendored_asset_ships_with_its_licence():
    for folder in (STATIC / "vendor").iterdir():
        if folder.is_dir():
            assert any(p.name.startswith("LICENSE") for p in folder.iterdir()), folder


def test_an_installed_package_ships_every_static_file():
    """A non-editable install (the Dockerfile's) carries only what package-data names."""
    import tomllib

    root = STATIC.parent
    project = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["service"]
    shipped = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    wanted = {p for p in STATIC.rglob("*") if p.is_file()} | {root / "api" / "examples.json"}
    assert wanted - shipped == set()
