"""The README and docs link only files that are in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_names_a_file_in_the_repository(doc: Path):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.exists() and ROOT in (path, *path.parents), f"{doc.name} links {target}"


def test_the_readme_names_no_contract_outside_the_repository():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "shared/SPEC.md" not in text and "`SPEC.md`" not in text
    assert (ROOT / "docs" / "SPEC.md").is_file()
