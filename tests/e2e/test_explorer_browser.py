"""The portfolio explorer in Chromium against a server holding the demo portfolio: the
filters in its address give the server's own answer, page by page; its downloads equal the
API's exports and carry the key in a header, never in a URL; its totals, license view and
history are the API's figures; it reads on a phone and passes axe-core."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import KEYS, auth
from tests.support.browser_support import (
    WAIT_MS,
    assert_accessible,
    assert_no_sideways_scroll,
    screenshot,
    watched_page,
)
from tests.support.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

PAGE_SIZE = 5


def api(url: str, path: str, **params: Any) -> httpx.Response:
    r = httpx.get(f"{url}{path}", params=params, headers=auth("auditor"), timeout=30)
    assert r.status_code == 200, r.text
    return r


def filters_with_pages(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Filters in the page's words and in the API's: the medium-term demo deals, named
    like the demo's application numbers, applied within the middle of their dates; chosen
    from the API's answer, so that they span more than one page."""
    applied = api(url, "/v1/audit/log", type="DealApplied", limit=1000).json()["entries"]
    days = sorted(e["occurred_at"][:10] for e in applied)
    first, last = days[len(days) // 5], days[-len(days) // 5]
    page = {"term": "medium", "q": "demo", "from": first, "to": last}
    after_last = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
    query = {"term": "medium", "q": "demo", "occurred_from": f"{first}T00:00:00Z",
             "occurred_to": f"{after_last}T00:00:00Z"}
    return page, query


def open_with_key(page: Page, address: str, key: str) -> None:
    page.goto(address)
    page.fill("#key", key)
    page.click("#key-form button[type=submit]")


def shown_rows(page: Page, count: int) -> list[dict[str, str]]:
    from playwright.sync_api import expect

    rows = page.locator("#deals-table tbody tr")
    expect(rows).to_have_count(count, timeout=WAIT_MS)
    return [{"deal_id": rows.nth(i).get_attribute("data-deal-id") or "",
             "application_number": rows.nth(i).locator(
                 "[data-field=application_number]").inner_text(),
             "committed": rows.nth(i).locator("[data-field=committed] .amount")
             .get_attribute("data-exact") or ""} for i in range(count)]


def expected_rows(deals: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"deal_id": d["deal_id"], "application_number": d["application_number"],
             "committed": d["committed"]} for d in deals]


def expect_page(page: Page, deals: list[dict[str, Any]]) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#deals-table tbody tr").first).to_have_attribute(
        "data-deal-id", deals[0]["deal_id"], timeout=WAIT_MS)
    assert shown_rows(page, len(deals)) == expected_rows(deals)


def assert_totals(page: Page, portfolio: dict[str, Any]) -> None:
    totals = portfolio["totals"]
    assert page.locator("[data-total=deals]").inner_text() == str(totals["deals"])
    for name in ("requested", "approved", "committed", "outstanding", "exposure",
                 "claims_paid", "recovered"):
        shown = page.locator(f"[data-total={name}] .amount")
        assert shown.get_attribute("data-exact") == totals[name], name
        assert shown.get_attribute("title", timeout=WAIT_MS), name


def assert_history(page: Page, url: str) -> None:
    from playwright.sync_api import expect

    rows = page.locator("#history-table tbody tr")
    expect(rows.first).to_be_visible(timeout=WAIT_MS)
    count = rows.count()
    assert 8 <= count <= 12, count
    for i in range(count):
        moment = rows.nth(i).get_attribute("data-as-of") or ""
        totals = api(url, "/v1/portfolio", as_of=moment).json()["totals"]
        for name in ("committed", "outstanding", "exposure"):
            cell = rows.nth(i).locator(f"[data-field={name}] .amount")
            assert cell.get_attribute("data-exact") == totals[name], (moment, name)
    bars = page.locator("#history-svg rect[data-series]")
    labels = page.locator("#history-svg text[data-value]")
    assert bars.count() == labels.count() == 3 * count  # every bar labelled


def assert_license_view(page: Page, url: str, query: dict[str, str]) -> None:
    from playwright.sync_api import expect

    view = api(url, "/v1/portfolio/license-status", **query).json()
    financed = sum(r["financed"] for r in view["by_license_status"]
                   if r["license_status"] in ("revoked", "expired"))
    expect(page.locator("#license-alarm")).to_have_attribute(
        "data-financed-alarm", str(financed), timeout=WAIT_MS)
    for row in view["by_license_status"]:
        shown = page.locator(f"#license-table tr[data-license-status={row['license_status']}]")
        assert shown.locator("[data-field=deals]").inner_text() == str(row["deals"])


def test_the_explorer_shows_the_servers_answer_for_the_filters_in_its_address(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url, key = demo_server.url, KEYS["auditor"]
    shared, query = filters_with_pages(url)
    first = api(url, "/v1/portfolio/deals", **query, limit=PAGE_SIZE).json()
    assert first["next_cursor"], "the filters must span more than one page"
    second = api(url, "/v1/portfolio/deals", **query, limit=PAGE_SIZE,
                 cursor=first["next_cursor"]).json()
    address = f"{url}/dashboard/explorer?{urlencode({**shared, 'limit': PAGE_SIZE})}"

    with watched_page(browser, url) as (page, watch):
        open_with_key(page, address, key)
        expect_page(page, first["deals"])
        for name, value in shared.items():
            assert page.locator(f"#filter-form [data-param={name}]").input_value() == value
        page.click("#next-page")
        expect_page(page, second["deals"])
        page.click("#prev-page")
        expect_page(page, first["deals"])
        assert_totals(page, api(url, "/v1/portfolio").json())
        assert_license_view(page, url, query)
        assert_history(page, url)

        with page.expect_request(lambda r: "format=csv" in r.url) as sent, \
                page.expect_download(timeout=WAIT_MS) as saved:
            page.click("#deals-csv")
        assert Path(saved.value.path()).read_bytes() == api(
            url, "/v1/portfolio/deals", **query, format="csv").content
        assert sent.value.headers["authorization"] == f"Bearer {key}"

        with page.expect_download(timeout=WAIT_MS) as audit_saved:
            page.click("#audit-csv")
        assert Path(audit_saved.value.path()).read_bytes() == api(
            url, "/v1/audit/log", format="csv").content

        assert_accessible(page)
        assert_no_sideways_scroll(page)  # the desktop layout holds too
        screenshot(page, tmp_path, "explorer.png")

        # The license view narrows the deals to one status, keeping its other filters.
        view = api(url, "/v1/portfolio/license-status", **query).json()
        status = max(view["by_license_status"], key=lambda r: r["deals"])["license_status"]
        page.click(f"#license-table tr[data-license-status={status}] button")
        expect(page).to_have_url(re.compile(f"license_status={status}"), timeout=WAIT_MS)
        assert f"from={shared['from']}" in page.url and f"q={shared['q']}" in page.url
        narrowed = query | {"license_status": status}
        expect_page(page, api(url, "/v1/portfolio/deals", **narrowed,
                              limit=PAGE_SIZE).json()["deals"])
        assert key not in page.url
        assert [u for u in watch.urls if key in u] == []
        watch.assert_clean()


def test_the_explorer_reads_on_a_phone_and_tells_a_reader_the_audit_log_is_not_theirs(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    with watched_page(browser, url, width=390, height=844) as (page, watch):
        open_with_key(page, f"{url}/dashboard/explorer?instrument=direct_loan", KEYS["reader"])
        expect_page(page, api(url, "/v1/portfolio/deals", instrument="direct_loan",
                              limit=25).json()["deals"])
        page.select_option("#f-term", "long")  # a filter chosen here goes to the address
        expect(page).to_have_url(re.compile(r"term=long"), timeout=WAIT_MS)
        assert "instrument=direct_loan" in page.url
        expect_page(page, api(url, "/v1/portfolio/deals", instrument="direct_loan",
                              term="long", limit=25).json()["deals"])
        expect(page.locator("#audit-note")).to_contain_text("reader's", timeout=WAIT_MS)
        expect(page.locator("#audit-csv")).to_be_disabled()
        expect(page.locator("#history-table tbody tr").first).to_be_visible(timeout=WAIT_MS)
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        screenshot(page, tmp_path, "explorer-phone.png")
        assert [u for u in watch.urls if KEYS["reader"] in u] == []
        # The audit log's 403 to a reader is Chromium's console error; nothing else may fail.
        assert [e for e in watch.errors if "status of 403" not in e] == []
        assert watch.foreign == [] and watch.failed == []
