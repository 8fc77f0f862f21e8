"""``make screens``: the dashboard's pages on the demo portfolio, as PNGs in docs/screens/.

Starts ``exim-ledger serve`` on a new SQLite ledger in a temporary directory, loads
``exim-ledger demo``, and opens each page in Debian's Chromium (Playwright) with an admin
key made for the run: portfolio, explorer, program, a deal and audit at 1400 px wide, and
the portfolio on a 390 px phone. A page not yet served is reported and left out."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
from contextlib import suppress
from pathlib import Path

import httpx
from exim_ledger_bench.server import CLI, run, serve
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
WAIT_MS = 30_000
DESKTOP = ViewportSize(width=1400, height=900)
PHONE = ViewportSize(width=390, height=844)
MAX_HEIGHT = 2400  # a long page is cut here: the picture shows its top, not every row


def ledger_env(database_url: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return env | {"LEDGER_DATABASE_URL": database_url, "LEDGER_LOG_LEVEL": "warning",
                  "LEDGER_BOOTSTRAP_KEYS": f"admin:screens-admin:{key}"}


def a_deal(url: str, key: str) -> str:
    """A deal with a long history (repaying, else any), for the deal page."""
    headers = {"Authorization": f"Bearer {key}"}
    for params in ({"stage": "repaying", "limit": "1"}, {"limit": "1"}):
        r = httpx.get(f"{url}/v1/portfolio/deals", params=params, headers=headers, timeout=30)
        if r.status_code == 200 and r.json()["deals"]:
            return str(r.json()["deals"][0]["deal_id"])
    raise RuntimeError(f"no deal to show: {r.status_code} {r.text[:200]}")


def public_key(url: str, key: str) -> str:
    """The operator's public key, as an auditor would have received it (here, from the
    ledger itself: the picture shows the page, not an audit)."""
    r = httpx.get(f"{url}/v1/audit/public-key", headers={"Authorization": f"Bearer {key}"},
                  timeout=30)
    r.raise_for_status()
    return r.text


def settle(page: Page, ready: str | None) -> None:
    """Wait until the page shows its data: ``ready`` visible, then the network quiet (a page
    that follows the live stream never is, hence the bounded wait)."""
    if ready:
        page.locator(ready).first.wait_for(state="visible", timeout=WAIT_MS)
    with suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=5_000)
    page.evaluate("document.fonts.ready")


def shoot(browser: Browser, url: str, key: str, path: str, out: Path,
          viewport: ViewportSize, ready: str | None) -> bool:
    context = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 600,
                                  has_touch=viewport["width"] < 600)
    try:
        page = context.new_page()
        response = page.goto(url + path)
        if response is None or response.status != 200:
            print(f"skipped {out.name}: {path} answered "
                  f"{response.status if response else 'nothing'}", file=sys.stderr)
            return False
        if page.locator("#key").count():
            page.locator("#key").wait_for(state="visible", timeout=WAIT_MS)
            page.fill("#key", key)
            if page.locator("#public-key").count():  # the auditor's page checks with it
                page.fill("#public-key", public_key(url, key))
            page.press("#key", "Enter")
        settle(page, ready)
        height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
        full = viewport["width"] >= 600
        page.screenshot(path=str(out), full_page=full,
                        clip={"x": 0, "y": 0, "width": viewport["width"], "height": height}
                        if full else None)
        print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        return True
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    parser.add_argument("--deals", default="60", help="how many demo deals")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        parser.error("no chromium on PATH (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="ledger-screens-") as tmp:
        directory = Path(tmp)
        env = ledger_env(f"sqlite:///{directory / 'ledger.db'}", key)
        run([str(CLI), "migrate"], env, directory)
        with serve(env, directory) as url:
            run([str(CLI), "demo", "--deals", args.deals], env, directory)
            deal = a_deal(url, key)
            pages: list[tuple[str, str, ViewportSize, str | None]] = [
                ("portfolio.png", "/dashboard", DESKTOP, "#events li"),
                ("explorer.png", "/dashboard/explorer", DESKTOP, "#board"),
                ("program.png", "/dashboard/program", DESKTOP, "#by-country tr"),
                ("deal.png", f"/dashboard/deals/{deal}", DESKTOP, "#board"),
                ("audit.png", "/dashboard/audit", DESKTOP, "#signature-result:text('verified')"),
                ("portfolio-phone.png", "/dashboard", PHONE, "#events li"),
            ]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium,
                    args=["--no-sandbox", "--disable-dev-shm-usage"])
                try:
                    written = [name for name, path, viewport, ready in pages
                               if shoot(browser, url, key, path, args.out / name, viewport,
                                        ready)]
                finally:
                    browser.close()
    print(f"{len(written)} of {len(pages)} screens written to {args.out}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
