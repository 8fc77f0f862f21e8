"""Refusals on record (issue 19): each write refused to an authenticated key, stored
outside the event log, once per request (``service.refusals``). The table starts empty;
nothing else changes.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_refusals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True),
        sa.Column("deal_id", sa.String(36), nullable=True),
        sa.Column("application_number", sa.String(200), nullable=True),
        sa.Column("event_type", sa.String(64), nullable=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("policy_version", sa.String(200), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=True),
    )
    for column in ("recorded_at", "code", "actor"):
        op.create_index(f"ix_ledger_refusals_{column}", "ledger_refusals", [column])


def downgrade() -> None:
    op.drop_table("ledger_refusals")
