"""The portfolio explorer (issue 19): the deals list searches text (``q``: the
application number, the buyer's and end user's names) and filters on business time (the
DealApplied's ``occurred_at``), and the license-status view counts financed deals.

``deals_a``/``deals_b`` gain ``search_text``, ``occurred_at`` and ``financed``. A deal's
state gains ``applied_occurred_at``, which a stored state or snapshot folded before this
revision lacks: both caches are dropped and folded again from the log. The deals read
model (with its categories and licenses) is emptied, and the projection runner rebuilds it
from position 0 at the next start; the portfolio, exposure and audit read models and the
Merkle tree do not change.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")
EMPTIED = ("deals", "deal_categories", "licenses")
COLUMNS = ("search_text", "occurred_at", "financed")


def _empty_deals() -> None:
    for table in EMPTIED:
        for slot in SLOTS:
            op.execute(f"DELETE FROM {table}_{slot}")
    op.execute("DELETE FROM projection_positions WHERE name = 'deals'")


def upgrade() -> None:
    op.execute("DELETE FROM ledger_snapshots")
    op.execute("DELETE FROM projection_deal_states")
    _empty_deals()
    # the tables are empty: a NOT NULL column needs no default (SQLite adds one only by
    # copying the table)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for slot in SLOTS:
        with op.batch_alter_table(f"deals_{slot}",
                                  recreate="always" if sqlite else "auto") as batch:
            batch.add_column(sa.Column("financed", sa.Boolean, nullable=False))
            batch.add_column(sa.Column("occurred_at", sa.String(32), nullable=False))
            batch.add_column(sa.Column("search_text", sa.Text, nullable=False))
        op.create_index(f"ix_deals_{slot}_occurred_at", f"deals_{slot}", ["occurred_at"])


def downgrade() -> None:
    """The deals read model comes back empty: rebuild it after downgrading."""
    _empty_deals()
    for slot in SLOTS:
        op.drop_index(f"ix_deals_{slot}_occurred_at", f"deals_{slot}")
        with op.batch_alter_table(f"deals_{slot}") as batch:
            for column in COLUMNS:
                batch.drop_column(column)
