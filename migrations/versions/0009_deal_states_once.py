"""Each deal's state stored once for the read models folded from it, without its history:
``projection_deal_states`` replaces the ``state`` column of ``deals_a``/``deals_b`` and the
tables ``exposure_states_*`` and ``portfolio_states_*``; ``projection_money_events`` holds
each money event's effects, read when a reversal names it.

Both start empty: the runner folds a deal's state from its events in the log the first
time a batch touches it and finds no stored state at the version it needs, and records
the deal's money events on the way, so a ledger from before this revision goes on
projecting, and a disbursement posted before it can still be reversed.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")


def _states_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "projection_deal_states",
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("applied_position", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "projection_money_events",
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("effects", sa.Text, nullable=False),
        sa.Column("reversed", sa.Boolean, nullable=False),
    )
    for slot in SLOTS:
        with op.batch_alter_table(f"deals_{slot}") as batch:
            batch.drop_column("state")
        op.drop_table(f"exposure_states_{slot}")
        op.drop_table(f"portfolio_states_{slot}")


def downgrade() -> None:
    """The old tables come back empty: rebuild the projections after downgrading."""
    for slot in SLOTS:
        _states_table(f"portfolio_states_{slot}")
        _states_table(f"exposure_states_{slot}")
        with op.batch_alter_table(f"deals_{slot}") as batch:
            batch.add_column(sa.Column("state", sa.Text, nullable=False, server_default="{}"))
    op.drop_table("projection_money_events")
    op.drop_table("projection_deal_states")
