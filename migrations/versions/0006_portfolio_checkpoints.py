"""Time travel at scale: an index on the events' ``recorded_at``, and the portfolio's
checkpoints (its figures rows copied every so many positions, slots a and b).

Existing ledgers get empty checkpoint tables: an ``as_of`` read then folds from the
latest checkpoint there is (or the start of the log) until a rebuild fills them.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")
COUNTERS = ("deals", "requested", "approved", "committed", "disbursed", "outstanding",
            "exposure", "recovered", "item_value")


def upgrade() -> None:
    op.create_index("ledger_events_recorded_at_idx", "ledger_events", ["recorded_at"])
    for slot in SLOTS:
        op.create_table(
            f"portfolio_checkpoints_{slot}",
            sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("dimension", sa.String(16), primary_key=True),
            sa.Column("key", sa.String(32), primary_key=True),
            *(sa.Column(c, sa.BigInteger, nullable=False) for c in COUNTERS),
        )


def downgrade() -> None:
    for slot in SLOTS:
        op.drop_table(f"portfolio_checkpoints_{slot}")
    op.drop_index("ledger_events_recorded_at_idx", "ledger_events")
