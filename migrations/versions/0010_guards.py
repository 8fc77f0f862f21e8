"""Guards: the rows that keep the rules across deals exact (SPEC v3: the program's limits
and congressional notice), written in the commit's transaction with the events they guard.

Both tables start empty; ``exim-ledger migrate`` fills them from the log after upgrading
(and ``import`` after importing). Snapshots and the projections' stored deal states are
caches of a fold that v3 extends (the meeting dates, what an approval covered, the
notice, the policy at financing): they are dropped and folded again from the log. The
deals and portfolio read models show that fold (a deal's view gains what its approval
covered; an approval amended beyond it is ``board_stale``): they are emptied, and the
projection runner rebuilds them from position 0 at the next start. The exposure and
audit read models and the Merkle tree do not change.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")
REBUILT = ("deals", "portfolio")
REBUILT_TABLES = ("deals", "deal_categories", "portfolio_figures", "portfolio_checkpoints")


def upgrade() -> None:
    op.create_table(
        "ledger_guards",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("total", sa.String(32), nullable=False),
    )
    op.create_table(
        "ledger_guard_members",
        sa.Column("guard", sa.String(300), primary_key=True),
        sa.Column("member", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.execute("DELETE FROM ledger_snapshots")
    op.execute("DELETE FROM projection_deal_states")
    for table in REBUILT_TABLES:
        for slot in SLOTS:
            op.execute(f"DELETE FROM {table}_{slot}")
    names = ", ".join(f"'{name}'" for name in REBUILT)
    op.execute(f"DELETE FROM projection_positions WHERE name IN ({names})")


def downgrade() -> None:
    op.drop_table("ledger_guard_members")
    op.drop_table("ledger_guards")
