"""The merkle read model: RFC 6962 leaves and complete subtree nodes over the global log
(slots a and b, like every projection).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SLOTS = ("a", "b")


def upgrade() -> None:
    for slot in SLOTS:
        leaves = f"merkle_leaves_{slot}"
        op.create_table(
            leaves,
            sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("position", sa.BigInteger, nullable=False, unique=True),
            sa.Column("event_id", sa.String(36), nullable=False, unique=True),
            sa.Column("deal_id", sa.String(36), nullable=False),
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("hash", sa.LargeBinary(32), nullable=False),
        )
        op.create_index(f"ix_{leaves}_deal_id", leaves, ["deal_id"])
    for slot in SLOTS:
        op.create_table(
            f"merkle_nodes_{slot}",
            sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
            sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("hash", sa.LargeBinary(32), nullable=False),
        )


def downgrade() -> None:
    for slot in SLOTS:
        op.drop_table(f"merkle_nodes_{slot}")
        op.drop_table(f"merkle_leaves_{slot}")
