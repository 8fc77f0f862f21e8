"""The dashboard's style sheet parses as its authors meant: every block it opens is closed
before the next section starts. One missing brace after a media query puts every later
rule inside it (all pages' desktop layouts then apply only on a phone), and a browser
reports nothing."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "service" / "static" / "dashboard" / "dashboard.css"
COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def depths() -> list[tuple[int, int]]:
    """(line, nesting depth at the line's start) for every line of the sheet."""
    text = STRING.sub('""', COMMENT.sub(lambda m: "\n" * m.group().count("\n"),
                                        CSS.read_text(encoding="utf-8")))
    depth, out = 0, []
    for number, line in enumerate(text.splitlines(), 1):
        out.append((number, depth))
        for char in line:
            depth += {"{": 1, "}": -1}.get(char, 0)
            assert depth >= 0, f"dashboard.css:{number} closes a block it never opened"
    out.append((len(out) + 1, depth))
    return out


def test_every_block_is_closed():
    assert depths()[-1][1] == 0, "dashboard.css ends inside an open block"


def test_each_section_starts_at_the_top_level():
    lines = CSS.read_text(encoding="utf-8").splitlines()
    starts = {number for number, line in enumerate(lines, 1) if line.startswith("/* ----")}
    assert starts, "the sheet's sections start with /* ---- comments"
    inside = [number for number, depth in depths() if number in starts and depth]
    assert inside == [], f"sections opened inside a block at lines {inside}"
