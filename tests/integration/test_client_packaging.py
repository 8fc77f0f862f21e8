"""The client as installed outside the repository: its package ships ``py.typed``, so a
type checker reads its types, and refuses an unknown event type or a float amount."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "client"

GOOD = '''
from decimal import Decimal

from exim_ledger_client import AsyncLedgerClient, Envelope, LedgerClient


def post(ledger: LedgerClient, deal_id: str) -> Envelope:
    ledger.append(deal_id, "BoardVoted", {
        "meeting_date": "2026-12-01", "votes_for": 4, "votes_against": 1, "abstentions": 0,
        "decision": "approved", "approved_amount": Decimal("8500000")})
    ledger.batch([{"deal_id": deal_id, "type": "FundsDisbursed",
                   "data": {"amount": Decimal("2"), "reference": "W-2"}},
                  {"application_number": "EXIM-1", "type": "DealCancelled",
                   "data": {"reason": "withdrawn"}}])
    return ledger.append(deal_id, "FundsDisbursed", {"amount": "1.00", "reference": "W-1"},
                         expected_version=2, correlation_id="run-1")


async def post_async(ledger: AsyncLedgerClient, deal_id: str) -> Envelope:
    return await ledger.append(deal_id, "DealCancelled", {"reason": "withdrawn"})
'''

BAD = {
    "unknown type": 'ledger.append(deal_id, "NoSuchType", {"reason": "x"})',
    "float amount": 'ledger.append(deal_id, "ClaimPaid", {"amount": 1.5, "reference": "C"})',
    "missing field": 'ledger.append(deal_id, "FundsDisbursed", {"amount": "1.00"})',
    "unknown field": 'ledger.append(deal_id, "DealCancelled", {"reason": "x", "why": "y"})',
    "unknown type in a batch":
        'ledger.batch([{"deal_id": deal_id, "type": "NoSuchType", "data": {"reason": "x"}}])',
    "float in a batch": 'ledger.batch([{"deal_id": deal_id, "type": "ClaimPaid", '
                        '"data": {"amount": 1.5, "reference": "C"}}])',
    "another type's payload in a batch":
        'ledger.batch([{"deal_id": deal_id, "type": "DealCancelled", '
        '"data": {"amount": "1.00", "reference": "W"}}])',
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as an install lays it out: the files its packaging ships."""
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["exim_ledger_client"]
    assert (CLIENT / "exim_ledger_client" / "py.typed").is_file()
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(CLIENT / "exim_ledger_client", site / "exim_ledger_client",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return site


def mypy(site: Path, source: str, directory: Path) -> subprocess.CompletedProcess[str]:
    (directory / "sample.py").write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "sample.py"],
        cwd=directory, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300)


def test_a_correct_sample_passes_mypy_strict(site: Path, tmp_path: Path):
    result = mypy(site, GOOD, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_payloads_fail_mypy_strict(site: Path, tmp_path: Path):
    body = "".join(f"    {line}  # {name}\n" for name, line in BAD.items())
    source = ("from exim_ledger_client import LedgerClient\n\n\n"
              f"def post(ledger: LedgerClient, deal_id: str) -> None:\n{body}")
    result = mypy(site, source, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = source.splitlines()
    failing = {lines[int(row.split(":")[1]) - 1].rsplit("# ", 1)[1]
               for row in result.stdout.splitlines() if row.startswith("sample.py:")
               and ": error:" in row}
    assert failing == set(BAD)


def test_without_py_typed_a_type_checker_would_not_read_the_client(site: Path,
                                                                    tmp_path: Path):
    bare = tmp_path / "bare"
    shutil.copytree(site, bare)
    (bare / "exim_ledger_client" / "py.typed").unlink()
    work = tmp_path / "work"
    work.mkdir()
    result = mypy(bare, GOOD, work)
    assert "missing library stubs or py.typed marker" in result.stdout
