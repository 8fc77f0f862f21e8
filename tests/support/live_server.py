"""The tests that run the installed ``exim-ledger`` as a real process: its environment,
its commands, and what the ``live_server`` fixture (tests/conftest.py) yields."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from exim_ledger_bench.server import CLI

from tests.conftest import BOOTSTRAP


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]  # the server's environment, for ``cli`` commands against its database


def ledger_env(database_url: str) -> dict[str, str]:
    """A ledger process's environment: none of the caller's ``LEDGER_`` settings, the
    test keys, and ``database_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return env | {"LEDGER_DATABASE_URL": database_url, "LEDGER_BOOTSTRAP_KEYS": BOOTSTRAP,
                  "LEDGER_LOG_LEVEL": "warning"}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def migrated_sqlite(directory: Path) -> str:
    """The URL of a new SQLite ledger in ``directory``, migrated by the installed command."""
    url = f"sqlite:///{directory / 'ledger.db'}"
    migrated = cli(ledger_env(url), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return url
