"""The dashboard in a real Chromium against a real server holding the demo portfolio: the
figures it shows are the API's, it follows new events without a reload, it keeps the key
out of every URL, and it asks nothing of another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import KEYS, auth
from tests.support.browser_support import chromium, screenshot, watched_page
from tests.support.factories import application
from tests.support.live_server import LiveServer, cli

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

DEMO_DEALS = "60"
WAIT_MS = 30_000  # generous: the CI machine is a loaded 2-core box


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def demo_server(live_server: LiveServer) -> LiveServer:
    loaded = cli(live_server.env, "demo", "--deals", DEMO_DEALS)
    assert loaded.returncode == 0, loaded.stderr
    return live_server


def portfolio_at_head(url: str) -> dict[str, Any]:
    """The API's portfolio once it reflects every event on the ledger."""
    head = httpx.get(f"{url}/v1/projections", headers=auth("reader")).json()
    position = max(p["head"] for p in head["projections"])
    r = httpx.get(f"{url}/v1/portfolio", params={"min_position": position},
                  headers=auth("reader"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def open_with_key(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/")
    page.wait_for_url(f"{url}/dashboard")
    page.fill("#key", key)
    page.click("#key-form button[type=submit]")


def expect_position(page: Page, position: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#portfolio-position")).to_have_text(str(position), timeout=WAIT_MS)


def shown_totals(page: Page) -> dict[str, str]:
    cells = page.locator("[data-total]")
    return {cells.nth(i).get_attribute("data-total") or "": cells.nth(i).inner_text()
            .replace(",", "") for i in range(cells.count())}


def assert_page_matches(page: Page, portfolio: dict[str, Any]) -> None:
    expected = {name: str(portfolio["totals"][name])
                for name in ("deals", "committed", "disbursed", "outstanding", "exposure")}
    assert shown_totals(page) == expected
    for stage, count in portfolio["by_stage"].items():
        row = page.locator(f"#by-stage td[data-stage='{stage}'] + td")
        assert row.inner_text() == str(count), stage
    countries = page.locator("#by-country td[data-country]")
    assert sorted(countries.all_inner_texts()) == sorted(
        r["country"] for r in portfolio["by_country"])


def test_the_dashboard_shows_the_portfolio_and_follows_new_events(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    before = portfolio_at_head(url)
    assert before["totals"]["deals"] == int(DEMO_DEALS)
    with watched_page(browser, url) as (page, watch):
        open_with_key(page, url, KEYS["reader"])
        expect_position(page, before["position"])
        assert_page_matches(page, before)
        expect(page.locator("#projections td[data-projection='portfolio']")).to_be_visible()
        expect(page.locator("#events li").first).to_have_attribute(
            "data-position", str(before["position"]), timeout=WAIT_MS)
        expect(page.locator("#exposure-chart")).to_be_visible()

        created = httpx.post(f"{url}/v1/deals", json=application(), headers=auth("writer"))
        assert created.status_code == 201, created.text
        position = created.json()["position"]

        expect(page.locator(f"#events li[data-position='{position}']")).to_contain_text(
            "DealApplied", timeout=WAIT_MS)
        expect_position(page, position)
        after = portfolio_at_head(url)
        assert after["totals"]["deals"] == before["totals"]["deals"] + 1
        assert_page_matches(page, after)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        screenshot(page, tmp_path, "dashboard.png")

        assert page.evaluate("sessionStorage.length") == 1
        assert page.evaluate("localStorage.length") == 0
        assert [u for u in watch.urls if KEYS["reader"] in u] == []
        watch.assert_clean()


def test_the_key_lasts_as_long_as_the_tab(live_server: LiveServer, browser: Browser):
    from playwright.sync_api import expect

    url = live_server.url
    with watched_page(browser, url) as (page, watch):
        open_with_key(page, url, KEYS["reader"])
        expect(page.locator("#board")).to_be_visible(timeout=WAIT_MS)
        page.reload()
        expect(page.locator("#board")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#key-form")).to_be_hidden()
        page.click("#forget")
        expect(page.locator("#key-form")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0
        watch.assert_clean(navigated=True)
    with watched_page(browser, url) as (page, _):  # another tab's session storage
        page.goto(f"{url}/dashboard")
        expect(page.locator("#key-form")).to_be_visible(timeout=WAIT_MS)


def test_a_refused_key_is_asked_for_again(live_server: LiveServer, browser: Browser):
    from playwright.sync_api import expect

    url = live_server.url
    with watched_page(browser, url) as (page, watch):
        open_with_key(page, url, "not-a-key-of-this-ledger")
        expect(page.locator("#key-error")).to_contain_text("unknown or revoked",
                                                           timeout=WAIT_MS)
        expect(page.locator("#board")).to_be_hidden()
        assert page.evaluate("sessionStorage.length") == 0
        # Chromium reports the 401 itself as a failed resource load; nothing else may fail.
        unexpected = [e for e in watch.errors if not re.search(r"status of 401", e)]
        assert unexpected == []
        assert watch.foreign == []
