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
