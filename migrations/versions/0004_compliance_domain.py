"""The compliance-grade domain (SPEC §2 v2): snapshots are dropped, the deal read models
are emptied to be rebuilt from the log, and the portfolio counts recoveries.

No stored event, hash or position changes. Snapshots are caches whose state v2 reads
differently; the deals, portfolio, exposure and audit read models derive what v2 derives
(a claim-paid guarantee is ``claimed``), so the projection runner rebuilds them from
position 0 at the next start. The Merkle tree depends on the hashes alone and stays.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")
REBUILT = ("deals", "portfolio", "exposure", "audit")
TABLES = ("deals", "deal_categories", "portfolio_figures", "portfolio_states",
          "exposure_postings", "exposure_balances", "exposure_states", "audit_entries")


def upgrade() -> None:
    op.execute("DELETE FROM ledger_snapshots")
    for table in TABLES:
        for slot in SLOTS:
            op.execute(f"DELETE FROM {table}_{slot}")
    names = ", ".join(f"'{name}'" for name in REBUILT)
    op.execute(f"DELETE FROM projection_positions WHERE name IN ({names})")
    for slot in SLOTS:
        # the tables are empty: the default only satisfies SQLite's rule for NOT NULL columns
        op.add_column(f"portfolio_figures_{slot}",
                      sa.Column("recovered", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    for slot in SLOTS:
        with op.batch_alter_table(f"portfolio_figures_{slot}") as batch:
            batch.drop_column("recovered")
