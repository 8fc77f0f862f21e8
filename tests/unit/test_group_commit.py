"""The group committer when the store is away: the writes that queued behind a failed
attempt fail with it at once, instead of each waiting out another attempt of their own."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import pytest

from service.eventstore.groupcommit import GroupCommitter, Unit
from service.eventstore.types import Appended, NewEvent, StoreUnavailable

PATIENCE = 60.0  # bounds waits that end as soon as their condition holds


def one_event() -> list[NewEvent]:
    return [NewEvent(uuid.uuid4(), 1, "DealApplied", {})]


class AwayStore:
    """A commit that blocks until released, then fails as an unreachable database does,
    while ``away``; otherwise it succeeds."""

    def __init__(self) -> None:
        self.attempts: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.away = True

    def commit(self, units: list[Unit]) -> None:
        self.attempts.append(len(units))
        self.entered.set()
        assert self.release.wait(PATIENCE)
        if self.away:
            raise StoreUnavailable("connection refused")
        for unit in units:
            unit.result = Appended([])


def submit_in_thread(committer: GroupCommitter, outcomes: list[BaseException | Appended]
                     ) -> threading.Thread:
    def run() -> None:
        try:
            outcomes.append(committer.submit(one_event(), None))
        except BaseException as e:  # noqa: BLE001 - the outcome is what the test checks
            outcomes.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until(what: str, check: object) -> None:
    assert callable(check)
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_writes_queued_behind_a_failed_attempt_fail_with_it_and_the_next_one_tries_again(
) -> None:
    store = AwayStore()
    committer = GroupCommitter(store.commit, "test-commit")
    try:
        outcomes: list[BaseException | Appended] = []
        threads = [submit_in_thread(committer, outcomes)]
        assert store.entered.wait(PATIENCE)
        threads += [submit_in_thread(committer, outcomes) for _ in range(3)]
        wait_until("three writes queued", lambda: committer._queue.qsize() == 3)
        store.release.set()
        for t in threads:
            t.join(PATIENCE)
        assert len(outcomes) == 4
        assert all(isinstance(o, StoreUnavailable) for o in outcomes)
        assert store.attempts == [1]  # the queued three never had an attempt of their own

        store.away = False
        assert isinstance(committer.submit(one_event(), None), Appended)
        assert store.attempts == [1, 1]
    finally:
        store.release.set()
        committer.close()


def test_a_failure_that_is_not_an_outage_leaves_the_queued_writes_their_own_attempt() -> None:
    store = AwayStore()
    attempts = store.attempts

    def refuse_first(units: list[Unit]) -> None:
        attempts.append(len(units))
        store.entered.set()
        assert store.release.wait(PATIENCE)
        if len(attempts) == 1:
            raise ValueError("a bug in the first write alone")
        for unit in units:
            unit.result = Appended([])

    committer = GroupCommitter(refuse_first, "test-commit")
    try:
        outcomes: list[BaseException | Appended] = []
        threads = [submit_in_thread(committer, outcomes)]
        assert store.entered.wait(PATIENCE)
        threads += [submit_in_thread(committer, outcomes) for _ in range(2)]
        wait_until("two writes queued", lambda: committer._queue.qsize() == 2)
        store.release.set()
        for t in threads:
            t.join(PATIENCE)
        assert sorted(type(o).__name__ for o in outcomes) == ["Appended", "Appended",
                                                              "ValueError"]
    finally:
        store.release.set()
        committer.close()


@pytest.mark.parametrize("away", [True, False])
def test_closing_stops_the_committer_whatever_the_last_outcome(away: bool) -> None:
    store = AwayStore()
    store.away = away
    store.release.set()
    committer = GroupCommitter(store.commit, "test-commit")
    with pytest.raises(StoreUnavailable) if away else contextlib.nullcontext():
        committer.submit(one_event(), None)
    committer.close()
    assert not committer._thread.is_alive()
