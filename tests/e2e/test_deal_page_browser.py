"""The deal page in a real Chromium against a real server holding the demo portfolio: a deal
found through the search box shows the API's state and events, an earlier moment shows the
API's earlier state, each event's proof of inclusion is verified in the browser, a reader
key sees the deal without the audit trail, a phone does not scroll sideways, and an unknown
deal says so."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

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
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.browser



def get(url: str, path: str, role: str = "auditor", **params: Any) -> Any:
    r = httpx.get(f"{url}{path}", params=params, headers=auth(role), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def all_deals(url: str) -> list[dict[str, Any]]:
    """Every deal's portfolio row once the projections reflect the whole demo."""
    head = max(p["head"] for p in get(url, "/v1/projections")["projections"])
    return get(url, "/v1/portfolio/deals", limit=1000, min_position=head)["deals"]  # type: ignore[no-any-return]


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def a_moment_before_the_last_event(events: list[dict[str, Any]]) -> str | None:
    """A millisecond instant (what the page's datetime input holds) after every event but
    the last batch of the deal, and before that batch; None if the deal has no such gap."""
    last = parse(events[-1]["recorded_at"])
    earlier = [parse(e["recorded_at"]) for e in events if parse(e["recorded_at"]) < last]
    if not earlier:
        return None
    moment = last - timedelta(milliseconds=1)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] if moment >= max(earlier) else None


def a_deal_with_history(url: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """A deal with a license and several batches of events, its events and an as-of moment."""
    candidates = sorted(all_deals(url), key=lambda d: (not d["licenses"], -d["version"]))
    for deal in candidates:
        events = get(url, f"/v1/deals/{deal['deal_id']}/events")["events"]
        moment = a_moment_before_the_last_event(events)
        if moment is not None and deal["version"] >= 3:
            return deal, events, moment
    pytest.fail("the demo has no deal recorded in more than one batch")


def open_with_key(page: Page, url: str, path: str, key: str) -> None:
    page.goto(f"{url}{path}")
    page.fill("#key", key)
    page.click("#key-form button[type=submit]")


def tamper_with_the_audit_path(route: Route) -> None:
    """The server's proof with one hex digit of its first audit path node changed."""
    proof = route.fetch().json()
    first = proof["audit_path"][0]
    proof["audit_path"][0] = ("0" if first[0] != "0" else "1") + first[1:]
    route.fulfill(json=proof)


def expect_state(page: Page, state: dict[str, Any]) -> None:
    """The page shows ``state``: its version, stage and statuses, and every figure exactly
    (the compact text's exact value is in data-exact and the title)."""
    from playwright.sync_api import expect

    expect(page.locator("#deal-state")).to_have_attribute("data-version", str(state["version"]),
                                                          timeout=WAIT_MS)
    for fact in ("stage", "license_status", "board_status", "version", "application_number"):
        expect(page.locator(f"[data-fact='{fact}']")).to_have_text(str(state[fact]))
    figures = page.locator("[data-figure]")
    shown = {figures.nth(i).get_attribute("data-figure"): figures.nth(i).get_attribute(
        "data-exact") for i in range(figures.count())}
    expected_names = {"requested", "approved", "committed", "disbursed", "principal_repaid",
                      "interest_received", "claims_paid", "recovered", "cancelled",
                      "outstanding", "undisbursed", "exposure", "contract_value"}
    assert set(shown) == expected_names
    assert shown == {name: state[name] for name in expected_names}
    assert page.locator("[data-figure='exposure']").get_attribute("title", timeout=WAIT_MS)


def test_a_deal_found_by_search_shows_its_state_timeline_past_and_proofs(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    deal, events, moment = a_deal_with_history(url)
    number = deal["application_number"]
    matches = get(url, "/v1/portfolio/deals", q=number, limit=25)["deals"]
    with watched_page(browser, url) as (page, watch):
        open_with_key(page, url, "/dashboard/deals", KEYS["auditor"])
        page.fill("#search-q", number)
        page.click("#search-form button[type=submit]")
        link = page.locator("#search-results a", has_text=re.compile(f"^{number}$"))
        expect(link).to_have_count(1, timeout=WAIT_MS)
        listed = page.locator("#search-results a").all_inner_texts()
        assert listed == [m["application_number"] for m in matches]
        link.click()
        page.wait_for_url(f"{url}/dashboard/deals/{deal['deal_id']}", timeout=WAIT_MS)

        now = get(url, f"/v1/deals/{deal['deal_id']}")
        expect_state(page, now)
        rows = page.locator("#timeline tr")
        expect(rows).to_have_count(len(events), timeout=WAIT_MS)
        assert [rows.nth(i).get_attribute("data-type") for i in range(rows.count())] == [
            e["type"] for e in events]
        expect(page.locator("#licenses tr:not(.none)")).to_have_count(len(now["licenses"]))
        expect(page.locator(".proof[data-proof='verified']")).to_have_count(
            len(events), timeout=WAIT_MS)
        expect(page.locator(".proof[data-proof='failed']")).to_have_count(0)
        postings = get(url, f"/v1/exposure/deals/{deal['deal_id']}")["postings"]
        expect(page.locator("#postings tr:not(.none)")).to_have_count(len(postings))
        screenshot(page, tmp_path, "deal.png")
        assert_accessible(page)
        assert_no_sideways_scroll(page)  # the desktop layout holds too

        page.fill("#as-of", moment)
        page.click("#as-of-form button[type=submit]")
        then = get(url, f"/v1/deals/{deal['deal_id']}", as_of=f"{moment}Z")
        assert then["version"] < now["version"]
        expect_state(page, then)
        later = [e for e in events if e["version"] > then["version"]]
        expect(page.locator("#timeline tr[data-later]")).to_have_count(len(later))
        assert parse_qs(urlsplit(page.url).query)["as_of"] == [f"{moment}000Z"]
        page.reload()  # the past view is in the URL: it can be shared or reloaded
        expect_state(page, then)
        screenshot(page, tmp_path, "deal-as-of.png")

        page.click("#as-of-now")
        expect_state(page, now)
        assert "as_of" not in page.url

        page.route("**/v1/audit/proof?*", tamper_with_the_audit_path)
        page.reload()
        expect(page.locator(".proof[data-proof='failed']")).to_have_count(
            len(events), timeout=WAIT_MS)
        expect(page.locator(".proof[data-proof='verified']")).to_have_count(0)
        expect(page.locator(".proof").first).to_contain_text("does not lead to the tree head")
        screenshot(page, tmp_path, "deal-tampered.png")
        assert [u for u in watch.urls if KEYS["auditor"] in u] == []
        watch.assert_clean(navigated=True)


def test_a_reader_on_a_phone_sees_the_deal_without_proofs_and_an_unknown_deal_says_so(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    deal, events, _ = a_deal_with_history(url)
    with watched_page(browser, url, width=390, height=844) as (page, watch):
        open_with_key(page, url, f"/dashboard/deals/{deal['deal_id']}", KEYS["reader"])
        expect_state(page, get(url, f"/v1/deals/{deal['deal_id']}", role="reader"))
        expect(page.locator("#timeline tr")).to_have_count(len(events), timeout=WAIT_MS)
        expect(page.locator(".proof[data-proof='unavailable']")).to_have_count(len(events))
        expect(page.locator("#timeline-note")).to_contain_text("auditor key")
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        screenshot(page, tmp_path, "deal-phone.png")

        page.fill("#search-q", deal["buyer"]["name"])
        page.click("#search-form button[type=submit]")
        expect(page.locator("#search-results a", has_text=deal["application_number"])
               ).to_have_count(1, timeout=WAIT_MS)
        assert_no_sideways_scroll(page)

        page.goto(f"{url}/dashboard/deals/{uuid.uuid4()}")
        expect(page.locator("#deal-missing")).to_contain_text("No such deal", timeout=WAIT_MS)
        expect(page.locator("#deal-state")).to_be_hidden()
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        screenshot(page, tmp_path, "deal-missing-phone.png")
        # Chromium reports the reader's 403 on the audit trail and the unknown deal's 404 as
        # failed resource loads; nothing else may go wrong.
        watch.errors = [e for e in watch.errors if not re.search(r"status of 40[34]", e)]
        watch.assert_clean(navigated=True)
