"""Event store, snapshots, API keys, idempotency keys.

The event tables keep the eventsourcing library's layout (its recorders read
them) plus ``recorded_at``; ``state`` is plain UTF-8 JSON.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_event_store()
    else:
        _sqlite_event_store()

    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def _postgres_event_store() -> None:
    op.execute(
        "CREATE TABLE ledger_events ("
        " originator_id uuid NOT NULL,"
        " originator_version bigint NOT NULL,"
        " topic text NOT NULL,"
        " state bytea NOT NULL,"
        " notification_id bigserial NOT NULL,"
        " recorded_at timestamptz NOT NULL,"
        " PRIMARY KEY (originator_id, originator_version))"
    )
    op.execute(
        "CREATE UNIQUE INDEX ledger_events_notification_id_idx"
        " ON ledger_events (notification_id ASC)"
    )
    op.execute(
        "CREATE TABLE ledger_snapshots ("
        " originator_id uuid NOT NULL,"
        " originator_version bigint NOT NULL,"
        " topic text,"
        " state bytea,"
        " PRIMARY KEY (originator_id, originator_version))"
    )
    # The library's snapshot recorder inserts through this composite type.
    op.execute(
        "CREATE TYPE stored_event_uuid AS (originator_id uuid, originator_version bigint,"
        " topic text, state bytea)"
    )


def _sqlite_event_store() -> None:
    # A rowid table: the rowid is the notification id (position).
    op.execute(
        "CREATE TABLE ledger_events ("
        " originator_id TEXT NOT NULL,"
        " originator_version INTEGER NOT NULL,"
        " topic TEXT NOT NULL,"
        " state BLOB NOT NULL,"
        " recorded_at TEXT NOT NULL,"
        " PRIMARY KEY (originator_id, originator_version))"
    )
    op.execute(
        "CREATE TABLE ledger_snapshots ("
        " originator_id TEXT,"
        " originator_version INTEGER,"
        " topic TEXT,"
        " state BLOB,"
        " PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("api_keys")
    op.drop_table("ledger_snapshots")
    op.drop_table("ledger_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE stored_event_uuid")
