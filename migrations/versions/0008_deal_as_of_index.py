"""A deal's version as of a moment is one descent of an index on (deal, recorded_at,
version), not a walk over every event of the deal.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ledger_events_deal_recorded_at_idx", "ledger_events",
                    ["originator_id", "recorded_at", "originator_version"])


def downgrade() -> None:
    op.drop_index("ledger_events_deal_recorded_at_idx", "ledger_events")
