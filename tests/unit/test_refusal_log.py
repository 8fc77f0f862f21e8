"""The refusal log's queue: bounded, and a refusal it cannot hold is counted, not lost
silently. No database: the writer is never started."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from service.refusals import MAX_DETAIL, Refusal, RefusalLog


def refusal(code: str = "version_conflict", detail: str = "stale") -> Refusal:
    return Refusal(datetime(2026, 1, 2, tzinfo=UTC), "writer-key", "writer", None, "r-1",
                   None, None, None, code, detail, None, None)


def test_a_refusal_offered_to_a_full_queue_is_dropped_and_counted():
    drops: list[tuple[str, int]] = []
    log = RefusalLog(sa.create_engine("sqlite://"), lambda *d: drops.append(d), capacity=2)
    assert [log.offer(refusal()) for _ in range(3)] == [True, True, False]
    assert drops == [("queue_full", 1)]


def test_a_refusal_keeps_the_head_of_a_long_detail_and_a_sortable_time():
    row = refusal(detail="x" * (MAX_DETAIL + 10)).row()
    assert len(row["detail"]) == MAX_DETAIL
    assert row["recorded_at"] == "2026-01-02T00:00:00.000000Z"


def test_a_flush_with_nothing_queued_returns_at_once():
    log = RefusalLog(sa.create_engine("sqlite://"), lambda *d: None)
    assert log.flush(0)


def test_the_writer_fills_in_the_policy_in_force_when_the_request_could_not_tell():
    asked: list[datetime] = []

    def policy_at(moment: datetime) -> str:
        asked.append(moment)
        return "2026-11-30"

    log = RefusalLog(sa.create_engine("sqlite://"), lambda *d: None, policy_at=policy_at)
    assert log._completed(refusal()).policy_version == "2026-11-30"
    assert asked == [datetime(2026, 1, 2, tzinfo=UTC)], "the policy at the refusal's moment"
    known = Refusal(**{**refusal().__dict__, "policy_version": "2025-05-13"})
    assert log._completed(known).policy_version == "2025-05-13", "a known version stays"


def test_a_policy_that_cannot_be_read_leaves_the_refusal_as_it_is():
    def policy_at(moment: datetime) -> str:
        raise LookupError(f"no policy in force at {moment}")

    log = RefusalLog(sa.create_engine("sqlite://"), lambda *d: None, policy_at=policy_at)
    assert log._completed(refusal()).policy_version is None
