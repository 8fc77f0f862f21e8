"""tools/verify_ledger.py, loaded from its file as an auditor runs it (it is no package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TOOL_PATH = Path(__file__).resolve().parents[2] / "tools" / "verify_ledger.py"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_ledger", TOOL_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
