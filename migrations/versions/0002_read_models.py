"""Read models: projection positions and the deals, portfolio, exposure and audit tables
(each in two slots, a and b, so a rebuild can swap a fresh copy in atomically).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")
DEAL_MONEY = ("requested", "approved", "committed", "disbursed", "outstanding", "undisbursed",
              "exposure")
PORTFOLIO_COUNTERS = ("deals", "requested", "approved", "committed", "disbursed",
                      "outstanding", "exposure", "item_value")


def _deal_categories(table: str) -> None:
    op.create_table(
        table,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("item_value", sa.BigInteger, nullable=False),
    )
    _index(table, "category")


def _deals(table: str) -> None:
    op.create_table(
        table,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("application_number", sa.String(32), nullable=False),
        sa.Column("applied_position", sa.BigInteger, nullable=False, unique=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("term", sa.String(16), nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in DEAL_MONEY),
        sa.Column("view", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    _index(table, "stage", "country", "instrument", "term")


def _portfolio_figures(table: str) -> None:
    op.create_table(
        table,
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in PORTFOLIO_COUNTERS),
    )


def _exposure_balances(table: str) -> None:
    op.create_table(
        table,
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("debit", sa.BigInteger, nullable=False),
        sa.Column("credit", sa.BigInteger, nullable=False),
    )


def _exposure_postings(table: str) -> None:
    op.create_table(
        table,
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("entry", sa.Integer, primary_key=True),
        sa.Column("deal_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("debit", sa.BigInteger, nullable=False),
        sa.Column("credit", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
    )
    _index(table, "deal_id", "account")


def _audit_entries(table: str) -> None:
    op.create_table(
        table,
        # A lone integer primary key: PostgreSQL makes it a bigserial.
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("deal_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("correlation_id", sa.String(200)),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    _index(table, "deal_id", "type", "actor", "recorded_at")


def _deal_states(table: str) -> None:
    op.create_table(
        table,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )


def _index(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


SLOTTED_TABLES: dict[str, Callable[[str], None]] = {
    "deal_categories": _deal_categories,
    "deals": _deals,
    "portfolio_figures": _portfolio_figures,
    "portfolio_states": _deal_states,
    "exposure_balances": _exposure_balances,
    "exposure_postings": _exposure_postings,
    "exposure_states": _deal_states,
    "audit_entries": _audit_entries,
}


def upgrade() -> None:
    op.create_table(
        "projection_positions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("slot", sa.String(1), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    for name, create in SLOTTED_TABLES.items():
        for slot in SLOTS:
            create(f"{name}_{slot}")


def downgrade() -> None:
    for name in reversed(SLOTTED_TABLES):
        for slot in SLOTS:
            op.drop_table(f"{name}_{slot}")
    op.drop_table("projection_positions")
