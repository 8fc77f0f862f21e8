#!/usr/bin/env python3
"""Write the auditor's self-contained page to tools/audit.html (the copy an auditor keeps),
built from service/audit_page/ and the dashboard's verify.js exactly as the service builds
the page it serves at /dashboard/audit. ``--check`` fails when the committed copy differs
from what the sources build.

    python tools/build_audit_page.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from service.audit_page import build

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = (ROOT / "tools" / "audit.html",)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the auditor's one-file page.")
    parser.add_argument("--check", action="store_true",
                        help="fail if the committed page differs from the sources' build")
    args = parser.parse_args(argv)
    page = build()
    stale = [p for p in OUTPUTS if not p.is_file() or p.read_text(encoding="utf-8") != page]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python tools/build_audit_page.py",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in OUTPUTS:
        path.write_text(page, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
