"""The portfolio explorer (issue 19): the deals list searches text (``q``: the
application number, the buyer's and end user's names) and filters on business time (the
DealApplied's ``occurred_at``), the license-status view counts financed deals, and the
portfolio's figures sum the claims paid.

``deals_a``/``deals_b`` gain ``search_text``, ``occurred_at`` and ``financed``; the
portfolio's figures and checkpoints gain ``claims_paid``. A deal's state gains
``applied_occurred_at``, which a stored state or snapshot folded before this revision
lacks: both caches are dropped and folded again from the log. The deals read model (with
its categories and licenses) and the portfolio read model are emptied, and the projection
runner rebuilds them from position 0 at the next start; the exposure and audit read models
and the Merkle tree do not change.

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
EMPTIED = ("deals", "deal_categories", "licenses", "portfolio_figures",
           "portfolio_checkpoints")
REBUILT = ("deals", "portfolio")
COLUMNS = ("search_text", "occurred_at", "financed")
PORTFOLIO = ("portfolio_figures", "portfolio_checkpoints")


def _empty() -> None:
    for table in EMPTIED:
        for slot in SLOTS:
            op.execute(f"DELETE FROM {table}_{slot}")
    names = ", ".join(f"'{name}'" for name in REBUILT)
    op.execute(f"DELETE FROM projection_positions WHERE name IN ({names})")


def upgrade() -> None:
    op.execute("DELETE FROM ledger_snapshots")
    op.execute("DELETE FROM projection_deal_states")
    _empty()
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
        for table in PORTFOLIO:
            with op.batch_alter_table(f"{table}_{slot}",
                                      recreate="always" if sqlite else "auto") as batch:
                batch.add_column(sa.Column("claims_paid", sa.BigInteger, nullable=False))


def downgrade() -> None:
    """The deals and portfolio read models come back empty: rebuild them after
    downgrading."""
    _empty()
    for slot in SLOTS:
        for table in PORTFOLIO:
            with op.batch_alter_table(f"{table}_{slot}") as batch:
                batch.drop_column("claims_paid")
        op.drop_index(f"ix_deals_{slot}_occurred_at", f"deals_{slot}")
        with op.batch_alter_table(f"deals_{slot}") as batch:
            for column in COLUMNS:
                batch.drop_column(column)
