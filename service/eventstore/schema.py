"""The event store's tables as SQLAlchemy Core describes them. Revision 0001 creates them
and the recorders query them in raw SQL; these definitions let alembic compare the
migrated database with the code.

Events and snapshots keep the eventsourcing library's layout, which differs by dialect:
ids are ``uuid`` on PostgreSQL and hex ``TEXT`` on SQLite, versions ``bigint`` and
``INTEGER``, times ``timestamptz`` and ``TEXT``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ID = sa.Uuid().with_variant(sa.Text(), "sqlite")
_VERSION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# On SQLite the rowid is the notification id: this column and its index exist on
# PostgreSQL only, as (kind, name) for alembic's comparison to leave out elsewhere.
POSTGRES_ONLY = frozenset({("column", "notification_id"),
                           ("index", "ledger_events_notification_id_idx")})

events = sa.Table(
    "ledger_events",
    metadata,
    sa.Column("originator_id", _ID, primary_key=True),
    sa.Column("originator_version", _VERSION, primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("notification_id", sa.BigInteger, nullable=False),  # a bigserial
    sa.Column("recorded_at", sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite"),
              nullable=False),
    sa.Index("ledger_events_notification_id_idx", "notification_id", unique=True),
    # finds the last event recorded by a moment (time travel) without scanning the log
    sa.Index("ledger_events_recorded_at_idx", "recorded_at"),
    # a deal's version as of a moment, in one descent (GET /v1/deals/{id}?as_of=)
    sa.Index("ledger_events_deal_recorded_at_idx", "originator_id", "recorded_at",
             "originator_version"),
)

snapshots = sa.Table(
    "ledger_snapshots",
    metadata,
    sa.Column("originator_id", _ID, primary_key=True),
    sa.Column("originator_version", _VERSION, primary_key=True),
    sa.Column("topic", sa.Text),
    sa.Column("state", sa.LargeBinary),
    sqlite_with_rowid=False,
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("location", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Guards (CONVENTIONS 5): rows that make rules across deals exact, written in the commit's
# transaction with the events they guard; not events, rebuilt from the log by ``migrate``
# and ``import``. A guard has a version (every write that changes it moves it on) and a
# total; its members are rows under it (e.g. one approval per deal of a buyer).
guards = sa.Table(
    "ledger_guards",
    metadata,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("total", sa.String(32), nullable=False),
)

guard_members = sa.Table(
    "ledger_guard_members",
    metadata,
    sa.Column("guard", sa.String(300), primary_key=True),
    sa.Column("member", sa.String(64), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
)
