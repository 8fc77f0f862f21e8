"""The merkle read model: RFC 6962 leaves and complete subtree nodes over the global log
(slots a and b, like every projection).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from projections.merkle_log import MerkleProjection

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    MerkleProjection.schema.metadata.create_all(op.get_bind())


def downgrade() -> None:
    MerkleProjection.schema.metadata.drop_all(op.get_bind())
