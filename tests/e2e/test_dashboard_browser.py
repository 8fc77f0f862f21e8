"""The dashboard in a real Chromium against a real server holding the demo portfolio: the
figures it shows are the API's, it follows new events without a reload, it keeps the key
out of every URL, and it asks nothing of another host; today's refusals by code are the
API's; it reads on a phone (one line per event, every bar labelled) and passes axe-core."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import KEYS, auth
from tests.e2e.conftest import DEMO_DEALS
from tests.support.browser_support import (
    WAIT_MS,
    Watch,
    assert_accessible,
    assert_no_sideways_scroll,
    screenshot,
    watched_page,
)
from tests.support.factories import application
from tests.support.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser



def portfolio_at_head(url: str) -> dict[str, Any]:
    """The API's portfolio once it reflects every event on the ledger."""
    head = httpx.get(f"{url}/v1/projections", headers=auth("reader")).json()
    position = max(p["head"] for p in head["projections"])
    r = httpx.get(f"{url}/v1/portfolio", params={"min_position": position},
                  headers=auth("reader"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def assert_clean_but_refusals_forbidden(watch: Watch, navigated: bool = False) -> None:
    """A reader key is refused today's refusals (403, shown as a note on the panel), and
    Chromium reports that answer itself as a failed resource load: nothing else may fail."""
    watch.errors = [e for e in watch.errors
                    if not ("status of 403" in e and "/v1/refusals?" in e)]
    watch.assert_clean(navigated)


def open_with_key(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/")
    page.wait_for_url(f"{url}/dashboard")
    page.fill("#key", key)
    page.click("#key-form button[type=submit]")


def expect_position(page: Page, position: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#portfolio-position")).to_have_text(str(position), timeout=WAIT_MS)


def shown_totals(page: Page) -> dict[str, str]:
    """Each total's exact figure: the compact text's title carries it (``data-exact``)."""
    cells = page.locator("[data-total]")
    shown = {}
    for i in range(cells.count()):
        cell, exact = cells.nth(i), cells.nth(i).locator(".amount")
        shown[cell.get_attribute("data-total") or ""] = (
            exact.get_attribute("data-exact") or "" if exact.count() else cell.inner_text())
    return shown


def assert_page_matches(page: Page, portfolio: dict[str, Any]) -> None:
    expected = {name: str(portfolio["totals"][name])
                for name in ("deals", "committed", "disbursed", "outstanding", "exposure")}
    assert shown_totals(page) == expected
    for stage, count in portfolio["by_stage"].items():
        row = page.locator(f"#by-stage td[data-stage='{stage}'] + td")
        assert row.inner_text() == str(count), stage
    countries = page.locator("#by-country td[data-country]")
    assert sorted(countries.nth(i).get_attribute("data-country") or ""
                  for i in range(countries.count())) == sorted(
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
        assert_clean_but_refusals_forbidden(watch)


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
        assert_clean_but_refusals_forbidden(watch, navigated=True)
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


def refused_writes(url: str) -> None:
    """Two writes refused with two codes: a duplicate application number (409) and an
    exporter outside the United States (422)."""
    first = application()
    assert httpx.post(f"{url}/v1/deals", json=first, headers=auth("writer"),
                      timeout=30).status_code == 201
    again = httpx.post(f"{url}/v1/deals", json=first, headers=auth("writer"), timeout=30)
    assert again.status_code == 409, again.text
    abroad = application(exporter={"name": "Elsewhere GmbH", "country": "DE"})
    refused = httpx.post(f"{url}/v1/deals", json=abroad, headers=auth("writer"), timeout=30)
    assert refused.status_code == 422, refused.text


def refusals_today(url: str) -> Counter[str]:
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    counts: Counter[str] = Counter()
    cursor = None
    while True:
        r = httpx.get(f"{url}/v1/refusals", headers=auth("auditor"), timeout=30,
                      params={"from": today, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        counts.update(refusal["code"] for refusal in r.json()["refusals"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return counts


def test_the_refusals_panel_counts_todays_refusals_by_code(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    refused_writes(url)
    expected = refusals_today(url)
    assert {"duplicate_application", "exporter_not_us"} <= set(expected)
    with watched_page(browser, url) as (page, watch):
        open_with_key(page, url, KEYS["auditor"])
        expect(page.locator("#refusals")).to_have_attribute("data-state", "shown",
                                                            timeout=WAIT_MS)
        codes = page.locator("#refusals-by-code td[data-code]")
        shown = {codes.nth(i).get_attribute("data-code") or "":
                 int(page.locator(f"#refusals-by-code td[data-count='"
                                  f"{codes.nth(i).get_attribute('data-code')}']").inner_text())
                 for i in range(codes.count())}
        assert shown == dict(expected)
        expect(page.locator("#events li").first).to_be_visible(timeout=WAIT_MS)
        assert_accessible(page)
        screenshot(page, tmp_path, "dashboard-auditor.png")
        watch.assert_clean()


def test_a_reader_key_is_told_that_refusals_need_an_auditor_key(
        live_server: LiveServer, browser: Browser):
    from playwright.sync_api import expect

    url = live_server.url
    with watched_page(browser, url) as (page, watch):
        open_with_key(page, url, KEYS["reader"])
        expect(page.locator("#refusals-note")).to_have_text("An auditor key shows refusals.",
                                                            timeout=WAIT_MS)
        expect(page.locator("#board")).to_be_visible()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live",
                                                              timeout=WAIT_MS)
        assert_clean_but_refusals_forbidden(watch)


def test_the_dashboard_reads_on_a_phone(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    portfolio = portfolio_at_head(url)
    with watched_page(browser, url, width=390, height=844) as (page, watch):
        open_with_key(page, url, KEYS["admin"])
        expect_position(page, portfolio["position"])
        expect(page.locator("#events li").first).to_have_attribute(
            "data-position", str(portfolio["position"]), timeout=WAIT_MS)
        rows = page.evaluate("""() => [...document.querySelectorAll("#events li")].map((li) => {
            const spans = [...li.children].filter((s) => s.offsetParent !== null);
            const line = parseFloat(getComputedStyle(li).lineHeight) || 20;
            return {tops: new Set(spans.map((s) => s.getBoundingClientRect().top)).size,
                    tall: li.getBoundingClientRect().height < 2 * line,
                    deal: !!li.querySelector("a.deal[href^='/dashboard/']")};
        })""")
        assert rows and all(r["tops"] == 1 and r["tall"] for r in rows), rows
        assert all(r["deal"] for r in rows)

        bars = page.evaluate("""() => {
            const chart = window.Chart.getChart(document.querySelector("#exposure-chart"));
            const axis = chart.options.indexAxis === "y" ? chart.scales.y : chart.scales.x;
            return {bars: chart.data.labels,
                    ticks: axis.ticks.map((t) => axis.getLabelForValue(t.value))};
        }""")
        assert bars["bars"] and bars["ticks"] == bars["bars"], bars
        alternative = page.locator("#chart-values td[data-country]")
        assert [alternative.nth(i).get_attribute("data-country")
                for i in range(alternative.count())] == bars["bars"]
        assert_no_sideways_scroll(page)
        screenshot(page, tmp_path, "dashboard-phone.png")
        assert_accessible(page)
        watch.assert_clean()
