"""The dashboard: pages served by the service, reading the public API in the browser.

The page, its script and its assets load without a key; every data call carries the key
the user enters in its ``Authorization`` header, so the HTML needs no authentication."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response

from service import audit_page

STATIC = Path(__file__).resolve().parents[2] / "static"

# Everything from this origin and nothing inline: a script injected through a deal's text
# could neither run nor send data elsewhere.
CSP = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'none'",
    "form-action 'self'", "frame-ancestors 'none'",
])
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)
INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def audit_csp(page: str) -> str:
    """The auditor's page is one file (tools/audit.html) with its script and style inline:
    those blocks, by their hashes, and calls to this origin only."""
    allowed: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        allowed[kind].append(f"'sha256-{digest}'")
    sources = {kind: " ".join(hashes) or "'none'" for kind, hashes in allowed.items()}
    return "; ".join([
        "default-src 'none'", f"script-src {sources['script']}",
        f"style-src {sources['style']}", "img-src data:", "connect-src 'self'",
        "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ])


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/dashboard", status_code=307)


def _page(name: str) -> Response:
    return FileResponse(STATIC / "dashboard" / name, media_type="text/html",
                        headers=PAGE_HEADERS)


@router.get("/dashboard")
async def dashboard() -> Response:
    return _page("index.html")


@router.get("/dashboard/explorer")
async def explorer() -> Response:
    return _page("explorer.html")


@router.get("/dashboard/program")
async def program() -> Response:
    return _page("program.html")


@router.get("/dashboard/deals")
async def deal_search() -> Response:
    return _page("deal.html")


@router.get("/dashboard/deals/{deal_id}")
async def deal(deal_id: str) -> Response:  # noqa: ARG001 - the page reads its id from the URL
    return _page("deal.html")


@functools.cache
def _audit_page() -> tuple[str, dict[str, str]]:
    """The auditor's page and its headers, built on the first request of a process."""
    page = audit_page.built()
    return page, PAGE_HEADERS | {"Content-Security-Policy": audit_csp(page)}


@router.get("/dashboard/audit")
async def audit() -> Response:
    page, headers = await run_in_threadpool(_audit_page)
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
