"""The event store: the eventsourcing library's native recorders, extended with in-lock
stamping of ``recorded_at`` and the hash chain, group commit and idempotency bindings."""

from __future__ import annotations

from service.eventstore.postgres import PostgresLedgerRecorder
from service.eventstore.sqlite import SQLiteLedgerRecorder

LedgerRecorder = PostgresLedgerRecorder | SQLiteLedgerRecorder
__all__ = ["LedgerRecorder", "PostgresLedgerRecorder", "SQLiteLedgerRecorder"]
