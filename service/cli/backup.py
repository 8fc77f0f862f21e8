"""``exim-ledger backup``: a consistent copy of a live SQLite ledger. PostgreSQL is backed up
with its own tools, which this command names."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Annotated

import typer

from service.cli.setup import engine_at_head, err, fail
from service.settings import Settings

app = typer.Typer()

POSTGRES_HOWTO = """\
[bold]PostgreSQL is backed up with its own tools[/bold] (docs/operations.md):
  a consistent dump, while the ledger serves:
    pg_dump --format=custom --file=ledger.dump "$LEDGER_DATABASE_URL"
  restored into a new, empty database:
    pg_restore --exit-on-error --no-owner --dbname=postgresql://.../ledger_restored ledger.dump
  point-in-time recovery: archive the WAL (archive_mode = on, archive_command), take base backups
    pg_basebackup --pgdata=base --format=tar --gzip --wal-method=stream --checkpoint=fast
  and recover one with restore_command and recovery_target_time."""


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="the file to write; it must not exist")],
) -> None:
    """Copy the SQLite ledger to PATH with SQLite's online backup API: one consistent
    snapshot, taken while the server goes on writing. On PostgreSQL, says how to use
    pg_dump and refuses."""
    from service.integrity.signing import signing_key_path

    settings = Settings()
    if settings.is_postgres:
        err.print(POSTGRES_HOWTO, soft_wrap=True)
        raise fail("exim-ledger backup copies SQLite ledgers only; use pg_dump (above)")
    if path.exists():
        raise fail(f"{path} exists; back up to a new file")
    if not path.parent.is_dir():
        raise fail(f"the directory {path.parent} does not exist; create it, or back up "
                   "to a file in another")
    if not settings.sqlite_path.is_file():
        raise fail(f"no ledger at {settings.sqlite_path}")
    with engine_at_head(settings):
        pass  # refuses an unmigrated database in one line
    partial = path.with_name(f".{path.name}.partial")
    try:
        # the copy holds every deal and key digest: only its owner reads it, from its first byte
        _private_file(partial)
        events, head = _copy(settings.sqlite_path, partial, settings.lock_timeout_seconds)
        os.replace(partial, path)  # a backup file is always whole
    except sqlite3.Error as e:
        raise fail(f"backup failed: {e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    err.print(f"backed up {events} events, up to position {head}, to {path}")
    key = signing_key_path(settings)
    if not settings.signing_key and key.exists():
        err.print(f"the digest signing key {key} is not in the database: keep a copy of it "
                  "apart from this backup")


def _private_file(path: Path) -> None:
    """An empty ``path`` that only its owner may read or write (a stale one emptied)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a stale file keeps its old mode through O_CREAT
    finally:
        os.close(fd)


def _copy(source: Path, target: Path, timeout: float) -> tuple[int, int]:
    """Copy ``source`` to ``target`` in one step (one read transaction: a consistent
    snapshot; in WAL mode it does not hold up writers), checked; its events and head."""
    with contextlib.closing(sqlite3.connect(source, timeout=timeout)) as live, \
            contextlib.closing(sqlite3.connect(target)) as copy:
        live.backup(copy)
        (check,) = copy.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise fail(f"the copy failed SQLite's integrity check: {check}")
        count, head = copy.execute(
            "SELECT count(*), coalesce(max(rowid), 0) FROM ledger_events").fetchone()
    return int(count), int(head)
