"""The browser tests' Chromium: Debian's ``chromium`` driven by Playwright, and a watch on
everything a page does that a test must see fail (console errors, uncaught exceptions,
failed requests, and any request to another host)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import IN_CI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

STREAMS = {"/v1/events/stream"}
WAIT_MS = 30_000  # how long a test waits on a page: generous, CI is a loaded 2-core box
SCREENSHOTS = os.environ.get("LEDGER_TEST_SCREENSHOTS")  # a folder to keep screenshots in


def chromium_path() -> str:
    """The system Chromium (``playwright install`` cannot download here); missing, the
    test skips, except in CI where it fails."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "no chromium on PATH (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # As root in a container: no sandbox, and /dev/shm may be too small for Chromium.
        browser = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did wrong; ``origin`` is the one host it may talk to."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")

    def request(self, request: Request) -> None:
        self.urls.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob") and f"{parts.scheme}://{parts.netloc}" != \
                self.origin:
            self.foreign.append(request.url)

    def request_failed(self, request: Request) -> None:
        # A live stream ends by being aborted (a reload, "Forget key", the tab closing).
        if request.failure == "net::ERR_ABORTED" and urlsplit(request.url).path in STREAMS:
            return
        self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def assert_clean(self, navigated: bool = False) -> None:
        """``navigated``: the test reloaded or left the page, which aborts what was loading."""
        assert self.foreign == [], f"requests to another host: {self.foreign}"
        assert self.errors == [], self.errors
        failed = [f for f in self.failed if not (navigated and f.endswith("net::ERR_ABORTED"))]
        assert failed == [], f"failed requests: {failed}"


@contextmanager
def watched_page(browser: Browser, origin: str, width: int = 1400,
                 height: int = 1000) -> Iterator[tuple[Page, Watch]]:
    """A page in a fresh context (its own session storage) whose misdeeds are recorded;
    requests to another host are answered with a network error, never sent. ``width``
    390 is a phone."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  is_mobile=width < 600, has_touch=width < 600)
    page = context.new_page()
    watch = Watch(origin)
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(f"uncaught: {error}"))
    page.on("request", watch.request)
    page.on("requestfailed", watch.request_failed)
    context.route(lambda url: not url.startswith(origin + "/"),
                  lambda route: route.abort("blockedbyclient"))
    try:
        yield page, watch
    finally:
        context.close()


def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page PNG in ``directory``, copied to ``LEDGER_TEST_SCREENSHOTS`` when set."""
    path = directory / name
    page.screenshot(path=str(path), full_page=True)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOTS) / name)
    assert path.read_bytes().startswith(b"\x89PNG"), "the screenshot is not a PNG"
    return path


AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SERIOUS = ("serious", "critical")


def assert_accessible(page: Page) -> None:
    """axe-core (vendored, run in the page) finds no serious or critical violation. The
    script is evaluated rather than added as a tag, so the page's CSP does not block it."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await window.axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
    }""")
    bad = [v for v in result if v["impact"] in SERIOUS]
    assert bad == [], f"accessibility violations: {bad}"


def assert_no_sideways_scroll(page: Page) -> None:
    """Nothing on the page is wider than the viewport (a phone must not scroll sideways)."""
    widths = page.evaluate("""() => {
        const root = document.scrollingElement || document.documentElement;
        return {scroll: root.scrollWidth, client: root.clientWidth,
                wide: [...document.querySelectorAll("body *")]
                    .filter((e) => e.scrollWidth > e.clientWidth + 1
                        && getComputedStyle(e).overflowX !== "visible"
                        && getComputedStyle(e).overflowX !== "hidden")
                    .map((e) => e.id || e.tagName).slice(0, 10)};
    }""")
    assert widths["scroll"] <= widths["client"], f"the page scrolls sideways: {widths}"
    assert widths["wide"] == [], f"these elements scroll sideways: {widths['wide']}"
