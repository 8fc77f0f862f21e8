"""PostgreSQL goes away under load and comes back: a real server on a private cluster
stopped with ``-m immediate``, once for 8 s and once for 60 s.

While the database is away every request (writes, deal reads, projection reads,
``/readyz``) is answered 503 with ``Retry-After`` within the lock timeout plus a second,
never a 500 and never a hang. Within 2 s of the database's return the service is whole
again by itself: its pools, its projection runner and its LISTEN connection. Afterwards
every acknowledged write has exactly one event, no event comes from a key never sent,
streams are gapless and chained, ``exim-ledger verify`` passes, and the read models
equal a rebuild."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from exim_ledger_bench.server import serve

from service.settings import Settings
from tests.reliability import pg_cluster
from tests.reliability.outage_load import READ_KINDS, Load, Record
from tests.support.live_server import cli, ledger_env
from tests.support.projection_support import NAMES, all_live_rows, ledger_and_engine, new_runner

pytestmark = [pytest.mark.postgres, pytest.mark.reliability]

LOCK_TIMEOUT = 3
ANSWER_BOUND = LOCK_TIMEOUT + 1.0  # the longest any request may wait during an outage
RECOVERY_BOUND = 2.0  # after the database accepts connections again
OUTAGES = (8.0, 60.0)
PATIENCE = 120.0  # generous bound on conditions a loaded machine reaches slowly
KINDS = ("write", *READ_KINDS)


@pytest.fixture
def cluster() -> Iterator[pg_cluster.Cluster]:
    reason = pg_cluster.available()
    if reason:
        pytest.skip(reason)
    with pg_cluster.private_cluster() as made:
        yield made


def eventually(what: str, check: object) -> float:
    """Poll ``check`` until it holds (bounded by PATIENCE); the monotonic time it did."""
    assert callable(check)
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, f"not within {PATIENCE} s: {what}"
        time.sleep(0.02)
    return time.monotonic()


def listening(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE query = 'LISTEN ledger_events'").fetchone()
    except psycopg.OperationalError:
        return False
    return bool(row and row[0])


def leases(url: str) -> int:
    """How many projection leases (advisory locks) are held."""
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                               "AND granted").fetchone()
    except psycopg.OperationalError:
        return -1
    return int(row[0]) if row else 0


def head_and_lowest_position(url: str) -> tuple[int, int]:
    with psycopg.connect(url, connect_timeout=2) as conn:
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM ledger_events"
                            ).fetchone()
        lowest = conn.execute("SELECT coalesce(min(position), 0) FROM projection_positions "
                              "WHERE name = ANY(%s)", (list(NAMES),)).fetchone()
    assert head is not None and lowest is not None
    return int(head[0]), int(lowest[0])


class Recovery:
    """When, after the database's return at ``back``, the LISTEN connection was back, the
    runner held its leases again, and it had projected a write made after the return;
    each condition polled on its own, so one slow to hold does not delay the others."""

    def __init__(self, url: str, back: float, held: int) -> None:
        self.url, self.back, self.held = url, back, held
        self.before, _ = head_and_lowest_position(url)
        self.target: int | None = None
        self.seen: dict[str, float] = {}

    def _projected(self) -> bool:
        head, lowest = head_and_lowest_position(self.url)
        if self.target is None and head > self.before:
            self.target = head
        return self.target is not None and lowest >= self.target

    def watch(self) -> dict[str, float]:
        checks = {"listen_back_s": lambda: listening(self.url),
                  "leases_back_s": lambda: leases(self.url) == self.held,
                  "projected_s": self._projected}

        def all_seen() -> bool:
            for name, check in checks.items():
                if name not in self.seen and check():
                    self.seen[name] = time.monotonic() - self.back
            return len(self.seen) == len(checks)

        eventually("the LISTEN connection, the leases and the projections are back",
                   all_seen)
        return self.seen


def outage(cluster: pg_cluster.Cluster, record: Record, seconds: float) -> dict[str, float]:
    """Stop the database for ``seconds`` under the running load; check what clients saw."""
    warm = time.monotonic()
    eventually("every kind of request succeeds before the outage",
               lambda: all(record.succeeded_since(warm, k) >= 3 for k in KINDS))
    held = leases(cluster.url)
    assert held > 0, "the runner leads its projections"
    stopping = time.monotonic()
    cluster.stop("immediate")
    down = time.monotonic()
    time.sleep(seconds)  # the outage itself, not a wait on anything
    starting = time.monotonic()
    cluster.start()
    back = time.monotonic()
    recovery = Recovery(cluster.url, back, held).watch()
    eventually("every kind of request succeeds again after the recovery bound",
               lambda: all(record.succeeded_since(back + RECOVERY_BOUND, k) >= 3
                           for k in KINDS))
    after = time.monotonic()

    during = record.between(down, starting)
    assert {a.kind for a in during} == set(KINDS), "every kind was tried during the outage"
    refused = [a for a in during if a.status != 503 or a.retry_after is None]
    assert refused == [], "every request during the outage is a 503 with Retry-After"
    overlapping = record.between(stopping - PATIENCE, after)
    overlapping = [a for a in overlapping if a.ended >= stopping and a.started <= back]
    slow = [a for a in overlapping if a.took > ANSWER_BOUND]
    assert slow == [], f"answers slower than {ANSWER_BOUND} s during the outage"
    since_back = record.between(back, after)
    failed = [a for a in since_back if a.status not in (200, 201)]
    late = [a for a in failed if a.started > back + RECOVERY_BOUND]
    assert late == [], f"failures more than {RECOVERY_BOUND} s after the database returned"
    assert recovery["listen_back_s"] <= RECOVERY_BOUND, recovery
    assert recovery["leases_back_s"] <= RECOVERY_BOUND, recovery
    # a write made after the return, acknowledged and then projected
    assert recovery["projected_s"] <= RECOVERY_BOUND + 1.0, recovery
    served = [a for a in record.between(stopping, after) if a.status in (200, 201)
              and a.ended >= back]
    served_again = max(min(a.ended for a in served if a.kind == k) - back for k in KINDS)
    assert served_again <= RECOVERY_BOUND, "every kind of request is served again in time"
    return {
        "outage_s": seconds,
        "requests_during": len(during),
        "worst_503_s": max(a.took for a in overlapping if a.status == 503),
        "last_failure_s": max((a.ended - back for a in failed), default=0.0),
        "served_again_s": served_again,
        **recovery,
    }


def check_answers(record: Record) -> None:
    statuses = Counter(a.status for a in record.answers)
    assert set(statuses) <= {200, 201, 503}, statuses  # never a 500, a 4xx or a dropped call
    problems = [a for a in record.answers if a.status == 503 and a.kind != "readyz"]
    assert {a.code for a in problems} <= {"database_unavailable"}


def check_events(url: str, record: Record) -> int:
    """Exactly one event per acknowledged key, none for a key never sent, gapless chained
    streams; the number of events."""
    with ledger_and_engine(Settings(database_url=url)) as (ledger, engine):
        events = [e for e in ledger.store.select_log(0, 10_000_000)
                  if e["deal_id"] != "00000000-0000-0000-0000-000000000000"]
        runner = new_runner(Settings(database_url=url), ledger, engine)
        live = all_live_rows(runner)
        for name in NAMES:
            runner.rebuild(name)
        assert all_live_rows(runner) == live, "the read models equal a rebuild"
    by_key = Counter(e["idempotency_key"] for e in events)
    assert all(by_key[key] == 1 for key in record.acknowledged), "one event per acknowledgement"
    assert set(by_key) <= record.sent, "no event for a key never sent"
    assert max(by_key.values()) == 1
    for key, (deal, version) in record.acknowledged.items():
        assert any(e["idempotency_key"] == key and e["deal_id"] == deal
                   and e["version"] == version for e in events)
    streams: dict[str, list[dict[str, object]]] = {}
    for e in events:
        streams.setdefault(str(e["deal_id"]), []).append(e)
    for stream in streams.values():
        stream.sort(key=lambda e: int(str(e["version"])))
        assert [e["version"] for e in stream] == list(range(1, len(stream) + 1))
        for earlier, later in zip(stream, stream[1:], strict=False):
            assert later["prev_hash"] == earlier["hash"]
    return len(events)


def test_postgresql_outages_under_load_are_503s_then_heal_without_losing_a_write(
    cluster: pg_cluster.Cluster, tmp_path: Path,
) -> None:
    # keys stay cached, so that requests get past authentication (which the read models'
    # engine serves, like the portfolio) to the event store's own pool while it is away
    env = ledger_env(cluster.url) | {"LEDGER_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT),
                                     "LEDGER_KEY_CACHE_SECONDS": "3600"}
    migrated = cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    figures = []
    with serve(env, tmp_path) as url, Load(url) as load:
        for seconds in OUTAGES:
            figures.append(outage(cluster, load.record, seconds))
        load.stop()
        eventually("the read models caught up",
                   lambda: (lambda h, p: p >= h)(*head_and_lowest_position(cluster.url)))
    check_answers(load.record)
    count = check_events(cluster.url, load.record)
    verified = cli(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(f"\noutages: {figures}\nacknowledged writes: {len(load.record.acknowledged)}, "
          f"events checked: {count}, answers: {len(load.record.answers)}")
