"""A backup while a real server takes writes (``exim-ledger backup`` on SQLite, the pg_dump
it names on PostgreSQL): the copy is a consistent prefix of the log holding every write
acknowledged before the backup began, it verifies, and it serves once restored."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import Result
from exim_ledger_bench.server import serve
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import KEYS
from tests.integration.test_migrations import scratch_postgres
from tests.support.factories import application
from tests.support.live_server import cli, ledger_env

WRITER = {"Authorization": f"Bearer {KEYS['writer']}"}
PATIENCE = 60.0  # a generous bound on a loaded machine; the waits end on their condition


class Writes(threading.Thread):
    """Posts new deals until stopped, keeping the position of each acknowledged one."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: list[int] = []
        self.refused: list[str] = []
        self.stopping = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as http:
            while not self.stopping.is_set():
                r = http.post("/v1/deals", json=application(), headers=WRITER)
                with self.changed:
                    if r.status_code == 201:
                        self.acknowledged.append(r.json()["position"])
                    else:
                        self.refused.append(r.text)
                    self.changed.notify_all()

    def wait_for(self, count: int) -> list[int]:
        """The acknowledged positions once there are at least ``count``."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.acknowledged) >= count, PATIENCE)
            return list(self.acknowledged)

    def finish(self) -> list[int]:
        self.stopping.set()
        self.join(PATIENCE)
        assert not self.is_alive() and self.refused == []
        return self.acknowledged


def exported(env: dict[str, str]) -> list[str]:
    result = cli(env, "export")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def take_backup(database_url: str, env: dict[str, str], path: Path) -> None:
    """``exim-ledger backup``; on PostgreSQL, the pg_dump it names instead."""
    if database_url.startswith("postgresql"):
        dumped = subprocess.run(["pg_dump", "--format=custom", f"--file={path}", database_url],
                                capture_output=True, text=True, timeout=PATIENCE)
        assert dumped.returncode == 0, dumped.stderr
        return
    made = cli(env, "backup", str(path))
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stderr and not list(path.parent.glob(".*partial"))


@contextmanager
def restored(database_url: str, backup: Path, directory: Path) -> Iterator[str]:
    """The URL of a new ledger restored from ``backup`` as docs/operations.md says."""
    if not database_url.startswith("postgresql"):
        shutil.copy(backup, directory / "ledger.db")
        yield f"sqlite:///{directory / 'ledger.db'}"
        return
    with scratch_postgres(database_url, "restored") as target:
        loaded = subprocess.run(["pg_restore", "--exit-on-error", "--no-owner",
                                 f"--dbname={target}", str(backup)],
                                capture_output=True, text=True, timeout=PATIENCE)
        assert loaded.returncode == 0, loaded.stderr
        yield target


def test_a_backup_taken_while_writes_run_is_a_consistent_prefix_that_verifies_and_serves(
    database_url: str, tmp_path: Path
):
    env = ledger_env(database_url)
    backup = tmp_path / "backups" / "ledger.backup"
    backup.parent.mkdir()
    with serve(env, tmp_path) as url:
        writes = Writes(url)
        writes.start()
        try:
            before = writes.wait_for(20)
            take_backup(database_url, env, backup)
            at_the_end = writes.wait_for(0)
            writes.wait_for(len(at_the_end) + 20)  # the server goes on writing
        finally:
            acknowledged = writes.finish()
        source = exported(env)

    (tmp_path / "restored").mkdir()
    with restored(database_url, backup, tmp_path / "restored") as restored_url:
        restored_env = ledger_env(restored_url)
        checked = cli(restored_env, "verify")
        assert checked.returncode == 0, checked.stderr + checked.stdout
        copy = exported(restored_env)
        assert copy == source[:len(copy)] and len(copy) < len(source)
        kept = {json.loads(line)["position"] for line in copy}
        assert set(before) <= kept and not set(acknowledged) <= kept
        with serve(restored_env, tmp_path / "restored") as restored_server, \
                httpx.Client(base_url=restored_server, timeout=10.0) as http:
            r = http.post("/v1/deals", json=application(), headers=WRITER)
            assert r.status_code == 201, r.text
            assert r.json()["position"] > max(kept)


def run(args: list[str], database_url: str) -> Result:
    return CliRunner().invoke(app, args, env={"LEDGER_DATABASE_URL": database_url})


def test_backup_refuses_postgresql_and_names_pg_dump(tmp_path: Path):
    result = run(["backup", str(tmp_path / "copy.db")], "postgresql://nobody@127.0.0.1:1/x")
    assert result.exit_code == 2
    assert "pg_dump" in result.output and "pg_basebackup" in result.output
    assert not (tmp_path / "copy.db").exists()


def test_backup_never_overwrites_a_file(sqlite_template: Path, tmp_path: Path):
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"precious")
    result = run(["backup", str(existing)], f"sqlite:///{sqlite_template}")
    assert result.exit_code == 2
    assert f"{existing} exists; back up to a new file" in " ".join(result.output.split())
    assert "directory" not in result.output
    assert existing.read_bytes() == b"precious"


def test_backup_into_a_missing_directory_names_the_directory(sqlite_template: Path,
                                                             tmp_path: Path):
    result = run(["backup", str(tmp_path / "nowhere" / "copy.db")], f"sqlite:///{sqlite_template}")
    said = " ".join(result.output.split())
    assert result.exit_code == 2
    assert f"the directory {tmp_path / 'nowhere'} does not exist" in said
    assert "exists;" not in said


def test_a_backup_file_is_readable_by_its_owner_only(sqlite_template: Path, tmp_path: Path):
    backup = tmp_path / "ledger.backup"
    permissive = os.umask(0o022)
    try:
        result = run(["backup", str(backup)], f"sqlite:///{sqlite_template}")
    finally:
        os.umask(permissive)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
