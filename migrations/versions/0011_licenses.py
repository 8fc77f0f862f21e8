"""Licenses as a read model (SPEC v3: ``GET /v1/licenses/{number}``) and each deal's
license status as a filter column.

``licenses_a``/``licenses_b`` belong to the ``deals`` projection: one row per approved
license per deal (a number two deals hold, approved before v3, has a row on each).
``deals_a``/``deals_b`` gain ``license_status``. Snapshots and the projections' stored
deal states are caches of a fold that v3 part 2 extends (the end user, screenings, the
licenses' consignee and lines): they are dropped and folded again from the log. The deals
and portfolio read models show that fold (new license statuses ``expired`` and
``partially_approved``, their stages): they are emptied with the new tables, and the
projection runner rebuilds them from position 0 at the next start. The exposure and
audit read models and the Merkle tree do not change.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")
REBUILT = ("deals", "portfolio")
REBUILT_TABLES = ("deals", "deal_categories", "portfolio_figures", "portfolio_checkpoints")


def _licenses_table(slot: str) -> None:
    op.create_table(
        f"licenses_{slot}",
        sa.Column("license_number", sa.String(200), primary_key=True),
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("approved_position", sa.BigInteger, nullable=False),
        sa.Column("application_ref", sa.String(200), nullable=False),
        sa.Column("valid_until", sa.String(10), nullable=False),
        sa.Column("revoked_from", sa.String(10), nullable=True),
        sa.Column("license", sa.Text, nullable=False),
    )
    op.create_index(f"ix_licenses_{slot}_deal_id", f"licenses_{slot}", ["deal_id"])
    op.create_index(f"ix_licenses_{slot}_approved_position", f"licenses_{slot}",
                    ["approved_position"])


def upgrade() -> None:
    op.execute("DELETE FROM ledger_snapshots")
    op.execute("DELETE FROM projection_deal_states")
    for table in REBUILT_TABLES:
        for slot in SLOTS:
            op.execute(f"DELETE FROM {table}_{slot}")
    names = ", ".join(f"'{name}'" for name in REBUILT)
    op.execute(f"DELETE FROM projection_positions WHERE name IN ({names})")
    # the tables are empty: a NOT NULL column needs no default (SQLite adds one only by
    # copying the table)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for slot in SLOTS:
        with op.batch_alter_table(f"deals_{slot}",
                                  recreate="always" if sqlite else "auto") as batch:
            batch.add_column(sa.Column("license_status", sa.String(32), nullable=False))
        op.create_index(f"ix_deals_{slot}_license_status", f"deals_{slot}", ["license_status"])
        _licenses_table(slot)


def downgrade() -> None:
    """The deals read model comes back empty: rebuild it after downgrading."""
    for slot in SLOTS:
        op.drop_table(f"licenses_{slot}")
        op.drop_index(f"ix_deals_{slot}_license_status", f"deals_{slot}")
        op.execute(f"DELETE FROM deals_{slot}")
        with op.batch_alter_table(f"deals_{slot}") as batch:
            batch.drop_column("license_status")
    op.execute("DELETE FROM projection_positions WHERE name = 'deals'")
