"""The auditor's page in a real Chromium: served by the ledger and opened from disk
(tools/audit.html) against a server that lists the file's origin ("null"), it verifies the
digest's signature with the operator's key, an event's inclusion and a kept digest's
consistency; a byte changed in a proof or a digest, or a wrong key, makes it say FAILED.
Every figure is checked against the API's own answers."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import KEYS, auth
from tests.support.browser_support import (
    WAIT_MS,
    assert_accessible,
    assert_no_sideways_scroll,
    screenshot,
    watched_page,
)
from tests.support.factories import application
from tests.support.live_server import LiveServer, ledger_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.browser

FILE_PAGE = Path(__file__).resolve().parents[2] / "tools" / "audit.html"
AUDITOR = auth("auditor")
OPERATOR_SEED = hashlib.sha256(b"the operator's signing key, for these tests").digest()


@pytest.fixture
def live_server(live_database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """``exim-ledger serve`` whose audit endpoints a page opened from a file may read,
    signing with the operator's key."""
    from exim_ledger_bench.server import serve

    env = ledger_env(live_database_url) | {
        "LEDGER_AUDIT_CORS_ORIGINS": "null",
        "LEDGER_SIGNING_KEY": base64.b64encode(OPERATOR_SEED).decode()}
    with serve(env, tmp_path) as url:
        yield LiveServer(url, env)


def digest_at_head(url: str) -> dict[str, Any]:
    """The signed digest once its tree holds every event on the ledger."""
    head = httpx.get(f"{url}/v1/projections", headers=AUDITOR, timeout=30).json()
    position = max(p["head"] for p in head["projections"])
    r = httpx.get(f"{url}/v1/audit/digest", params={"min_position": position},
                  headers=AUDITOR, timeout=30)
    assert r.status_code == 200 and r.json()["position"] == position, r.text
    return r.json()  # type: ignore[no-any-return]


def operator_key_pem() -> str:
    """The operator's public key as an operator hands it over: PEM, by another channel
    than the ledger."""
    public = Ed25519PrivateKey.from_private_bytes(OPERATOR_SEED).public_key()
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_deal(url: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/deals", json=application(), headers=auth("writer"), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def connect(page: Page, public_key: str, base_url: str | None = None) -> None:
    if base_url is not None:
        page.fill("#base-url", base_url)
    page.fill("#key", KEYS["auditor"])
    page.fill("#public-key", public_key)
    page.click("#connect button[type=submit]")


def expect_verdict(page: Page, selector: str, verdict: str, text: str = "") -> None:
    from playwright.sync_api import expect

    result = page.locator(selector)
    expect(result).to_have_attribute("data-verdict", verdict, timeout=WAIT_MS)
    expect(result).to_contain_text("verified: " if verdict == "verified" else "FAILED: ")
    if text:
        expect(result).to_contain_text(text)


def prove(page: Page, position: int) -> None:
    page.fill("#position", str(position))
    page.click("#inclusion button[type=submit]")


def audit_page(url: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{url}/v1/audit/log", params={"limit": 20, **params}, headers=AUDITOR,
                  timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_the_served_page_verifies_the_digest_an_event_and_a_kept_digest(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    kept = tmp_path / "kept-digest.json"
    kept.write_text(json.dumps(digest_at_head(url), indent=2, sort_keys=True))
    created = new_deal(url)
    digest = digest_at_head(url)
    key = operator_key_pem()
    with watched_page(browser, url) as (page, watch):
        page.goto(f"{url}/dashboard/audit")
        expect(page.locator("#base-url")).to_have_value(url)
        connect(page, key)
        expect_verdict(page, "#signature-result", "verified", digest["root"])
        expect(page.locator("#digest [data-field=tree_size]")).to_have_text(
            str(digest["tree_size"]))
        expect(page.locator("#digest [data-field=root]")).to_have_text(digest["root"])

        prove(page, created["position"])
        expect_verdict(page, "#inclusion-result", "verified", created["event_id"])

        first = audit_page(url)
        expect(page.locator("#log li")).to_have_count(20, timeout=WAIT_MS)
        expect(page.locator("#log li").first).to_have_attribute(
            "data-position", str(first["entries"][0]["position"]))
        page.click("#log-next")
        second = audit_page(url, cursor=first["next_cursor"])
        expect(page.locator("#log li").first).to_have_attribute(
            "data-position", str(second["entries"][0]["position"]), timeout=WAIT_MS)
        page.click("#log-previous")
        expect(page.locator("#log li").first).to_have_attribute(
            "data-position", str(first["entries"][0]["position"]), timeout=WAIT_MS)

        page.fill("#f-type", "DealApplied")
        page.fill("#f-deal", created["deal_id"])
        page.click("#log-filters button[type=submit]")
        expect(page.locator("#log li")).to_have_count(1, timeout=WAIT_MS)
        entry = page.locator(f"#log li[data-position='{created['position']}']")
        expect(entry).to_contain_text(created["deal_id"])
        page.locator("#inclusion-result").evaluate("e => { e.textContent = ''; }")
        entry.get_by_role("button", name="Prove").click()
        expect_verdict(page, "#inclusion-result", "verified", created["event_id"])

        page.set_input_files("#old-digest", str(kept))
        expect_verdict(page, "#consistency-result", "verified", "only grown")
        expect(page.locator("#consistency-result")).to_contain_text("signature verified")

        with page.expect_download() as download:
            page.click("#save-digest")
        saved = json.loads(Path(download.value.path()).read_text())
        assert {k: saved[k] for k in ("tree_size", "root", "position")} == \
            {k: digest[k] for k in ("tree_size", "root", "position")}

        assert_accessible(page)
        screenshot(page, tmp_path, "audit.png")
        assert [u for u in watch.urls if KEYS["auditor"] in u] == []
        watch.assert_clean()

    with watched_page(browser, url, width=390, height=844) as (phone, watch):
        phone.goto(f"{url}/dashboard/audit")
        connect(phone, key)
        expect_verdict(phone, "#signature-result", "verified")
        expect(phone.locator("#log li")).to_have_count(20, timeout=WAIT_MS)
        assert_no_sideways_scroll(phone)
        screenshot(phone, tmp_path, "audit-phone.png")
        watch.assert_clean()


def one_byte_changed(hex_text: str) -> str:
    flipped = "0" if hex_text[0] != "0" else "1"
    return flipped + hex_text[1:]


def tamper(page: Page, path: str, change: Any) -> None:
    """Answers to ``path`` reach the page with ``change`` applied to their JSON."""
    def handle(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, body=json.dumps(body))

    page.route(f"**{path}?**", handle)
    page.route(f"**{path}", handle)


def test_a_byte_changed_in_a_proof_or_a_digest_or_a_wrong_key_fails(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    url = demo_server.url
    digest = digest_at_head(url)
    key = operator_key_pem()
    position = digest["position"]

    def path_byte(proof: dict[str, Any]) -> None:
        proof["audit_path"][0] = one_byte_changed(proof["audit_path"][0])

    def root_byte(answer: dict[str, Any]) -> None:
        answer["root"] = one_byte_changed(answer["root"])

    with watched_page(browser, url) as (page, watch):
        tamper(page, "/v1/audit/proof", path_byte)
        page.goto(f"{url}/dashboard/audit")
        connect(page, key)
        expect_verdict(page, "#signature-result", "verified")
        prove(page, position)
        expect_verdict(page, "#inclusion-result", "failed", "does not lead to the tree head")
        screenshot(page, tmp_path, "audit-tampered-proof.png")
        watch.assert_clean()

    with watched_page(browser, url) as (page, watch):
        tamper(page, "/v1/audit/digest", root_byte)
        page.goto(f"{url}/dashboard/audit")
        connect(page, key)
        expect_verdict(page, "#signature-result", "failed", "signature does not match")
        prove(page, position)
        expect_verdict(page, "#inclusion-result", "failed", "not verified")
        watch.assert_clean()

    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with watched_page(browser, url) as (page, watch):
        page.goto(f"{url}/dashboard/audit")
        connect(page, base64.b64encode(other).decode())
        expect_verdict(page, "#signature-result", "failed", "not the pasted key")
        page.fill("#public-key", "not a key")
        page.click("#connect button[type=submit]")
        expect_verdict(page, "#signature-result", "failed", "not an Ed25519 public key")
        watch.assert_clean()


def test_the_copy_kept_on_disk_verifies_against_a_server_listing_the_null_origin(
        demo_server: LiveServer, browser: Browser, tmp_path: Path):
    from playwright.sync_api import expect

    url = demo_server.url
    served = httpx.get(f"{url}/dashboard/audit", timeout=30)
    assert served.text == FILE_PAGE.read_text(encoding="utf-8")
    digest = digest_at_head(url)
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(FILE_PAGE.as_uri())
        expect(page.locator("#base-url")).to_have_value("")
        expect(page.locator("#no-crypto")).to_be_hidden()
        connect(page, operator_key_pem(), base_url=url)
        expect_verdict(page, "#signature-result", "verified", digest["root"])
        prove(page, digest["position"])
        expect_verdict(page, "#inclusion-result", "verified", f"of {digest['tree_size']}")
        expect(page.locator("#log li")).to_have_count(20, timeout=WAIT_MS)
        assert_accessible(page)
        screenshot(page, tmp_path, "audit-file.png")
    finally:
        context.close()
    assert errors == []
    assert [u for u in requests if not u.startswith((FILE_PAGE.as_uri(), url + "/"))] == []
    assert [u for u in requests if KEYS["auditor"] in u] == []


def test_a_browser_without_webcrypto_is_told_that_nothing_is_verified(browser: Browser):
    from playwright.sync_api import expect

    context = browser.new_context()
    context.add_init_script(
        "Object.defineProperty(Crypto.prototype, 'subtle', {get: () => undefined});")
    page = context.new_page()
    try:
        page.goto(FILE_PAGE.as_uri())
        expect(page.locator("#no-crypto")).to_be_visible()
        expect(page.locator("#no-crypto")).to_contain_text("crypto.subtle")
    finally:
        context.close()


VECTORS: list[Any] = [
    {"b": 1, "a": [True, None, "x"], "Z": {"y": "é", "x": -3}},
    {"\U0001f600": 1, "\uff01": 2, "é": 3, "z": 4, "Z": 5, "": 6, "aa": 7, "a": 8},
    {"text": "line\nbreak\ttab \"quoted\" back\\slash \x01\x1f \u2028 \x7f ☃ 中文 😀"},
    [0, 10**15, -1, {"nested": {"k": [{}, []]}}],
]


def test_the_pages_canonical_json_is_pythons(browser: Browser):
    from domain.chain import canonical_json

    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(FILE_PAGE.as_uri())
        for vector in VECTORS:
            ours = page.evaluate("(v) => LedgerProofs.canonicalJson(v)", vector)
            assert ours.encode("utf-8") == canonical_json(vector), vector
        envelope = {"deal_id": "d", "version": 1, "type": "T", "data": {"é": "1.00", "a": 1},
                    "occurred_at": "2025-01-01T00:00:00Z",
                    "recorded_at": "2025-01-01T00:00:00Z", "actor": "x", "source": "api",
                    "prev_hash": None}
        expected = hashlib.sha256(canonical_json(envelope)).hexdigest()
        assert page.evaluate("(e) => LedgerProofs.eventHash(e)", envelope) == expected
    finally:
        context.close()
