"""The deals list filtered by country reads its page from one index, (country,
applied_position), in list order; it replaces the index on country alone.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")


def upgrade() -> None:
    for slot in SLOTS:
        op.drop_index(f"ix_deals_{slot}_country", f"deals_{slot}")
        op.create_index(f"ix_deals_{slot}_country_applied_position", f"deals_{slot}",
                        ["country", "applied_position"])


def downgrade() -> None:
    for slot in SLOTS:
        op.drop_index(f"ix_deals_{slot}_country_applied_position", f"deals_{slot}")
        op.create_index(f"ix_deals_{slot}_country", f"deals_{slot}", ["country"])
