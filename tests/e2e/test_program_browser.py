"""The program page in a real Chromium against a real server holding the demo, a pending
proposal, an adopted one and an authorization with country limits: the policy in force,
its lists, the proposals, who adopted what, and the limit use by country are the API's; it
reads on a phone and passes axe-core."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

ADOPTED, PENDING = "2099-01-01", "2099-02-01"


def version(policy_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": policy_id, "effective_from": policy_id, "embargoed": ["KP", "IR"],
            "restricted_for_controlled": ["CN", "RU"], "controlled_eccn_patterns": ["3A090*"],
            "designated_countries": ["DE", "IN", "JP"], "max_backdating_days": 20,
            "authority": "Board resolution 2099-1", **changes}


def post(url: str, path: str, body: dict[str, Any], key: str) -> None:
    r = httpx.post(f"{url}{path}", json=body, headers=auth(key), timeout=30)
    assert r.status_code == 201, r.text


@pytest.fixture
def program_server(demo_server: LiveServer) -> LiveServer:
    """The demo, one version proposed and adopted (four eyes), one still pending, and a new
    authorization that limits the two countries with the most committed and one with none."""
    url = demo_server.url
    post(url, "/v1/policies", version(ADOPTED), "admin")
    post(url, f"/v1/policies/{ADOPTED}/approval", {"comment": "agreed"}, "admin2")
    post(url, "/v1/policies", version(PENDING, designated_countries=None), "admin")
    program = get(url, "/v1/program")
    top = sorted(program["by_country"], key=lambda r: -float(r["committed"]))[:2]
    limits = {r["country"]: f"{2 * float(r['committed']):.2f}" for r in top} | {
        "NZ": "5000000.00"}
    today = datetime.now(UTC).date().isoformat()
    post(url, "/v1/program/authorizations", {
        "meeting_date": today, "votes_for": 4, "votes_against": 1, "abstentions": 0,
        "effective_from": today, "total_limit": "900000000000.00",
        "country_limits": limits}, "board")
    return demo_server


def get(url: str, path: str) -> dict[str, Any]:
    r = httpx.get(f"{url}{path}", headers=auth("reader"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def open_program(page: Page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/dashboard/program")
    page.fill("#key", KEYS["reader"])
    page.click("#key-form button[type=submit]")
    expect(page.locator("#board")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#by-country tr").first).to_be_visible(timeout=WAIT_MS)


def shown_list(page: Page, name: str) -> list[str] | None:
    cell = page.locator(f"#policy-lists td[data-list='{name}'] + td")
    entries = cell.locator("li[data-entry]")
    if entries.count() == 0 and "every destination" in cell.inner_text():
        return None
    return [entries.nth(i).get_attribute("data-entry") or "" for i in range(entries.count())]


def exact(cell: Any) -> str:
    amount = cell.locator(".amount")
    return (amount.get_attribute("data-exact") or "") if amount.count() else cell.inner_text()


def shown_countries(page: Page) -> dict[str, tuple[str, str, str]]:
    rows = page.locator("#by-country tr")
    shown = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        shown[cells.nth(0).get_attribute("data-country") or ""] = (
            exact(cells.nth(1)), exact(cells.nth(2)), exact(cells.nth(3)))
    return shown


def test_the_program_page_shows_the_policies_and_limits_of_the_api(
        program_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = program_server.url
    policies, program = get(url, "/v1/policies"), get(url, "/v1/program")
    in_force = next(p for p in policies["policies"] if p["id"] == policies["in_force"])
    with watched_page(browser, url) as (page, watch):
        open_program(page, url)
        expect(page.locator("#in-force")).to_have_text(policies["in_force"])
        for name in ("embargoed", "restricted_for_controlled", "designated_countries",
                     "controlled_eccn_patterns"):
            assert shown_list(page, name) == in_force[name], name

        proposals = page.locator("#proposed td[data-proposal]")
        assert [proposals.nth(i).get_attribute("data-proposal")
                for i in range(proposals.count())] == [p["id"] for p in policies["proposed"]]
        assert [p["id"] for p in policies["proposed"]] == [PENDING]
        pending = page.locator(f"#proposed td[data-proposal='{PENDING}']").locator("..")
        expect(pending).to_contain_text("admin-key")

        adoptions = page.locator("#adopted td[data-adoption]")
        assert sorted(adoptions.nth(i).get_attribute("data-adoption") or ""
                      for i in range(adoptions.count())) == sorted(
            p["id"] for p in policies["policies"])
        adopted = next(p for p in policies["policies"] if p["id"] == ADOPTED)
        row = page.locator(f"#adopted td[data-adoption='{ADOPTED}']").locator("..")
        expect(row).to_contain_text(adopted["adopted_by"])
        expect(row).to_contain_text(adopted["proposed_by"])
        assert adopted["adopted_by"] == "admin2-key"

        expected = {r["country"]: (r["committed"], r["limit"] or "no limit",
                                   r["available"] or "–") for r in program["by_country"]}
        assert shown_countries(page) == expected
        assert sum(1 for r in program["by_country"] if r["limit"]) == 3
        assert page.locator("[data-figure='total_limit']").get_attribute(
            "data-exact") == program["total_limit"]
        assert page.locator("[data-figure='committed']").get_attribute(
            "data-exact") == program["committed"]
        screenshot(page, tmp_path, "program.png")
        assert_accessible(page)
        assert_no_sideways_scroll(page)  # the desktop layout holds too
        watch.assert_clean()


def test_the_program_page_reads_on_a_phone(
        program_server: LiveServer, browser: Browser, tmp_path: Path):
    url = program_server.url
    with watched_page(browser, url, width=390, height=844) as (page, watch):
        open_program(page, url)
        assert_no_sideways_scroll(page)
        screenshot(page, tmp_path, "program-phone.png")
        assert_accessible(page)
        watch.assert_clean()
