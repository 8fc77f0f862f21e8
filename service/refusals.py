"""Refusals on record (issue 19): each write refused to an authenticated key, kept outside
the event log in ``ledger_refusals``.

A refusal is offered to a bounded in-process queue and written by one background thread,
in small batches: the request that was refused never waits for the database. A full queue
or a failed write drops the refusal and says so (``on_drop``), never silently and never in
the answer. ``flush`` waits for what was offered before it to be written: the read of the
refusals offers read-your-writes within one process by calling it first.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.chain import format_timestamp

logger = logging.getLogger("exim_ledger.refusals")
metadata = sa.MetaData()
refusals = sa.Table(
    "ledger_refusals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", sa.String(32), nullable=False),  # format_timestamp: sortable
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("source", sa.String(200)),
    sa.Column("request_id", sa.String(200)),
    sa.Column("deal_id", sa.String(36)),
    sa.Column("application_number", sa.String(200)),
    sa.Column("event_type", sa.String(64)),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("policy_version", sa.String(200)),
    sa.Column("body_sha256", sa.String(64)),
    sa.Index("ix_ledger_refusals_recorded_at", "recorded_at"),
    sa.Index("ix_ledger_refusals_code", "code"),
    sa.Index("ix_ledger_refusals_actor", "actor"),
)
FIELDS = ("recorded_at", "actor", "role", "source", "request_id", "deal_id",
          "application_number", "event_type", "code", "detail", "policy_version",
          "body_sha256")
MAX_DETAIL = 4000  # a detail may echo what was posted: the record keeps its head
BATCH = 200
Dropped = Callable[[str, int], None]  # (reason, how many)


@dataclass(frozen=True)
class Refusal:
    recorded_at: datetime
    actor: str
    role: str
    source: str | None
    request_id: str | None
    deal_id: str | None
    application_number: str | None
    event_type: str | None
    code: str
    detail: str
    policy_version: str | None
    body_sha256: str | None

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row["recorded_at"] = format_timestamp(self.recorded_at)
        row["detail"] = self.detail[:MAX_DETAIL]
        for name, column in refusals.c.items():
            limit = getattr(column.type, "length", None)
            if limit and isinstance(row.get(name), str):
                row[name] = row[name][:limit]
        return row


class RefusalLog:
    """The queue and its writer thread; ``start`` and ``close`` belong to the app's
    lifespan."""

    def __init__(self, engine: sa.Engine, on_drop: Dropped, capacity: int = 1000,
                 policy_at: Callable[[datetime], str] | None = None) -> None:
        self.engine = engine
        self.on_drop = on_drop
        # the policy in force at a moment, for a refusal whose request could not tell it
        # without reading the store (which the answer never waits for): the writer reads it
        self.policy_at = policy_at
        self._queue: queue.Queue[Refusal | None] = queue.Queue(maxsize=capacity)
        self._done = threading.Condition()
        self._offered = 0  # refusals queued so far, in queue order
        self._handled = 0  # of those, written or dropped by the writer
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="refusal-writer", daemon=True)
        self._thread.start()

    def offer(self, refusal: Refusal) -> bool:
        """Queue ``refusal``; False (and counted as dropped) when the queue is full."""
        with self._done:  # the count and the queue keep one order
            try:
                self._queue.put_nowait(refusal)
            except queue.Full:
                dropped = True
            else:
                dropped = False
                self._offered += 1
        if dropped:
            self.on_drop("queue_full", 1)
        return not dropped

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every refusal queued before this call to be
        written (or dropped); whether they all were."""
        with self._done:
            target = self._offered
            return self._done.wait_for(lambda: self._handled >= target, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (within ``timeout``), then stop the writer."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            logger.warning("refusal queue still full at shutdown")
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[Refusal] = []
            item = self._queue.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if batch:
                self._write(batch)

    def _completed(self, refusal: Refusal) -> Refusal:
        if refusal.policy_version is not None or self.policy_at is None:
            return refusal
        try:
            return replace(refusal, policy_version=self.policy_at(refusal.recorded_at))
        except Exception:  # no policy in force then, or the store is down: stored without
            logger.debug("no policy version for a refusal", exc_info=True)
            return refusal

    def _write(self, batch: list[Refusal]) -> None:
        try:
            rows = [self._completed(refusal).row() for refusal in batch]
            with self.engine.begin() as conn:
                conn.execute(refusals.insert(), rows)
        except Exception:  # the store is not the answer: count, log and go on
            logger.warning("%d refusal(s) not stored", len(batch), exc_info=True)
            self.on_drop("store_failed", len(batch))
        finally:
            with self._done:
                self._handled += len(batch)
                self._done.notify_all()


def query(conn: sa.Connection, *, after: int = 0, limit: int = 100, code: str | None = None,
          actor: str | None = None, event_type: str | None = None,
          recorded_from: str | None = None, recorded_to: str | None = None
          ) -> list[dict[str, Any]]:
    """Refusals in the order they were stored, after the cursor ``after``; each with its
    ``id`` (the next cursor) and ``FIELDS``."""
    t = refusals.c
    select = sa.select(t.id, *(t[name] for name in FIELDS)).where(t.id > after)
    for column, value in ((t.code, code), (t.actor, actor), (t.event_type, event_type)):
        if value is not None:
            select = select.where(column == value)
    if recorded_from is not None:
        select = select.where(t.recorded_at >= recorded_from)
    if recorded_to is not None:
        select = select.where(t.recorded_at <= recorded_to)
    rows = conn.execute(select.order_by(t.id).limit(limit))
    return [dict(row._mapping) for row in rows]
