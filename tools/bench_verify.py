"""Benchmark ``verify`` (SPEC §3 hash chains + Merkle leaves) over a large log.

Builds a fresh ledger of N events (default 100,000: the first five events of each deal,
written through ``Ledger.submit`` in batches of 1000 commands, as ``POST /v1/batches`` does),
brings the ``merkle`` projection up to the head, then times the verification
over the whole log. Runs on SQLite, and on PostgreSQL when reachable (in a scratch
database ``bench_verify``, dropped and re-created).

    .venv/bin/python -m tools.bench_verify [--events 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from service.api.app import build_ledger
from service.db import create_engine, migrate
from service.integrity import proofs, verification
from service.ledger import Command
from service.settings import Settings
from tools.benchdata import deal_commands, write

PG_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PER_DEAL = 5


def commands(events: int) -> Iterator[Command]:
    """``events`` commands: the first ``PER_DEAL`` of each deal, deal after deal."""
    per_deal = (deal_commands(n)[:PER_DEAL] for n in itertools.count())
    return itertools.islice(itertools.chain.from_iterable(per_deal), events)


def bench(settings: Settings, events: int) -> None:
    migrate(settings)
    ledger = build_ledger(settings)
    engine = create_engine(settings)
    try:
        print(f"{settings.database_url.split(':', 1)[0]}: building {events} events")
        took = write(ledger, commands(events))
        print(f"  write:   {took:7.1f} s  ({events / took:8.0f} events/s, via Ledger.submit)")
        started = time.perf_counter()
        proofs.catch_up(engine, ledger.store)
        took = time.perf_counter() - started
        print(f"  merkle:  {took:7.1f} s  ({events / took:8.0f} events/s, incremental tree)")
        started = time.perf_counter()
        report = verification.verify(ledger.store, engine)
        took = time.perf_counter() - started
        assert report.ok and report.events_checked == events, report.as_dict()
        print(f"  verify:  {took:7.1f} s  ({events / took:8.0f} events/s) "
              f"ok={report.ok} events_checked={report.events_checked}")
    finally:
        ledger.close()
        engine.dispose()


def scratch_postgres() -> str | None:
    import psycopg

    parts = urlsplit(PG_URL)
    url = urlunsplit(parts._replace(path="/bench_verify"))
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_verify WITH (FORCE)")
            conn.execute("CREATE DATABASE bench_verify")
    except psycopg.Error as e:
        print(f"postgresql: skipped ({e})")
        return None
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench(Settings(database_url=f"sqlite:///{tmp}/ledger.db"), args.events)
    if not args.no_postgres:
        url = scratch_postgres()
        if url:
            bench(Settings(database_url=url), args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
