"""The ledger under test: fresh databases, its server's environment, and writing deals
through its API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from exim_ledger_bench import server as harness
from exim_ledger_bench.data import batches
from exim_ledger_bench.load import percentiles

TOKEN = "bench-admin-secret-000000000001"  # reads and administration
# SPEC v3 desks: each event type is posted by its desk's key (domain.desks)
DESK_TOKENS = {desk: f"bench-{desk}-secret-000000000001"
               for desk in ("origination", "licensing", "board", "servicing")}
POSTER = DESK_TOKENS["servicing"]  # the money events the write scenarios repeat
BATCH_EVENTS = 1000  # the most one POST /v1/batches takes


@dataclass(frozen=True)
class Target:
    """Where a scenario's ledger lives: a new SQLite file, or a PostgreSQL database that the
    bench empties before each scenario."""

    kind: str  # "sqlite" or "postgresql"
    work: Path
    postgres_url: str | None = None

    def fresh(self, name: str) -> str:
        if self.postgres_url is None:
            path = self.work / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        import psycopg

        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return self.postgres_url


def ledger_env(database_url: str, work: Path, **settings: str) -> dict[str, str]:
    """The shipped defaults, but for the database, an admin key, a key for each desk and a
    signing key file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    keys = [f"admin:bench:{TOKEN}"] + [f"{desk}:bench-{desk}:{token}"
                                       for desk, token in DESK_TOKENS.items()]
    return env | {"LEDGER_DATABASE_URL": database_url,
                  "LEDGER_BOOTSTRAP_KEYS": ",".join(keys),
                  "LEDGER_SIGNING_KEY_FILE": str(work / "signing-key"),
                  **{f"LEDGER_{k.upper()}": v for k, v in settings.items()}}


def migrate(env: dict[str, str], work: Path) -> None:
    harness.run([str(harness.CLI), "migrate"], env, work)


@contextlib.contextmanager
def server(env: dict[str, str], work: Path, *options: str) -> Iterator[harness.Process]:
    with harness.LedgerProcess(env, work, "serve", *options, log_name="ledger.log") as s:
        yield s


def client(url: str, token: str = TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=300,
                             headers={"Authorization": f"Bearer {token}"})


AUTHORIZATION = {"votes_for": 4, "votes_against": 0, "abstentions": 1,
                 "total_limit": "1000000000000.00"}


async def authorize(url: str) -> None:
    """SPEC v3: the board authorizes the program before the first financing (from today,
    without a practical limit), unless an authorization is in force."""
    async with client(url, DESK_TOKENS["board"]) as http:
        r = await http.get("/v1/program")
        r.raise_for_status()
        if r.json()["authorization"] is not None:
            return
        today = time.strftime("%Y-%m-%d", time.gmtime())
        r = await http.post("/v1/program/authorizations", json={
            **AUTHORIZATION, "meeting_date": today, "effective_from": today})
        if r.status_code != 201:
            raise RuntimeError(f"POST /v1/program/authorizations: {r.status_code} {r.text}")


async def post_batches(url: str, prefix: str, deals: int, *, full: bool,
                       senders: int = 2) -> dict[str, Any]:
    """Write ``deals`` deals through ``POST /v1/batches`` of up to 1000 events from
    ``senders`` concurrent clients, desk after desk (every deal's origination events, then
    licensing's, ...: a batch is one desk's); events/s with the batches' latencies, and deal
    ids."""
    latencies: list[float] = []
    ids: list[str] = []
    events = 0

    async def sender(http: httpx.AsyncClient, pending: Iterator[list[dict[str, Any]]]) -> None:
        nonlocal events
        for items in pending:
            started = time.perf_counter()
            r = await http.post("/v1/batches", json={"events": items})
            latencies.append(time.perf_counter() - started)
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/batches: {r.status_code} {r.text[:500]}")
            body = r.json()["events"]
            events += len(body)
            ids.extend(e["deal_id"] for e in body if e["type"] == "DealApplied")

    await authorize(url)
    started = time.perf_counter()
    for desk in DESK_TOKENS:
        pending = batches(prefix, deals, BATCH_EVENTS, full=full, desk=desk)
        async with client(url, DESK_TOKENS[desk]) as http:
            await asyncio.gather(*(sender(http, pending) for _ in range(senders)))
    elapsed = time.perf_counter() - started
    return {"events": events, "seconds": round(elapsed, 2),
            "per_s": round(events / elapsed, 1), **percentiles(latencies), "deal_ids": ids}

