"""Many writers at once, on SQLite and PostgreSQL: optimistic concurrency never loses or
duplicates an acknowledged event, and one Idempotency-Key writes once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import httpx
import pytest

from domain.errors import LedgerError
from service.api.framing import render_error
from service.bootstrap import build_ledger
from service.ledger.application import Ledger
from service.ledger.commands import Command, Context, Idempotency, Outcome, Rendering
from service.ledger.snapshots import Snapshotter
from service.settings import Settings
from tests.support.factories import (
    BOARD_APPROVED,
    application,
    apply_deal,
    assert_problem,
    deal_log,
    headers_for,
    lifecycle_to_financed,
    post_event,
    recompute_hash,
)
from tests.support.projection_support import authorize

THREADS = 20
T = TypeVar("T")
render_envelope = Rendering(201, location="/v1/deals/{deal_id}")


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Ledger]:
    ledger = build_ledger(settings)
    try:
        yield ledger
    finally:
        ledger.close()


def submit(ledger: Ledger, command: Command, actor: str = "writer-key",
           idem: Idempotency | None = None) -> Outcome:
    ctx = Context(actor=actor, idempotency_key=idem.key if idem else None)
    return ledger.submit([command], ctx, render_envelope, render_error, idem)


def all_at_once(work: Callable[[int], T]) -> list[T | LedgerError]:
    """Run ``work(i)`` on THREADS threads released together; results or LedgerErrors."""
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> T | LedgerError:
        barrier.wait(timeout=30)
        try:
            return work(i)
        except LedgerError as error:
            return error

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def new_deal(ledger: Ledger) -> UUID:
    outcome = submit(ledger, Command("DealApplied", application()))
    return UUID(outcome.envelopes[0]["deal_id"])


def vote(deal_id: UUID, n: int, expected_version: int | None = None) -> Command:
    data = dict(BOARD_APPROVED, conditions=[f"writer {n}"])
    return Command("BoardVoted", data, deal_id=deal_id, expected_version=expected_version)


def request(deal_id: UUID, n: int, expected_version: int | None = None) -> Command:
    """A license request of its own reference: a deal takes any number of them (a deal
    holds one vote per meeting, SPEC v3, so many writers' events are requests)."""
    data = {"application_ref": f"Z-{n:04d}", "eccns": ["3A090.a"]}
    return Command("LicenseRequested", data, deal_id=deal_id,
                   expected_version=expected_version)


def assert_stream_is_sound(ledger: Ledger, deal_id: UUID) -> list[dict[str, Any]]:
    events = ledger.deal_events(deal_id)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    prev = None
    for env in events:
        assert env["prev_hash"] == prev
        assert env["hash"] == recompute_hash(env)
        prev = env["hash"]
    log = ledger.log(0, 1000)[0]
    positions = [e["position"] for e in log]
    assert positions == sorted(set(positions))
    stamps = [e["recorded_at"] for e in log]
    assert stamps == sorted(stamps)
    return events


def test_of_twenty_writers_expecting_the_same_version_exactly_one_wins(ledger: Ledger):
    deal_id = new_deal(ledger)
    results = all_at_once(lambda i: submit(ledger, vote(deal_id, i, expected_version=1)))
    winners = [r for r in results if isinstance(r, Outcome)]
    losers = [r for r in results if isinstance(r, LedgerError)]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert all((e.status, e.code, e.extra["current_version"]) == (409, "version_conflict", 2)
               for e in losers), [(e.status, e.code, e.extra) for e in losers]
    events = assert_stream_is_sound(ledger, deal_id)
    assert [e["version"] for e in events] == [1, 2]
    assert events[1] == winners[0].envelopes[0]


def test_twenty_writers_retrying_on_conflict_all_land_once_with_gapless_versions(
    ledger: Ledger,
):
    deal_id = new_deal(ledger)
    conflicts: list[LedgerError] = []
    lock = threading.Lock()

    def append_with_retries(i: int) -> Outcome:
        for _ in range(500):
            version = ledger.deal_state(deal_id)["version"]
            try:
                return submit(ledger, request(deal_id, i, expected_version=version))
            except LedgerError as error:
                if error.code != "version_conflict":
                    raise
                with lock:
                    conflicts.append(error)
        raise AssertionError(f"writer {i} never got its event in")

    results = all_at_once(append_with_retries)
    acknowledged = [r for r in results if isinstance(r, Outcome)]
    assert len(acknowledged) == THREADS, [r for r in results if not isinstance(r, Outcome)]
    assert all(e.status == 409 and isinstance(e.extra["current_version"], int)
               for e in conflicts)
    events = assert_stream_is_sound(ledger, deal_id)
    assert len(events) == THREADS + 1
    by_id = {e["event_id"]: e for e in events}
    for outcome in acknowledged:
        env = outcome.envelopes[0]
        assert by_id[env["event_id"]] == env
        assert json.loads(outcome.response.body) == env
    assert sorted(e["data"]["application_ref"] for e in events[1:]) == sorted(
        f"Z-{i:04d}" for i in range(THREADS))


def test_twenty_writers_without_expected_version_all_land_in_one_gapless_stream(
    ledger: Ledger,
):
    deal_id = new_deal(ledger)
    results = all_at_once(lambda i: submit(ledger, request(deal_id, i)))
    assert all(isinstance(r, Outcome) for r in results), results
    events = assert_stream_is_sound(ledger, deal_id)
    assert len(events) == THREADS + 1
    acknowledged = {r.envelopes[0]["event_id"] for r in results if isinstance(r, Outcome)}
    assert acknowledged == {e["event_id"] for e in events[1:]}


def test_concurrent_requests_with_one_idempotency_key_append_one_event(ledger: Ledger):
    deal_id = new_deal(ledger)
    idem = Idempotency("writer-key", "vote-once", "fingerprint-of-the-same-body")
    results = all_at_once(lambda i: submit(ledger, vote(deal_id, 0), idem=idem))
    outcomes = [r for r in results if isinstance(r, Outcome)]
    assert len(outcomes) == THREADS, [r for r in results if not isinstance(r, Outcome)]
    assert {(o.response.status, o.response.body) for o in outcomes} == {
        (outcomes[0].response.status, outcomes[0].response.body)}
    assert sum(not o.replayed for o in outcomes) == 1
    events = assert_stream_is_sound(ledger, deal_id)
    assert [e["type"] for e in events] == ["DealApplied", "BoardVoted"]
    assert events[1]["idempotency_key"] == "vote-once"


def test_concurrent_applications_with_one_idempotency_key_create_one_deal(ledger: Ledger):
    body = application()
    idem = Idempotency("writer-key", "apply-once", "fingerprint-of-the-same-application")
    results = all_at_once(lambda i: submit(ledger, Command("DealApplied", dict(body)), idem=idem))
    outcomes = [r for r in results if isinstance(r, Outcome)]
    errors = [(r.status, r.code) for r in results if isinstance(r, LedgerError)]
    assert not errors, f"every identical retry should replay the 201, got {errors}"
    assert {(o.response.status, o.response.body) for o in outcomes} == {
        (201, outcomes[0].response.body)}
    assert sum(not o.replayed for o in outcomes) == 1
    assert len(ledger.log(0, 1000)[0]) == 1


def test_concurrent_applications_with_one_number_create_one_deal(ledger: Ledger):
    body = application()
    results = all_at_once(lambda i: submit(ledger, Command("DealApplied", dict(body))))
    created = [r for r in results if isinstance(r, Outcome)]
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(created) == 1
    assert {(e.status, e.code) for e in refused} == {(409, "duplicate_application")}
    assert len(ledger.log(0, 1000)[0]) == 1


def test_concurrent_disbursements_never_exceed_the_commitment(ledger: Ledger):
    authorize(ledger)
    deal_id = new_deal(ledger)
    for step in lifecycle_to_financed():  # license, screening, board, 8.5M financed
        submit(ledger, Command(step["type"], step["data"], deal_id=deal_id))
    results = all_at_once(lambda i: submit(ledger, Command(
        "FundsDisbursed", {"amount": "1000000.00", "reference": f"D-{i}"}, deal_id=deal_id)))
    accepted = [r for r in results if isinstance(r, Outcome)]
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(accepted) == 8
    assert {e.code for e in refused} == {"disbursement_exceeds_commitment"}
    assert ledger.deal_state(deal_id)["disbursed"] == "8000000.00"
    assert_stream_is_sound(ledger, deal_id)


# --- the same races over HTTP (the ASGI app runs each write in its thread pool) -------


async def test_concurrent_http_posts_expecting_one_version_get_one_201_and_409s(
    client: httpx.AsyncClient,
):
    deal_id = (await apply_deal(client))["deal_id"]
    responses = await asyncio.gather(*(
        post_event(client, deal_id, "BoardVoted", BOARD_APPROVED, expected_version=1)
        for _ in range(THREADS)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * (THREADS - 1), [
        r.text for r in responses if r.status_code not in (201, 409)]
    for r in responses:
        if r.status_code == 409:
            assert assert_problem(r, 409, "version_conflict")["current_version"] == 2
    assert [e["version"] for e in await deal_log(client)] == [1, 2]


async def test_concurrent_http_posts_with_one_idempotency_key_write_one_event(
    client: httpx.AsyncClient,
):
    deal_id = (await apply_deal(client))["deal_id"]
    headers = headers_for("BoardVoted", **{"Idempotency-Key": "vote-over-http"})
    responses = await asyncio.gather(*(
        post_event(client, deal_id, "BoardVoted", BOARD_APPROVED, headers=headers)
        for _ in range(THREADS)))
    assert {(r.status_code, r.content) for r in responses} == {
        (201, responses[0].content)}, [r.text for r in responses if r.status_code != 201]
    assert sum("idempotency-replayed" not in r.headers for r in responses) == 1
    assert [e["type"] for e in await deal_log(client)] == ["DealApplied", "BoardVoted"]


def test_snapshots_are_taken_off_the_request_path_and_load_the_same_deal(
    settings: Settings,
):
    """Writers crossing a snapshot interval at once hand their snapshots to one thread;
    once it drained, each deal has its snapshot and loads as from its events alone."""
    ledger = Ledger(settings.eventsourcing_env(), snapshot_interval=4)
    try:
        deals = [new_deal(ledger) for _ in range(6)]
        results = all_at_once(lambda i: [submit(ledger, request(deals[i % 6], i * 10 + n))
                                         for n in range(3)])
        assert not [r for r in results if isinstance(r, LedgerError)]
        assert ledger.snapshotter.drain()
        for deal_id in deals:
            assert ledger.deal_state(deal_id)["version"] >= 4
            snapshot = list(ledger.snapshots.get(deal_id, desc=True, limit=1))
            assert snapshot and snapshot[0].originator_version % 4 == 0
            whole = ledger.repository.get(deal_id)
            from_events = Ledger(settings.eventsourcing_env(), snapshot_interval=10**6)
            try:
                plain = from_events.load(deal_id)
            finally:
                from_events.close()
            assert whole.view(ledger.policy_book()) == plain.view(ledger.policy_book())
    finally:
        ledger.close()


def test_the_snapshotter_keeps_the_latest_due_version_and_drains_on_close():
    taken: list[tuple[UUID, int]] = []
    gate = threading.Event()

    def take(deal_id: UUID, version: int) -> None:
        gate.wait(10)
        taken.append((deal_id, version))

    snapshotter = Snapshotter(take, capacity=2)
    a, b, c = (UUID(int=n) for n in (1, 2, 3))
    snapshotter.due(a, 100)  # the thread takes this one and waits at the gate
    for _ in range(3000):  # until the thread holds it (a condition, polled)
        if snapshotter._taking:
            break
        threading.Event().wait(0.01)
    assert snapshotter._taking
    snapshotter.due(b, 100)
    snapshotter.due(b, 200)  # replaces b's queued 100
    snapshotter.due(c, 100)
    snapshotter.due(a, 300)  # the queue is full (b and c): skipped until the next interval
    gate.set()
    snapshotter.close()
    assert taken == [(a, 100), (b, 200), (c, 100)]
    snapshotter.due(a, 400)  # closed: ignored
    assert taken == [(a, 100), (b, 200), (c, 100)]
