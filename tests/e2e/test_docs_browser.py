"""/docs in a real Chromium: Swagger UI renders from the package's own assets with no failed
request and nothing asked of another host, and "Authorize" with a key makes "Try it out"
succeed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import KEYS
from tests.support.browser_support import WAIT_MS, screenshot, watched_page
from tests.support.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

PORTFOLIO = "#operations-portfolio-get_portfolio_v1_portfolio_get"


@pytest.fixture
def live_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The documentation does not depend on the database: SQLite is enough."""
    import shutil

    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_the_docs_render_offline_and_authorize_works(
        live_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = live_server.url
    with watched_page(browser, url) as (page, watch):
        page.goto(f"{url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(
            "ExportAI Deal Ledger", timeout=WAIT_MS)
        expect(page.locator(".opblock").first).to_be_visible()
        assert page.locator(".opblock").count() >= 25

        page.click("button.authorize")
        page.fill(".auth-container input", KEYS["reader"])
        page.click(".auth-btn-wrapper button.authorize")
        page.click(".auth-btn-wrapper button.btn-done")

        operation = page.locator(PORTFOLIO)
        operation.locator(".opblock-summary").click()
        example = operation.locator(".response[data-code='200'] .example")
        expect(example.first).to_contain_text('"5756000.00"', timeout=WAIT_MS)
        operation.locator(".try-out__btn").click()
        operation.locator("button.execute").click()
        status = operation.locator(".live-responses-table .response .response-col_status")
        expect(status).to_have_text("200", timeout=WAIT_MS)
        screenshot(page, tmp_path, "docs.png")

        assert [u for u in watch.urls if KEYS["reader"] in u] == []
        watch.assert_clean()
