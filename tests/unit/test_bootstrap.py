"""The one bootstrap loads no web framework: a command that only needs the ledger (project,
rebuild, demo) starts without one; and the decision loads no store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DECIDE = Path(__file__).resolve().parents[2] / "service" / "ledger" / "decide.py"


def modules_after_import(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("module", ["service.bootstrap", "service.cli.projections"])
def test_importing_the_bootstrap_loads_no_web_framework(module: str):
    loaded = modules_after_import(module)
    assert "fastapi" not in loaded and "starlette" not in loaded


def test_the_decision_imports_no_store_thread_or_web_code():
    source = DECIDE.read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    allowed = ("from __future__", "import os", "import uuid", "from collections.abc",
               "from dataclasses", "from datetime", "from typing", "from uuid",
               "from eventsourcing.utils", "from domain.", "from service.ledger.commands")
    assert imports and all(line.startswith(allowed) for line in imports), imports
