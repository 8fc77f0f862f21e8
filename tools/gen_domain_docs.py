"""Write the table of event types in ``docs/domain.md`` from ``domain.events``.

``python tools/gen_domain_docs.py`` rewrites the part between the ``event-table`` markers;
with ``--check`` it only says whether that part is up to date (exit 1 if not).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from domain.events import EVENT_TYPES  # noqa: E402

DOC = ROOT / "docs" / "domain.md"
BEGIN, END = "<!-- event-table:begin -->", "<!-- event-table:end -->"


def table() -> str:
    """The generated lines, markers included."""
    lines = [BEGIN, "<!-- written by tools/gen_domain_docs.py from domain/events.py -->", "",
             "| event | what it records | answers, in the order they are checked |",
             "|---|---|---|"]
    for t in EVENT_TYPES.values():
        codes = ", ".join(f"`{code}`" for code in t.codes)
        lines.append(f"| `{t.name}` | {t.description} | {codes} |")
    return "\n".join([*lines, "", END])


def render(text: str) -> str:
    """``text`` with its marked section replaced by the current table."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise ValueError(f"{DOC.name} has no {BEGIN} ... {END} section")
    return head + table() + tail


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    wanted = render(text)
    if "--check" in argv:
        if wanted != text:
            print(f"{DOC} is out of date: run python tools/gen_domain_docs.py", file=sys.stderr)
            return 1
        return 0
    if wanted != text:
        DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
