"""Schema fuzzing of a real ``exim-ledger serve``: every operation, as each role, from the
server's own OpenAPI document. No input is a 5xx; every answer is documented (status,
content type, headers, body schema); schema-invalid input is refused and schema-valid input
passes validation.

``LEDGER_FUZZ_SCALE`` multiplies the budget and ``LEDGER_FUZZ_POSTGRES=1`` adds a run on
PostgreSQL (``make fuzz`` sets both)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from exim_ledger_bench.server import serve

from tests.conftest import KEYS, _truncate_pg
from tests.support.live_server import ledger_env
from tests.support.schema_fuzz import run

pytestmark = pytest.mark.fuzz

SCALE = int(os.environ.get("LEDGER_FUZZ_SCALE", "1"))
# Cases per operation in the fuzzing phase. The coverage phase (every boundary, enum value
# and type of every input: about 4,900 cases) runs as admin, who may call everything; the
# other roles add theirs (and, with LEDGER_FUZZ_SCALE above 1, the coverage phase too).
EXAMPLES = 10 * SCALE
MIN_CASES = 5000  # the floor of a CI-sized run; make fuzz reports its own count
BACKENDS = ["sqlite", "postgres"] if os.environ.get("LEDGER_FUZZ_POSTGRES") == "1" else ["sqlite"]


@pytest.fixture(params=BACKENDS)
def throwaway_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[
        Callable[[str], str]]:
    """A new, migrated, empty database per call (a role's run must not see another's)."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")

        def copy(role: str) -> str:
            path = _directory(tmp_path / role) / "ledger.db"
            shutil.copy(template, path)
            return f"sqlite:///{path}"

        yield copy
    else:
        url = request.getfixturevalue("pg_ready")

        def fresh(_: str) -> str:
            _truncate_pg(url)
            return url

        yield fresh


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def test_every_operation_as_every_role_answers_as_documented(
    throwaway_database: Callable[[str], str], tmp_path: Path,
) -> None:
    started, cases, seconds, found = time.monotonic(), {}, {}, []
    for role, secret in KEYS.items():
        began = time.monotonic()
        url = throwaway_database(role)
        server_dir = _directory(tmp_path / f"{role}-server")
        with serve(ledger_env(url), server_dir) as base:
            outcome = run(base, secret, EXAMPLES, coverage=role == "admin" or SCALE > 1)
        cases[role], seconds[role] = outcome.cases, round(time.monotonic() - began)
        if outcome.failures or outcome.errors:
            found.append(f"as {role}:\n{outcome.report()}")
    elapsed = time.monotonic() - started
    print(f"schema fuzzing: {cases} = {sum(cases.values())} cases in {elapsed:.0f} s {seconds}")
    assert not found, "\n".join(found)
    assert sum(cases.values()) >= MIN_CASES, cases
