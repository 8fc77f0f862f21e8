"""Measures taken in the bench's own process against a ledger's database, each next to
its baseline: rebuild against raw read + ``json.loads``, the batched save of the library,
and verification against raw SHA-256 of the same stored bytes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from projections.positions import positions
from service.bootstrap import build_ledger, build_runner
from service.db import create_engine
from service.ledger.application import Ledger
from service.settings import Settings

PAGE = 1000
SAVE_BATCH = 1000


@contextlib.contextmanager
def opened(database_url: str) -> Iterator[tuple[Ledger, sa.Engine]]:
    settings = Settings(database_url=database_url)
    ledger, engine = build_ledger(settings), create_engine(settings)
    try:
        yield ledger, engine
    finally:
        ledger.close()
        engine.dispose()


def projected(engine: sa.Engine) -> int:
    """The position every projection has reached."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.min(positions.c.position))).scalar() or 0)


def wait_projected(database_url: str, timeout: float) -> float:
    """Seconds until every projection reaches the head; an error after ``timeout``."""
    with opened(database_url) as (ledger, engine):
        head, started = ledger.store.head(), time.perf_counter()
        while projected(engine) < head:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"projections below {head} after {timeout:.0f} s")
            time.sleep(0.05)
        return time.perf_counter() - started


def rows(ledger: Ledger) -> Iterator[tuple[str, int, int, str, bytes, str]]:
    after = 0
    while page := ledger.store.select_raw(after, PAGE):
        yield from page
        after = page[-1][2]


def rebuild(database_url: str) -> dict[str, Any]:
    """Every projection rebuilt together from the log (``rebuild all``), against reading
    and decoding the same log."""
    with opened(database_url) as (ledger, engine):
        started = time.perf_counter()
        events = sum(1 for row in rows(ledger) if json.loads(row[4]))
        raw = time.perf_counter() - started
        runner = build_runner(Settings(database_url=database_url), ledger, engine)
        started = time.perf_counter()
        runner.rebuild_all()
        took = time.perf_counter() - started
    return {"events": events, "per_s": round(events / took, 1), "seconds": round(took, 2),
            "projections": list(runner.projections),
            "baseline": {"name": "raw read + json.loads", "per_s": round(events / raw, 1),
                         "seconds": round(raw, 3)},
            "ratio": round(raw / took, 4)}


def raw_save(database_url: str, work: Path, limit: int) -> dict[str, Any]:
    """The library's own batched save (``insert_events``, 1000 a transaction) of the first
    ``limit`` stored events, into a new table of a plain eventsourcing application."""
    from eventsourcing.application import Application
    from eventsourcing.persistence import StoredEvent

    with opened(database_url) as (ledger, _):
        stored = [StoredEvent(UUID(d), v, topic, state)
                  for d, v, _, topic, state, _ in _first(rows(ledger), limit)]
    settings = Settings(database_url=database_url)
    env = {"CREATE_TABLE": "y"}
    if settings.is_postgres:
        env |= {k: v for k, v in settings.eventsourcing_env().items()
                if k.startswith(("POSTGRES_", "PERSISTENCE_"))}
    else:
        path = work / "raw-save.db"
        path.unlink(missing_ok=True)
        env |= {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}

    class RawSave(Application[UUID]):
        pass

    app = RawSave(env=env)
    try:
        started = time.perf_counter()
        for i in range(0, len(stored), SAVE_BATCH):
            app.recorder.insert_events(stored[i:i + SAVE_BATCH])
        took = time.perf_counter() - started
    finally:
        app.close()
    return {"name": "eventsourcing insert_events, 1000 a transaction",
            "events": len(stored), "per_s": round(len(stored) / took, 1)}


def _first(items: Iterator[Any], n: int) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) >= n:
            break
        out.append(item)
    return out


def raw_sha256(database_url: str) -> dict[str, Any]:
    """Read every stored event's bytes and hash them: the floor under ``verify``."""
    with opened(database_url) as (ledger, _):
        started = time.perf_counter()
        events = sum(1 for row in rows(ledger) if hashlib.sha256(row[4]).digest())
        took = time.perf_counter() - started
    return {"name": "raw read + SHA-256", "events": events, "per_s": round(events / took, 1),
            "seconds": round(took, 3)}
