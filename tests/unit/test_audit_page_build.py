"""The auditor's one-file page: the committed copy is what the sources build, the service
serves that build, and the CSP the service sends admits exactly its inline blocks."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

from service.api.routes.dashboard import audit_csp
from service.audit_page import built

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tools" / "build_audit_page.py"
KEPT = ROOT / "tools" / "audit.html"


def test_the_committed_pages_are_what_the_sources_build():
    checked = subprocess.run([sys.executable, str(BUILD), "--check"], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert KEPT.read_text(encoding="utf-8") == built()


def test_the_page_asks_for_nothing_but_the_ledgers_api():
    page = KEPT.read_text(encoding="utf-8")
    assert re.findall(r"<(?:script|link)[^>]*\b(?:src|href)=\"(?!data:)", page) == []
    assert "verifyInclusion" in page and "LedgerProofs" in page
    assert "localStorage" not in page and "sessionStorage" not in page


def test_the_csp_lists_the_hash_of_each_inline_block_and_only_this_origin():
    page = KEPT.read_text(encoding="utf-8")
    csp = dict(part.split(" ", 1) for part in audit_csp(page).split("; "))
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL)
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL)
    assert script and style

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() \
            + "'"

    assert csp["script-src"] == sha(script.group(1))
    assert csp["style-src"] == sha(style.group(1))
    assert csp["connect-src"] == "'self'"
    assert csp["default-src"] == "'none'"


def test_a_stale_page_fails_the_check(tmp_path: Path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_audit_page", BUILD)
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    stale = tmp_path / "audit.html"
    stale.write_text(tool.build().replace("Signed digest", "Digest"), encoding="utf-8")
    monkeypatch.setattr(tool, "OUTPUTS", (stale,))
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    assert tool.main(["--check"]) == 1
    assert tool.main([]) == 0
    assert tool.main(["--check"]) == 0
